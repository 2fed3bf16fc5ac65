"""Training facts: Keras `fit`, Lightning and Hugging Face trainers, PyTorch epoch loops."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from nnlint import tables
from nnlint.facts.data import DataFacts, name_role
from nnlint.facts.loops import loop_blocks, walk_body
from nnlint.facts.names import dotted, iterated, name_tokens
from nnlint.facts.scope import CallSite, Loop, Scope
from nnlint.facts.values import Resolver, argument, has_star_args, keyword

LIGHTNING_TRAINER = "lightning.pytorch.Trainer"
# PL 1.x built a Trainer from the command line: `Trainer.from_argparse_args(args)`
LIGHTNING_TRAINERS = frozenset({LIGHTNING_TRAINER, f"{LIGHTNING_TRAINER}.from_argparse_args"})
HF_TRAINERS = frozenset({"transformers.Trainer", "transformers.Seq2SeqTrainer", "trl.SFTTrainer"})
HF_ARGS = frozenset(
    {"transformers.TrainingArguments", "transformers.Seq2SeqTrainingArguments", "trl.SFTConfig"}
)
_EARLY_WORDS = frozenset({"early", "stopper", "stopping", "patience"})


@dataclass(frozen=True)
class Callbacks:
    """What a `callbacks=` list holds: known when every element could be followed."""

    known: bool
    early_stopping: bool = False
    keeps_best: bool = False


@dataclass(eq=False)
class KerasFit:
    """A Keras `model.fit(...)` call (or `fit_generator`, or a keras-tuner `search`)."""

    site: CallSite
    model: ast.expr
    x: ast.expr | None
    validation_data: ast.expr | None
    has_validation: bool | None
    epochs: int | None
    callbacks: Callbacks
    shuffle: object
    confirm: str | None = None

    @property
    def trains(self) -> bool:
        """`fit` or Keras 2's `fit_generator`: a training run, not a tuner's search."""
        func = self.site.node.func
        return isinstance(func, ast.Attribute) and func.attr in tables.KERAS_TRAIN_METHODS


@dataclass(eq=False)
class LightningFit:
    """`trainer.fit(model, ...)` with the Trainer it runs on."""

    site: CallSite
    trainer: ast.Call | None
    model: ast.expr | None
    val: ast.expr | None
    datamodule: ast.expr | None


@dataclass(eq=False)
class EpochLoop:
    """A PyTorch loop whose body trains (calls `backward()` directly or through a function)."""

    node: Loop
    scope: Scope
    epochs: int | None
    roles_used: set[str] = field(default_factory=set)
    selects_model: bool = False
    test_evaluations: list[CallSite] = field(default_factory=list)
    # inner loops over test data written out in the epoch loop, with the names they compute
    test_loops: list[tuple[ast.For, set[str]]] = field(default_factory=list)
    selection_names: set[str] = field(default_factory=set)
    optimizers: set[str] = field(default_factory=set)

    @property
    def adversarial(self) -> bool:
        """Two or more optimizers stepped in turn (a GAN): no single validation objective."""
        return len(self.optimizers) > 1


def callback_calls(
    expr: ast.expr, scope: Scope, resolver: Resolver
) -> list[tuple[str, ast.Call, Scope]] | None:
    """(qualified name, call, scope) of each callback in a `callbacks=` list, `.append`ed
    ones included; None when any element cannot be followed to a known constructor."""
    origins = resolver.origins(expr, scope)
    if len(origins) != 1 or not isinstance(origins[0].expr, ast.List | ast.Tuple):
        return None
    list_scope = origins[0].scope
    elements = list(origins[0].expr.elts)
    if isinstance(expr, ast.Name):
        for site in list_scope.calls:
            func = site.node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in {"append", "extend"}
                and isinstance(func.value, ast.Name)
                and func.value.id == expr.id
            ):
                elements.extend(site.node.args)
    calls = []
    for element in elements:
        found = resolver.origins(element, list_scope)
        if len(found) != 1 or not isinstance(found[0].expr, ast.Call):
            return None
        call, owner = found[0].expr, found[0].scope
        qualname = resolver.call_name(call, owner)
        if not qualname:
            return None
        calls.append((qualname, call, owner))
    return calls


def callbacks_of(expr: ast.expr | None, scope: Scope, resolver: Resolver) -> Callbacks:
    """Classify the callbacks passed to fit/Trainer."""
    if expr is None:
        return Callbacks(True)
    calls = callback_calls(expr, scope, resolver)
    if calls is None:
        return Callbacks(False)
    early = any(q in tables.EARLY_STOPPING_CALLBACKS for q, _, _ in calls)
    best = any(
        q in tables.CHECKPOINT_CALLBACKS
        and (
            resolver.constant(keyword(call, "save_best_only"), owner) is True
            or (q.startswith("lightning") and keyword(call, "monitor") is not None)
        )
        for q, call, owner in calls
    )
    return Callbacks(True, early, best)


def epoch_count(loop: Loop, scope: Scope, resolver: Resolver) -> int | None:
    """Iterations of `for epoch in range(...)` (also through tqdm/trange), when known."""
    if not isinstance(loop, ast.For | ast.AsyncFor):
        return None
    iterator = loop.iter
    while (
        isinstance(iterator, ast.Call)
        and iterator.args
        and _callee(iterator, scope, resolver) in {"tqdm", "enumerate"}
    ):
        iterator = iterator.args[0]
    if not isinstance(iterator, ast.Call):
        return None
    if _callee(iterator, scope, resolver) not in {"range", "trange"} or not iterator.args:
        return None
    values = [_int_value(a, scope, resolver) for a in iterator.args[:2]]
    if any(v is None for v in values):
        return None
    if len(values) == 1:
        return values[0]
    return values[1] - values[0]  # type: ignore[operator]


def _callee(call: ast.Call, scope: Scope, resolver: Resolver) -> str:
    """The last part of a callee's name: `tqdm.tqdm(...)` -> 'tqdm', `range(...)` -> 'range'."""
    name = resolver.call_name(call, scope) or dotted(call.func) or ""
    return name.rpartition(".")[2]


