"""Where a value that an activation fix changes is read, and whether every read is safe.

Removing a softmax or sigmoid changes a value: the activation's result and, when that is a
model's output, every call of the model. `OutputUses` follows the value through one file
(names, returns, tuple elements, model instances, wrappers, function parameters) and
accepts the fix only when every read is the loss the fix is about or one the change cannot
affect (an `argmax` along the activation's dimension, a shape, a discarded result).
Anything else (a threshold, `round()`, `log`, a metric, a print, an unknown function, a
model with no caller in the file) refuses the fix: a refused fix is a finding left for the
user, a wrong one is a broken program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import libcst as cst

# The losses whose input a fix may change, by the kind of fix.
LOSS_CLASSES = {
    "ce": frozenset({"CrossEntropyLoss"}),
    "bce_logits": frozenset({"BCEWithLogitsLoss"}),
    "bce": frozenset({"BCELoss"}),
}
LOSS_FUNCTIONS = {
    "ce": frozenset({"cross_entropy"}),
    "bce_logits": frozenset({"binary_cross_entropy_with_logits"}),
    "bce": frozenset({"binary_cross_entropy"}),
}
ACTIVATION_CLASSES = frozenset({"Softmax", "LogSoftmax", "Sigmoid"})
FUNCTIONAL_MODULES = frozenset(
    {"torch", "F", "nn.functional", "torch.nn.functional", "functional", "torch.special"}
)
# Methods that return the same values reshaped, moved or detached.
_PASS_THROUGH = frozenset(
    {
        "squeeze",
        "unsqueeze",
        "view",
        "reshape",
        "flatten",
        "float",
        "double",
        "detach",
        "cpu",
        "cuda",
        "to",
        "contiguous",
        "clone",
        "view_as",
        "reshape_as",
    }
)
# Reads that do not depend on the values: shape, device, type.
_VALUE_FREE = frozenset({"shape", "size", "dim", "ndim", "device", "dtype", "numel"})
# Methods on a model that return the model itself.
_SAME_MODEL = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_"}
)
# Calls that wrap a model and call it unchanged.
_WRAPPERS = frozenset({"compile", "DataParallel", "DistributedDataParallel"})
# Trainer methods that run the model's own *_step methods (which this file shows).
_TRAINER_RUNS = frozenset({"fit", "validate", "test"})
_FORWARD = frozenset({"forward", "__call__", "call"})
_MAX_STEPS = 400


def dotted(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def last_name(node: cst.CSTNode) -> str | None:
    """The final name of a callee: `nn.Softmax` -> Softmax."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


@dataclass(frozen=True)
class Change:
    """What a fix changes: the kind of loss it is about (`ce`, `bce_logits`, `bce`), the
    activation (`softmax`, `log_softmax`, `sigmoid`) and its dimension as written, and for
    `bce` the positions of the loss names the fix renames."""

    loss: str
    activation: str
    dim: str | None
    renamed: frozenset[tuple[int, int]] = frozenset()