def _int_value(expr: ast.expr, scope: Scope, resolver: Resolver) -> int | None:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Sub):
        left, right = (
            _int_value(expr.left, scope, resolver),
            _int_value(expr.right, scope, resolver),
        )
        if left is None or right is None:
            return None
        return left + right if isinstance(expr.op, ast.Add) else left - right
    value = resolver.constant(expr, scope)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TrainingFacts:
    """Finds the training entry points of one module."""

    def __init__(self, resolver: Resolver, data: DataFacts) -> None:
        self.resolver = resolver
        self.data = data
        self.training_functions = self._training_functions()

    # -- PyTorch loops ------------------------------------------------------------------
    def _training_functions(self) -> set[int]:
        """`id`s of the functions and methods that call `.backward()`, directly or through
        each other (`self.train_epoch()` from `fit`)."""
        trains: set[int] = set()
        functions = [s for s in self.resolver.collected.scopes if s.parent is not None]
        changed = True
        while changed:
            changed = False
            for scope in functions:
                if id(scope) not in trains and any(
                    self.is_training_call(s, trains) for s in scope.calls
                ):
                    trains.add(id(scope))
                    changed = True
        return trains

    def is_training_call(self, site: CallSite, trains: set[int]) -> bool:
        func = site.node.func
        if isinstance(func, ast.Attribute) and func.attr in {"backward", "manual_backward"}:
            return True
        callee = self.resolver.callee(site)
        return callee is not None and id(callee) in trains

    def _called(self, scope: Scope, depth: int = 0) -> Iterator[Scope]:
        """The functions and methods `scope` calls, transitively (each once)."""
        seen = {id(scope)}
        stack = [scope]
        while stack and len(seen) < 64:
            current = stack.pop()
            for site in current.calls:
                callee = self.resolver.callee(site)
                if callee is not None and id(callee) not in seen:
                    seen.add(id(callee))
                    stack.append(callee)
                    yield callee

    def epoch_loops(self) -> list[EpochLoop]:
        """The outermost training loop of each scope."""
        loops = []
        for scope in self.resolver.collected.scopes:
            if scope.in_test:
                continue
            training = [s for s in scope.calls if self.is_training_call(s, self.training_functions)]
            outermost: list[Loop] = []
            for site in training:
                if site.loops and site.loops[0] not in outermost:
                    outermost.append(site.loops[0])
            loops.extend(self._describe(loop, scope) for loop in outermost)
        return loops

    def _describe(self, loop: Loop, scope: Scope) -> EpochLoop:
        facts = EpochLoop(loop, scope, epoch_count(loop, scope, self.resolver))
        nodes = list(ast.walk(loop))
        methods = {id(n.func) for n in nodes if isinstance(n, ast.Call)}  # `model.eval()`
        for node in nodes:
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                continue  # a target takes its role from what is assigned, seen where it is used
            if isinstance(node, ast.Name | ast.Attribute) and id(node) not in methods:
                role = (
                    self.data.role(node, scope)
                    if isinstance(node, ast.Name)
                    else _attribute_role(node)
                )
                if role:
                    facts.roles_used.add(role)
            elif isinstance(node, ast.Call):
                facts.selection_names |= self._selection_call(node)
                facts.optimizers |= _optimizer_stepped(node)
        called = [
            callee
            for site in scope.calls
            if loop in site.loops and (target := self.resolver.callee(site)) is not None
            for callee in (target, *self._called(target))
        ]
        for callee in called:  # what `self.validate()` or `evaluate(...)` reads and keeps
            facts.roles_used |= self._roles(callee)
        facts.selects_model = (
            self._selects(loop.body)
            or bool(facts.selection_names)
            or any(self._selects(c.node.body, breaks=False) for c in called)  # type: ignore[attr-defined]
        )
        for stmt in chain.from_iterable(loop_blocks(loop.body)):
            if isinstance(stmt, ast.If):
                facts.selection_names |= _names_in(stmt.test)
        inside = [
            s
            for s in scope.calls
            if loop in s.loops and not self.is_training_call(s, self.training_functions)
        ]
        for site in inside:
            if any(self.data.role(a, scope) == "test" for a in _data_args(site.node)):
                facts.test_evaluations.append(site)
        facts.test_loops = self._test_loops(loop, scope)
        return facts

    def _roles(self, scope: Scope) -> set[str]:
        """The data roles (train/val/test) a function's body reads."""
        roles = set()
        nodes = list(ast.walk(scope.node))
        methods = {id(n.func) for n in nodes if isinstance(n, ast.Call)}  # `model.eval()`
        for node in nodes:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                role = self.data.role(node, scope)
            elif isinstance(node, ast.Attribute) and id(node) not in methods:
                role = _attribute_role(node)
            else:
                continue
            if role:
                roles.add(role)
        return roles

    def _test_loops(self, loop: Loop, scope: Scope) -> list[tuple[ast.For, set[str]]]:
        """Inner `for` loops over test data in the epoch loop, with the names they compute
        (`test_loss += ...`) and, two steps on, the names computed from those
        (`accuracy = correct / total`)."""
        found = []
        for node in walk_body(loop):
            if not isinstance(node, ast.For):
                continue
            if self.data.role(iterated(node.iter), scope) != "test":
                continue
            names = _assigned(walk_body(node))
            for _ in range(2):
                for stmt in walk_body(loop):
                    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign) and (
                        _names_in(stmt.value) & names
                    ):
                        names |= _assigned([stmt])
            found.append((node, names))
        return found

    def _selection_call(self, call: ast.Call) -> set[str]:
        """Names a call uses to steer training: `scheduler.step(val_loss)`, `stopper(loss)`."""
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        receiver = func.value if isinstance(func, ast.Attribute) else None
        words = set(name_tokens(name))
        if isinstance(receiver, ast.Name):
            words |= set(name_tokens(receiver.id))
        if (name == "step" and call.args) or words & _EARLY_WORDS:
            return {n.id for a in call.args for n in ast.walk(a) if isinstance(n, ast.Name)}
        return set()

    def _selects(self, body: list[ast.stmt], breaks: bool = True) -> bool:
        """A `break`, or an `if` that keeps the best model, at this loop's (or function's)
        level."""
        for stmt in chain.from_iterable(loop_blocks(body)):
            if isinstance(stmt, ast.Break) and breaks:
                return True
            if isinstance(stmt, ast.If):
                names = _names_in(stmt.test)
                names |= {n.attr for n in ast.walk(stmt.test) if isinstance(n, ast.Attribute)}
                if any({"best", "patience", "early", "stop"} & set(name_tokens(n)) for n in names):
                    return True
                if any(_saves(n) for s in stmt.body for n in ast.walk(s)):
                    return True
        return False

    # -- Keras --------------------------------------------------------------------------
    def keras_fits(self, keras_model: Callable[[ast.expr, Scope], bool | str]) -> list[KerasFit]:
        """`fit`/`search` calls on Keras models (see `ModuleFacts.keras_model`)."""
        fits = []
        for site in self.resolver.collected.training_calls:
            func = site.node.func
            methods = tables.KERAS_TRAIN_METHODS | {"search"}
            if not (isinstance(func, ast.Attribute) and func.attr in methods):
                continue
            status = keras_model(func.value, site.scope)
            if status is False:
                continue
            call, scope = site.node, site.scope
            validation_data = keyword(call, "validation_data")
            split = self.resolver.constant(keyword(call, "validation_split"), scope)
            has_validation: bool | None = validation_data is not None or bool(split)
            if not has_validation and (has_star_args(call) or keyword(call, "validation_split")):
                has_validation = None
            epochs_expr = keyword(call, "epochs") or keyword(call, "nb_epoch")
            epochs = 1 if epochs_expr is None else _int_value(epochs_expr, scope, self.resolver)
            fits.append(
                KerasFit(
                    site,
                    func.value,
                    argument(call, "x", 0),
                    validation_data,
                    has_validation,
                    epochs,
                    callbacks_of(keyword(call, "callbacks"), scope, self.resolver),
                    self.resolver.constant(keyword(call, "shuffle"), scope),
                    status if isinstance(status, str) else None,
                )
            )
        return fits

    # -- Lightning ----------------------------------------------------------------------
    def lightning_fits(self) -> list[LightningFit]:
        fits = []
        for site in self.resolver.collected.training_calls:
            func = site.node.func
            if not (isinstance(func, ast.Attribute) and func.attr == "fit"):
                continue
            trainers = [
                o.expr
                for o in self.resolver.origins(func.value, site.scope)
                if isinstance(o.expr, ast.Call)
                and self.resolver.call_name(o.expr, o.scope) in LIGHTNING_TRAINERS
            ]
            if not trainers:
                continue
            call = site.node
            train = argument(call, "train_dataloaders", 1) or keyword(call, "train_dataloader")
            datamodule = keyword(call, "datamodule") or (
                call.args[3] if len(call.args) > 3 else None
            )
            if train is not None and self._is_datamodule(train, site.scope):
                datamodule, train = train, None
            val = argument(call, "val_dataloaders", 2) or keyword(call, "val_dataloader")
            fits.append(
                LightningFit(site, trainers[0], argument(call, "model", 0), val, datamodule)
            )
        return fits

    def _is_datamodule(self, expr: ast.expr, scope: Scope) -> bool:
        for origin in self.resolver.origins(expr, scope):
            if isinstance(origin.expr, ast.Call):
                cls = self.class_of(origin.expr)
                if cls is not None and any("DataModule" in b for b in cls.bases):
                    return True
                if "DataModule" in (self.resolver.call_name(origin.expr, origin.scope) or ""):
                    return True
        return False

    def class_of(self, call: ast.Call):
        """The local class a call instantiates, if any."""
        if isinstance(call.func, ast.Name):
            return self.resolver.collected.classes.get(call.func.id)
        return None

    # -- Hugging Face -------------------------------------------------------------------
    def hf_trainers(self) -> list[CallSite]:
        return [s for s in self.resolver.collected.training_calls if s.qualname in HF_TRAINERS]

    def hf_arguments(self, trainer: ast.Call, scope: Scope) -> tuple[ast.Call, Scope] | None:
        args = argument(trainer, "args", 1)
        if args is None:
            return None
        for origin in self.resolver.origins(args, scope):
            if (
                isinstance(origin.expr, ast.Call)
                and self.resolver.call_name(origin.expr, origin.scope) in HF_ARGS
            ):
                return origin.expr, origin.scope
        return None


def _attribute_role(node: ast.Attribute) -> str | None:
    """The split an attribute names (`self.val_loader`, `args.test_dir`); a bare `.val` is
    a meter's current value (`losses.val`) unless it is kept on `self`."""
    if node.attr == "val" and dotted(node.value) != "self":
        return None
    return name_role(node.attr)


def _optimizer_stepped(call: ast.Call) -> set[str]:
    """`{"opt_g"}` for `opt_g.step()`; schedulers' `step` is not an optimizer step."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "step" and not call.args):
        return set()
    name = dotted(func.value) or ""
    tokens = name_tokens(name.replace(".", "_"))
    is_optimizer = any(t.startswith("opt") for t in tokens) and not any(
        t.startswith("sched") for t in tokens
    )
    return {name} if is_optimizer else set()


def _saves(node: ast.AST) -> bool:
    """`torch.save(...)`, `model.state_dict()`, `copy.deepcopy(model)`, `save_checkpoint(...)`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"save", "state_dict", "deepcopy", "save_pretrained", "save_weights"} or (
        "save" in name_tokens(name) or "checkpoint" in name_tokens(name)
    )


def _data_args(call: ast.Call) -> list[ast.expr]:
    values = [*call.args, *(kw.value for kw in call.keywords)]
    out: list[ast.expr] = []
    for value in values:
        if isinstance(value, ast.Tuple | ast.List):
            out.extend(value.elts)
        else:
            out.append(value)
    return [v for v in out if isinstance(v, ast.Name | ast.Attribute | ast.Subscript)]


def _assigned(nodes: Iterable[ast.AST]) -> set[str]:
    """Names the assignments among `nodes` assign or update."""
    names = set()
    for node in nodes:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign | ast.AnnAssign)
            else []
        )
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _names_in(expr: ast.AST | None) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)} if expr else set()