class OutputUses:
    """The reads of changed values in one module."""

    def __init__(
        self,
        module: cst.Module,
        parents: Mapping[cst.CSTNode, cst.CSTNode],
        positions: Mapping[cst.CSTNode, object],
    ) -> None:
        self.module = module
        self.parents = parents
        self.positions = positions
        self.bindings: dict[str, list[cst.BaseExpression]] = {}
        self.names: dict[str, list[cst.CSTNode]] = {}
        self.functions: dict[str, list[cst.FunctionDef]] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.calls: list[cst.Call] = []
        for node in _walk(module):
            self._index(node)

    def _index(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Assign):
            for target in node.targets:
                self._bind(target.target, node.value)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            self._bind(node.target, node.value)
        elif isinstance(node, cst.Name | cst.Attribute):
            name = dotted(node)
            if name is not None:
                self.names.setdefault(name, []).append(node)
        elif isinstance(node, cst.FunctionDef):
            self.functions.setdefault(node.name.value, []).append(node)
        elif isinstance(node, cst.ClassDef):
            self.classes[node.name.value] = node
        if isinstance(node, cst.Call):
            self.calls.append(node)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        name = dotted(target)
        if name is not None:
            self.bindings.setdefault(name, []).append(value)

    # -- positions and scopes --------------------------------------------------------
    def start(self, node: cst.CSTNode) -> tuple[int, int]:
        start = self.positions[node].start  # type: ignore[attr-defined]
        return start.line, start.column

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def function_of(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        return next((a for a in self.ancestors(node) if isinstance(a, cst.FunctionDef)), None)

    def class_of(self, node: cst.CSTNode) -> cst.ClassDef | None:
        return next((a for a in self.ancestors(node) if isinstance(a, cst.ClassDef)), None)

    def within(self, node: cst.CSTNode, scope: cst.CSTNode | None) -> bool:
        return scope is None or any(a is scope for a in self.ancestors(node))

    def loads(self, name: str, scope: cst.CSTNode | None) -> list[cst.CSTNode]:
        """Reads of a name (or `self.x`) within a scope (None: the whole module)."""
        return [
            n
            for n in self.names.get(name, [])
            if self.within(n, scope) and not self._is_target(n) and not self._is_attr_name(n)
        ]

    def _is_attr_name(self, node: cst.CSTNode) -> bool:
        """Names that are not reads of a variable: `fc` in `model.fc`, a parameter, a
        keyword argument's name, a definition's or an import's name."""
        parent = self.parents.get(node)
        if isinstance(parent, cst.Attribute):
            return parent.attr is node
        if isinstance(parent, cst.Param | cst.FunctionDef | cst.ClassDef):
            return parent.name is node
        if isinstance(parent, cst.Arg):
            return parent.keyword is node
        return isinstance(parent, cst.ImportAlias | cst.AsName | cst.NameItem)

    def _is_target(self, node: cst.CSTNode) -> bool:
        child, parent = node, self.parents.get(node)
        while isinstance(parent, cst.Element | cst.Tuple | cst.List | cst.StarredElement):
            child, parent = parent, self.parents.get(parent)
        targets = (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor)
        return isinstance(parent, targets) and getattr(parent, "target", None) is child

    # -- the analysis ----------------------------------------------------------------
    def safe(self, origin: cst.CSTNode, change: Change, *, model: bool) -> set[str] | None:
        """The module-level names through which the change leaves this file when every
        read of `origin`'s changed value in it is safe, else None. `model`: `origin` is a
        model (a Sequential whose last layer goes), so its calls carry the change."""
        walk = _Walk(self, change)
        try:
            ok = walk.handle(origin) if model else walk.value(origin, None)
        except RecursionError:  # reads nested too deeply to follow: refuse
            return None
        if model and not walk.model_uses:
            return None
        renamed_calls = [
            call
            for call in self.calls
            if change.renamed
            and last_name(call.func) not in LOSS_CLASSES["bce"]  # not the constructor
            and walk.may_be_renamed(call.func)
        ]
        if not all(call in walk.loss_calls for call in renamed_calls):
            return None  # the renamed loss also takes inputs the fix does not change
        return walk.exported if ok and walk.steps <= _MAX_STEPS else None


class _Walk:
    """One search over the reads of a changed value, with a step budget."""

    def __init__(self, uses: OutputUses, change: Change) -> None:
        self.uses = uses
        self.change = change
        self.steps = 0
        self.seen: set[tuple[int, int | None, bool]] = set()
        # Module-level names (classes, functions, variables) through which the change
        # reaches other modules that import them.
        self.exported: set[str] = set()
        # Calls of a changed model found: none means it is used only elsewhere.
        self.model_uses = 0
        # The loss calls that read the changed value.
        self.loss_calls: set[cst.Call] = set()

    def _first_visit(self, node: cst.CSTNode, element: int | None, handle: bool) -> bool:
        """True the first time a (node, element) is followed; a cycle is checked once.
        Every step counts against the budget, which `OutputUses.safe` checks."""
        key = (id(node), element, handle)
        self.steps += 1
        if key in self.seen or self.steps > _MAX_STEPS:
            return False
        self.seen.add(key)
        return True

    # -- values ----------------------------------------------------------------------
    def value(self, node: cst.CSTNode, element: int | None) -> bool:
        """Every read of the value `node` computes (element `element` of it, when it is a
        tuple) is safe."""
        if not self._first_visit(node, element, False):
            return True
        parent = self.uses.parents.get(node)
        if element is not None:
            return self._element(node, parent, element)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            return self._attribute(parent)
        if isinstance(parent, cst.Subscript) and parent.value is node:
            return self.value(parent, None)
        if isinstance(parent, cst.IfExp) and parent.test is not node:
            return self.value(parent, None)
        if isinstance(parent, cst.Element):
            holder = self.uses.parents.get(parent)
            if isinstance(holder, cst.Tuple):
                return self.value(holder, holder.elements.index(parent))
            return False
        if isinstance(parent, cst.Arg) and parent.value is node:
            return self._argument(parent)
        if isinstance(parent, cst.Assign | cst.AnnAssign) and parent.value is node:
            return self._assigned(parent, None)
        if isinstance(parent, cst.Return):
            return self._returned(parent, None)
        return isinstance(parent, cst.Expr)

    def _element(self, node: cst.CSTNode, parent: cst.CSTNode | None, element: int) -> bool:
        if isinstance(parent, cst.Subscript) and parent.value is node:
            index = _constant_index(parent)
            return index is not None and (index != element or self.value(parent, None))
        if isinstance(parent, cst.Assign | cst.AnnAssign) and parent.value is node:
            return self._assigned(parent, element)
        if isinstance(parent, cst.Return):
            return self._returned(parent, element)
        return isinstance(parent, cst.Expr)

    def _attribute(self, attribute: cst.Attribute) -> bool:
        name = attribute.attr.value
        call = self.uses.parents.get(attribute)
        if name in _VALUE_FREE:
            return True
        if name == "data":
            return self.value(attribute, None)
        if not isinstance(call, cst.Call) or call.func is not attribute:
            return False
        if name in _PASS_THROUGH:
            return self.value(call, None)
        if name == "argmax":
            return self._same_dim(dim_of(call, 0))
        if name == "max":
            return self._max_indices(call, dim_of(call, 0))
        return False

    def _argument(self, arg: cst.Arg) -> bool:
        call = self.uses.parents[arg]
        if not isinstance(call, cst.Call) or arg.star:
            return False
        position = call.args.index(arg)
        first = (position == 0 and arg.keyword is None) or _keyword(arg) == "input"
        name = last_name(call.func)
        module = dotted(call.func.value) if isinstance(call.func, cst.Attribute) else None
        if first and self._is_loss(call.func):
            self.loss_calls.add(call)
            return True
        if first and name == "argmax" and module in {"torch", None}:
            return self._same_dim(dim_of(call, 1))
        if first and name == "max" and module == "torch":
            return self._max_indices(call, dim_of(call, 1))
        if name in {"len"} and isinstance(call.func, cst.Name):
            return True
        return self._into_function(call, arg, lambda read: self.value(read, None))

    def _assigned(self, assign: cst.Assign | cst.AnnAssign, element: int | None) -> bool:
        targets = (
            [t.target for t in assign.targets]
            if isinstance(assign, cst.Assign)
            else [assign.target]
        )
        scope = self.uses.function_of(assign)
        for target in targets:
            if element is not None and isinstance(target, cst.Tuple | cst.List):
                if any(isinstance(e, cst.StarredElement) for e in target.elements):
                    return False
                if element >= len(target.elements):
                    return False
                target = target.elements[element].value
                if isinstance(target, cst.Name) and target.value == "_":
                    continue
                if not self._name_reads(target, scope, None):
                    return False
            elif not self._name_reads(target, scope, element):
                return False
        return True

    def _name_reads(
        self, target: cst.BaseExpression, scope: cst.CSTNode | None, element: int | None
    ) -> bool:
        name = dotted(target)
        if name is None:
            return False
        if scope is None and isinstance(target, cst.Name):
            self.exported.add(name)
        where = scope if isinstance(target, cst.Name) else None
        reads = self.uses.loads(name, where)
        if not reads and scope is None:
            return False  # a module-level value nothing here reads is read elsewhere
        return all(self.value(read, element) for read in reads)

    def _returned(self, ret: cst.Return, element: int | None) -> bool:
        function = self.uses.function_of(ret)
        if function is None:
            return False
        owner = self.uses.class_of(function)
        if function.name.value in _FORWARD and owner is not None:
            calls = self.model_calls(owner)
            return bool(calls) and all(self.value(c, element) for c in calls)
        callers = self._callers(function, owner is not None)
        if owner is None:
            self.exported.add(function.name.value)
        return bool(callers) and all(self.value(c, element) for c in callers)

    def _callers(self, function: cst.FunctionDef, method: bool) -> list[cst.Call]:
        name = function.name.value
        found = []
        for call in self.uses.calls:
            func = call.func
            kind = cst.Attribute if method else cst.Name
            if isinstance(func, kind) and last_name(func) == name:
                found.append(call)
        return found

    def _into_function(
        self, call: cst.Call, arg: cst.Arg, follow: Callable[[cst.CSTNode], bool]
    ) -> bool:
        """A value passed to a function of this module: follow the parameter's reads."""
        if not isinstance(call.func, cst.Name):
            return False
        functions = self.uses.functions.get(call.func.value, [])
        if len(functions) != 1 or self.uses.class_of(functions[0]) is not None:
            return False
        function = functions[0]
        parameter = _parameter(function, call, arg)
        if parameter is None:
            return False
        reads = self.uses.loads(parameter, function)
        return all(follow(read) for read in reads)

    def _same_dim(self, dim: str | None) -> bool:
        """An argmax is unchanged by a sigmoid (element-wise) or by a softmax along the
        same dimension."""
        if self.change.activation == "sigmoid":
            return True
        return dim is not None and dim == self.change.dim

    def _max_indices(self, call: cst.Call, dim: str | None) -> bool:
        """`max(v, dim)` is a (values, indices) pair: only the indices are unchanged."""
        if dim is None or not self._same_dim(dim):
            return False
        parent = self.uses.parents.get(call)
        if isinstance(parent, cst.Attribute) and parent.attr.value == "indices":
            return True
        if isinstance(parent, cst.Subscript) and _constant_index(parent) == 1:
            return True
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            target = parent.targets[0].target
            if isinstance(target, cst.Tuple) and len(target.elements) == 2:
                first = target.elements[0].value
                return isinstance(first, cst.Name) and first.value == "_"
        return False

    # -- losses ----------------------------------------------------------------------
    def _is_loss(self, func: cst.BaseExpression, depth: int = 0) -> bool:
        kind = self.change.loss
        if isinstance(func, cst.Call):  # nn.CrossEntropyLoss()(out, y)
            return self._is_loss_class(func)
        name = last_name(func)
        module = dotted(func.value) if isinstance(func, cst.Attribute) else None
        if name in LOSS_FUNCTIONS[kind] and (module is None or module in FUNCTIONAL_MODULES):
            return kind != "bce" or self.uses.start(func) in self.change.renamed
        key = dotted(func)
        bound = self.uses.bindings.get(key or "", []) + self._parameter_values(func)
        if not bound or depth > 4:
            return False
        return all(
            self._is_loss_class(b) if isinstance(b, cst.Call) else self._is_loss(b, depth + 1)
            for b in bound
        )

    def may_be_renamed(self, func: cst.BaseExpression, depth: int = 0) -> bool:
        """True for a callee that is, or may be bound to, a loss the fix renames."""
        if isinstance(func, cst.Call):
            return self.uses.start(func.func) in self.change.renamed
        if self.uses.start(func) in self.change.renamed:
            return True
        bound = self.uses.bindings.get(dotted(func) or "", []) + self._parameter_values(func)
        return depth <= 4 and any(
            b is not func and self.may_be_renamed(b, depth + 1) for b in bound
        )

    def _is_loss_class(self, call: cst.Call) -> bool:
        if last_name(call.func) not in LOSS_CLASSES[self.change.loss]:
            return False
        return self.change.loss != "bce" or self.uses.start(call.func) in self.change.renamed

    def _parameter_values(self, func: cst.BaseExpression) -> list[cst.BaseExpression]:
        """What a parameter named like `func` is passed at the calls of its function."""
        if not isinstance(func, cst.Name):
            return []
        function = self.uses.function_of(func)
        if function is None or func.value not in _parameter_names(function):
            return []
        values = []
        for call in self._callers(function, self.uses.class_of(function) is not None):
            value = _argument_for(function, call, func.value)
            if value is None:
                return [func]  # a caller does not pass it: unknown
            values.append(value)
        return values or [func]

    # -- models ----------------------------------------------------------------------
    def model_calls(self, owner: cst.ClassDef) -> list[cst.Call] | None:
        """Calls of a model class's instances: `self(x)` inside it (and its subclasses),
        and calls of every name an instance reaches; None when an instance escapes to
        code this file does not show, or when the file makes none (it is used elsewhere)."""
        self.exported.add(owner.name.value)
        classes = {owner.name.value} | {
            name
            for name, cls in self.uses.classes.items()
            if any(last_name(b.value) == owner.name.value for b in cls.bases)
        }
        self.exported.update(classes)
        calls: list[cst.Call] = []
        instances = 0
        for call in self.uses.calls:
            func = call.func
            cls = self.uses.class_of(call)
            inside = cls is not None and cls.name.value in classes
            if inside and (
                (isinstance(func, cst.Name) and func.value == "self")
                or dotted(func) == "self.forward"
            ):
                calls.append(call)
            elif last_name(func) in classes:
                instances += 1
                if not self.handle(call, calls):
                    return None
        return calls if instances else None

    def handle(self, node: cst.CSTNode, calls: list[cst.Call] | None = None) -> bool:
        """`node` evaluates to a model whose output changed: every call of it is checked
        (or collected into `calls`), and it must not escape to code not in this file."""
        if not self._first_visit(node, None, True):
            return True
        parent = self.uses.parents.get(node)
        if isinstance(parent, cst.Call) and parent.func is node:
            self.model_uses += 1
            if calls is None:
                return self.value(parent, None)
            calls.append(parent)
            return True
        if isinstance(parent, cst.Attribute) and parent.value is node:
            call = self.uses.parents.get(parent)
            name = parent.attr.value
            if isinstance(call, cst.Call) and call.func is parent and name == "forward":
                self.model_uses += 1
                if calls is None:
                    return self.value(call, None)
                calls.append(call)
                return True
            if isinstance(call, cst.Call) and call.func is parent and name in _SAME_MODEL:
                return self.handle(call, calls)
            return True  # model.parameters(), model.fc, model.state_dict()
        if isinstance(parent, cst.Arg) and parent.value is node:
            call = self.uses.parents[parent]
            assert isinstance(call, cst.Call)
            name = last_name(call.func)
            if name in _WRAPPERS:
                return self.handle(call, calls)
            if name == "Sequential":
                return self.handle(call, calls)
            if isinstance(call.func, cst.Attribute) and name in _TRAINER_RUNS:
                return True
            if name == "print":
                return True
            return self._into_function(call, parent, lambda read: self.handle(read, calls))
        if isinstance(parent, cst.Assign | cst.AnnAssign) and parent.value is node:
            targets = (
                [t.target for t in parent.targets]
                if isinstance(parent, cst.Assign)
                else [parent.target]
            )
            scope = self.uses.function_of(parent)
            for target in targets:
                name = dotted(target)
                if name is None:
                    return False
                if scope is None and isinstance(target, cst.Name):
                    self.exported.add(name)
                where = scope if isinstance(target, cst.Name) else None
                if not all(self.handle(r, calls) for r in self.uses.loads(name, where)):
                    return False
            return True
        if isinstance(parent, cst.Return):
            function = self.uses.function_of(parent)
            if function is None:
                return False
            method = self.uses.class_of(function) is not None
            if not method:
                self.exported.add(function.name.value)
            callers = self._callers(function, method)
            return bool(callers) and all(self.handle(c, calls) for c in callers)
        return isinstance(parent, cst.Expr)


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _keyword(arg: cst.Arg) -> str | None:
    return arg.keyword.value if arg.keyword is not None else None


def _constant_index(subscript: cst.Subscript) -> int | None:
    if len(subscript.slice) != 1:
        return None
    index = subscript.slice[0].slice
    if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
        return int(index.value.value)
    return None


def dim_of(call: cst.Call, position: int) -> str | None:
    """The `dim` argument of a call as written (by keyword, or at a position)."""
    for arg in call.args:
        if _keyword(arg) == "dim":
            return _code(arg.value)
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return _code(positional[position].value) if len(positional) > position else None


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node).strip()


def _parameter_names(function: cst.FunctionDef) -> list[str]:
    params = function.params
    return [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]


def _parameter(function: cst.FunctionDef, call: cst.Call, arg: cst.Arg) -> str | None:
    """The parameter of `function` an argument of `call` binds."""
    keyword = _keyword(arg)
    names = _parameter_names(function)
    if keyword is not None:
        return keyword if keyword in names else None
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in positional):
        return None
    index = positional.index(arg)
    ordered = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    return ordered[index] if index < len(ordered) else None


def _argument_for(
    function: cst.FunctionDef, call: cst.Call, name: str
) -> cst.BaseExpression | None:
    """What `call` passes for parameter `name` (None when it passes nothing or unpacks)."""
    if any(a.star for a in call.args):
        return None
    for arg in call.args:
        if _keyword(arg) == name:
            return arg.value
    ordered = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    positional = [a for a in call.args if a.keyword is None]
    if name in ordered and ordered.index(name) < len(positional):
        return positional[ordered.index(name)].value
    return None
