"""Autofixes: format-preserving rewrites with libcst, written only when the result parses.

Rules find mistakes on `ast` positions; a fix finds the libcst node at the same position and
rewrites it, keeping every comment and blank line around it. Safe fixes keep the program's
meaning (shuffling the training data, clearing gradients every step); unsafe fixes change
what the model computes (dropping a softmax, switching Adam to AdamW) and need
`--unsafe-fixes`. Files are written through a temporary file and an atomic rename, with
their mode and line endings kept.
"""

from __future__ import annotations

import ast
import codecs
import difflib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from nnlint.cache import digest
from nnlint.findings import Finding
from nnlint.fixable import Fixer, fixer_for
from nnlint.notebook import CellMap, NotebookError, notebook_source, with_fixed_code
from nnlint.output_uses import (
    ACTIVATION_CLASSES,
    FUNCTIONAL_MODULES,
    Change,
    OutputUses,
    dim_of,
    dotted,
    last_name,
)
from nnlint.source import NotRegularFileError, read_bounded

Position = tuple[int, int]


@dataclass
class FixOutcome:
    """What `--fix`/`--diff` did: files changed, fixes applied, diffs, files that could
    not be fixed (`problems`: unreadable, unwritable, changed meanwhile; exit 2) and fixes
    refused because they could change more than their finding (`notes`)."""

    changed: list[str] = field(default_factory=list)
    applied: int = 0
    diffs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def apply_fixes(
    findings: list[Finding],
    *,
    unsafe: bool,
    write: bool,
    digests: Mapping[str, str] | None = None,
) -> FixOutcome:
    """Fix every fixable finding (safe ones, and unsafe ones when asked), file by file.
    `digests` (path -> digest of the text that was linted) lets a file edited since the
    lint be skipped instead of fixed at stale positions."""
    outcome = FixOutcome()
    by_file: dict[str, list[tuple[Finding, Fixer]]] = {}
    for finding in findings:
        fixer = fixer_for(finding)
        if fixer is not None and (fixer.safe or unsafe):
            by_file.setdefault(finding.path, []).append((finding, fixer))
    for path, todo in sorted(by_file.items()):
        expected = digests.get(path) if digests is not None else None
        _fix_file(Path(path), todo, outcome, write, expected)
    return outcome


def _fix_file(
    path: Path,
    todo: list[tuple[Finding, Fixer]],
    outcome: FixOutcome,
    write: bool,
    expected: str | None,
) -> None:
    try:
        target = writable_target(path) if write else path
        data = read_bounded(target)
        bom = data.startswith(codecs.BOM_UTF8)
        text = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
        notebook = _notebook_code(text, todo) if path.suffix == ".ipynb" else None
    except (OSError, UnicodeDecodeError, NotebookError) as error:
        outcome.problems.append(f"{path}: not fixed: {_reason(error, 'read')}")
        return
    linted = notebook[0] if notebook is not None else text
    if expected is not None and digest(linted) != expected:
        outcome.problems.append(f"{path}: not fixed: it changed since it was linted")
        return
    if notebook is not None:
        document, (text, cells, todo) = text, notebook
    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
        plan = _Plan(path, wrapper)
        for finding, fixer in todo:
            refusal = plan.add(finding, fixer)
            if refusal is not None:
                where = f"{path}:{finding.line}:{finding.col + 1}"
                outcome.notes.append(f"{where}: {finding.code} not fixed: {refusal}")
        rewriter = _Rewriter(plan.targets)
        fixed = wrapper.visit(rewriter).code
    except (cst.ParserSyntaxError, RecursionError) as error:
        outcome.problems.append(f"{path}: not fixed: {error}")
        return
    if fixed == text:
        return
    try:
        ast.parse(fixed)
    except SyntaxError as error:
        outcome.problems.append(f"{path}: not fixed: the fixed code would not parse ({error})")
        return
    outcome.applied += rewriter.applied
    outcome.changed.append(str(path))
    outcome.diffs.append(
        "".join(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                fixed.splitlines(keepends=True),
                f"a/{path}",
                f"b/{path}",
            )
        )
    )
    if write and notebook is not None:
        try:
            fixed = with_fixed_code(document, cells, text, fixed)
        except NotebookError as error:
            outcome.problems.append(f"{path}: not fixed: {error}")
            return
    if write:
        try:
            write_atomically(target, fixed, bom=bom, original=data)
        except OSError as error:
            outcome.changed.pop()
            outcome.diffs.pop()
            outcome.applied -= rewriter.applied
            outcome.problems.append(f"{path}: not fixed: {_reason(error, 'write')}")


def _reason(error: OSError | UnicodeDecodeError | NotebookError, action: str) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, NotebookError):
        return str(error)
    if isinstance(error, NotRegularFileError):
        return f"{error.filename} is not a regular file"
    if isinstance(error, FileChangedError | NotWritableError):
        return str(error)
    where = f" ({error.filename})" if error.filename else ""
    return f"cannot {action}{where}: {error.strerror or error}"


class NotWritableError(OSError):
    """A file --fix must not write: it is read-only."""


class FileChangedError(OSError):
    """The file changed between reading it for the fix and writing the fix."""


def writable_target(path: Path) -> Path:
    """The file a fix of `path` writes: the target of a symlink (the link stays a link),
    and only a regular file with a write permission bit."""
    target = Path(os.path.realpath(path))
    info = target.stat()
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(errno.EINVAL, "not a regular file", str(target))
    if not info.st_mode & 0o222:
        raise NotWritableError("the file is read-only")
    return target


def _notebook_code(
    data: str, todo: list[tuple[Finding, Fixer]]
) -> tuple[str, CellMap, list[tuple[Finding, Fixer]]]:
    """A notebook's joined code, its cells, and the findings placed in the joined code."""
    text, cells = notebook_source(data)
    placed = [
        (replace(f, line=cells.global_line(f.cell, f.line), cell=None) if f.cell else f, x)
        for f, x in todo
    ]
    return text, cells, placed


def write_atomically(
    path: Path, text: str, *, bom: bool = False, original: bytes | None = None
) -> None:
    """Replace a file's text through a temporary file in its folder and a rename, keeping
    its permission bits and a UTF-8 BOM; an interrupted write leaves the original
    untouched. With `original`, the file is read again just before the rename and left
    alone (FileChangedError) if someone changed it meanwhile."""
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(("\ufeff" if bom else "") + text)
        os.chmod(temporary, mode & 0o7777)
        if original is not None and read_bounded(path) != original:
            raise FileChangedError("it changed while the fix was being written")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _Plan:
    """The nodes the fixes of one file rewrite, found at their findings' positions. An
    activation fix is refused when the value it changes is read anywhere but the loss it
    is about (see `output_uses`)."""

    def __init__(self, path: Path, wrapper: MetadataWrapper) -> None:
        self.path = path
        self.positions = wrapper.resolve(PositionProvider)
        parents = wrapper.resolve(ParentNodeProvider)
        self.uses = OutputUses(wrapper.module, parents, self.positions)
        self.at: dict[Position, list[cst.CSTNode]] = {}
        for node, where in self.positions.items():
            self.at.setdefault((where.start.line, where.start.column), []).append(node)
        for nodes in self.at.values():  # outermost first
            nodes.sort(key=self._end, reverse=True)
        self.layers = _activation_layers(self.uses)
        self.targets: dict[int, str] = {}

    def _end(self, node: cst.CSTNode) -> Position:
        end = self.positions[node].end
        return end.line, end.column

    def add(self, finding: Finding, fixer: Fixer) -> str | None:
        """Plan one finding's fix; the reason when it is refused."""
        position = (finding.line, finding.col)
        nodes = self.at.get(position, [])
        if fixer.kind == "zero-grad":
            loop = next((n for n in nodes if isinstance(n, cst.For)), None)
            if loop is None or _stepped_optimizer(loop) is None:
                return "no loop with an optimizer step at the finding"
            self.targets[id(loop)] = fixer.kind
            return None
        if fixer.kind in {"shuffle", "adamw"}:
            call = next(
                (n for n in nodes if isinstance(n, cst.Call) and dotted(n.func) is not None), None
            )
            if call is None:
                return "no call at the finding"
            if fixer.kind == "shuffle" and _with_shuffle(call) is None:
                return "shuffle is set by a variable, by position or with a sampler; fix by hand"
            self.targets[id(call)] = fixer.kind
            return None
        return self._activation(finding, fixer, nodes)

    def _activation(self, finding: Finding, fixer: Fixer, nodes: list[cst.CSTNode]) -> str | None:
        for node in nodes:
            if not isinstance(node, cst.Call):
                continue
            form = _unwrap_form(node, self.layers)
            if form is not None:
                return self._checked(finding, fixer, node, node, {id(node): form}, model=False)
            if last_name(node.func) in ACTIVATION_CLASSES:
                arg = self.uses.parents.get(node)
                sequential = self.uses.parents.get(arg) if isinstance(arg, cst.Arg) else None
                if isinstance(sequential, cst.Call) and last_name(sequential.func) == "Sequential":
                    return self._checked(
                        finding, fixer, node, sequential, {id(arg): "drop"}, model=True
                    )
                return "the activation layer is not an argument of nn.Sequential"
        return "cannot tell which expression the activation is applied to"

    def _checked(
        self,
        finding: Finding,
        fixer: Fixer,
        activation: cst.Call,
        origin: cst.CSTNode,
        targets: dict[int, str],
        *,
        model: bool,
    ) -> str | None:
        """Accept the rewrite when every read of what it changes is safe."""
        loss = "bce" if fixer.kind == "logits-loss" else _loss_kind(finding)
        renamed = frozenset(finding.related) if loss == "bce" else frozenset()
        name, dim = self._activation_and_dim(activation)
        change = Change(loss, name, dim, renamed)
        exported = self.uses.safe(origin, change, model=model)
        if exported is None:
            return (
                "the output is also read where probabilities are expected, or where nnlint "
                "cannot follow it; apply the activation at those reads, then fix by hand"
            )
        importer = _imported_elsewhere(self.path, exported)
        if importer is not None:
            return f"{importer} imports what this fix changes; fix by hand"
        if loss == "bce":
            for position in finding.related:
                renames = [
                    n
                    for n in self.at.get(position, [])
                    if isinstance(n, cst.Name | cst.Attribute) and last_name(n) in _LOGITS_LOSSES
                ]
                if not renames:
                    return "the loss to rename is not where the finding says"
                targets[id(renames[0])] = "rename-loss"
        self.targets.update(targets)
        return None

    def _activation_and_dim(self, call: cst.Call) -> tuple[str, str | None]:
        """Which activation a call applies (softmax, log_softmax, sigmoid) and along which
        dimension, as written."""
        func = call.func
        layer = self.layers.get(dotted(func) or "")
        if layer is not None:
            return _ACTIVATION_OF[last_name(layer.func) or ""], dim_of(layer, 0)
        name = last_name(func) or ""
        if name in _ACTIVATION_OF:
            return _ACTIVATION_OF[name], dim_of(call, 0)
        functional = isinstance(func, cst.Name) or dotted(func.value) in FUNCTIONAL_MODULES
        return name, dim_of(call, 1 if functional else 0)


def _loss_kind(finding: Finding) -> str:
    return "bce_logits" if "BCEWithLogitsLoss" in finding.message else "ce"


_ACTIVATION_OF = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid"}
_ACTIVATION_FUNCTIONS = frozenset({"softmax", "log_softmax", "sigmoid"})


def _activation_layers(uses: OutputUses) -> dict[str, cst.Call]:
    """Names bound only to one activation layer: `self.act = nn.Sigmoid()` -> its call."""
    layers = {}
    for name, values in uses.bindings.items():
        calls = [v for v in values if isinstance(v, cst.Call)]
        kinds = {last_name(c.func) for c in calls}
        if len(calls) == len(values) and len(kinds) == 1 and kinds <= ACTIVATION_CLASSES:
            layers[name] = calls[0]
    return layers


def _unwrap_form(call: cst.Call, layers: dict[str, cst.Call]) -> str | None:
    """How an activation call is undone: `argument` (`F.softmax(x, 1)`, `self.act(x)`,
    `sigmoid(x)`) or `receiver` (`x.sigmoid()`, `x.softmax(dim=1)`); None when the call is
    not an activation, or its input cannot be told."""
    func = call.func
    name = last_name(func)
    first_positional = bool(call.args) and call.args[0].keyword is None and not call.args[0].star
    if dotted(func) in layers:
        return "argument" if len(call.args) == 1 and first_positional else None
    if name not in _ACTIVATION_FUNCTIONS:
        return None
    if isinstance(func, cst.Name) or dotted(func.value) in FUNCTIONAL_MODULES:
        return "argument" if first_positional else None
    if name == "sigmoid":
        return "receiver" if not call.args else None
    receiver_is_self = isinstance(func.value, cst.Name) and func.value.value == "self"
    if receiver_is_self or not all(_dim_like(a) for a in call.args):
        return None
    return "receiver"


def _dim_like(arg: cst.Arg) -> bool:
    """A tensor method's `dim`/`dtype` argument: `dim=1`, `-1`, `dtype=...`."""
    if arg.keyword is not None:
        return arg.keyword.value in {"dim", "dtype"}
    value = arg.value
    if isinstance(value, cst.UnaryOperation):
        value = value.expression
    return isinstance(value, cst.Integer)


def _imported_elsewhere(path: Path, names: set[str]) -> str | None:
    """Another module beside this one (or one folder up) that names this module and one of
    `names`: it may read the changed output where this file cannot see."""
    if not names:
        return None
    folders = [path.parent, path.parent.parent]
    stem = re.compile(rf"\b{re.escape(path.stem)}\b")
    named = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    checked = 0
    for folder in dict.fromkeys(folders):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for other in entries:
            if other.suffix not in {".py", ".ipynb"} or other.name == path.name:
                continue
            checked += 1
            if checked > _MAX_NEIGHBOURS:
                return f"one of over {_MAX_NEIGHBOURS} modules nearby"
            try:
                if not other.is_file() or other.stat().st_size > _MAX_NEIGHBOUR_BYTES:
                    continue
                text = other.read_text("utf-8", errors="replace")
            except OSError:
                continue
            if stem.search(text) and named.search(text):
                return str(other)
    return None


_MAX_NEIGHBOURS = 2000
_MAX_NEIGHBOUR_BYTES = 1024 * 1024


class _Rewriter(cst.CSTTransformer):
    """Applies the planned rewrites to the nodes they target (by identity)."""

    def __init__(self, targets: dict[int, str]) -> None:
        super().__init__()
        self.targets = targets
        self.applied = 0
        self.imports_needed: set[str] = set()

    def leave_Attribute(
        self, original: cst.Attribute, updated: cst.Attribute
    ) -> cst.BaseExpression:
        if self.targets.get(id(original)) == "rename-loss":
            self.applied += 1
            return updated.with_changes(attr=cst.Name(_LOGITS_LOSSES[updated.attr.value]))
        return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if self.targets.get(id(original)) == "rename-loss":
            self.applied += 1
            self.imports_needed.add(_LOGITS_LOSSES[updated.value])
            return cst.Name(_LOGITS_LOSSES[updated.value])
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        kind = self.targets.get(id(original))
        if kind == "argument":
            self.applied += 1
            return _in_place_of(updated.args[0].value, original)
        if kind == "receiver":
            self.applied += 1
            assert isinstance(updated.func, cst.Attribute)
            return updated.func.value
        if any(self.targets.get(id(arg)) == "drop" for arg in original.args):
            kept = [
                u
                for o, u in zip(original.args, updated.args, strict=True)
                if self.targets.get(id(o)) != "drop"
            ]
            self.applied += len(original.args) - len(kept)
            if kept:
                kept[-1] = kept[-1].with_changes(comma=original.args[-1].comma)
            return updated.with_changes(args=kept)
        if kind == "shuffle":
            shuffled = _with_shuffle(updated)
            if shuffled is not None:
                self.applied += 1
                return shuffled
        if kind == "adamw":
            return self._adamw(updated)
        return updated

    def _adamw(self, call: cst.Call) -> cst.Call:
        """`optim.Adam(...)` -> `optim.AdamW(...)`; a bare `Adam(...)` imported from
        torch.optim -> `AdamW(...)`, and the import gains AdamW."""
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "Adam":
            self.applied += 1
            return call.with_changes(func=func.with_changes(attr=cst.Name("AdamW")))
        if isinstance(func, cst.Name) and func.value == "Adam":
            self.applied += 1
            self.imports_needed.add("AdamW")
            return call.with_changes(func=cst.Name("AdamW"))
        return call

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        for name in sorted(self.imports_needed):
            updated = updated.visit(_AddImport(name))
        return updated

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        if self.targets.get(id(original)) != "zero-grad" or not isinstance(
            updated.body, cst.IndentedBlock
        ):
            return updated
        optimizer = _stepped_optimizer(original)
        if optimizer is None:
            return updated
        statement = cst.parse_statement(f"{optimizer}.zero_grad()\n")
        self.applied += 1
        return updated.with_changes(
            body=updated.body.with_changes(body=[statement, *updated.body.body])
        )


_LOGITS_LOSSES = {
    "BCELoss": "BCEWithLogitsLoss",
    "binary_cross_entropy": "binary_cross_entropy_with_logits",
}
# A name a fix introduces: the name it replaces (imported beside it) and their modules.
_REPLACES = {
    "AdamW": ("Adam", {"torch.optim"}),
    "BCEWithLogitsLoss": ("BCELoss", {"torch.nn"}),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy", {"torch.nn.functional"}),
}


_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)


def _in_place_of(value: cst.BaseExpression, call: cst.Call) -> cst.BaseExpression:
    """An activation's argument standing where the call stood: parenthesised unless it
    binds as tightly as a call (`sigmoid(a + b) * 2` -> `(a + b) * 2`)."""
    lpar, rpar = [*call.lpar, *value.lpar], [*value.rpar, *call.rpar]
    if not lpar and not isinstance(value, _ATOMS):
        lpar, rpar = [cst.LeftParen()], [cst.RightParen()]
    return value.with_changes(lpar=lpar, rpar=rpar)


class _AddImport(cst.CSTTransformer):
    """Import a fix's new name beside the one it replaces: `from torch.optim import Adam`
    gains `AdamW`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.old, self.modules = _REPLACES[name]

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if updated.module is None or dotted(updated.module) not in self.modules:
            return updated
        if isinstance(updated.names, cst.ImportStar):
            return updated
        names = [a.name.value for a in updated.names if isinstance(a.name, cst.Name)]
        if self.old not in names or self.name in names:
            return updated
        aliases = list(updated.names)
        aliases[-1] = aliases[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        return updated.with_changes(names=[*aliases, cst.ImportAlias(cst.Name(self.name))])


def _with_shuffle(call: cst.Call) -> cst.Call | None:
    """`DataLoader(ds, shuffle=False)` -> `shuffle=True`; `DataLoader(ds)` gains it;
    Keras `fit(..., shuffle=False)` drops the argument (Keras shuffles by default). None
    when that could do more than shuffle: `shuffle=` a variable the user controls, a
    sampler (which shuffle=True would clash with), or arguments unpacked from `**kwargs`."""
    is_fit = isinstance(call.func, cst.Attribute) and call.func.attr.value == "fit"
    args = list(call.args)
    if any(a.star for a in args):
        return None
    for i, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == "shuffle":
            if not _plain_false(arg.value):
                return None
            if is_fit:
                del args[i]
                if i == len(args) and args:  # it was last: the new last keeps its comma
                    args[-1] = args[-1].with_changes(comma=arg.comma)
                return call.with_changes(args=args)
            args[i] = arg.with_changes(value=cst.Name("True"))
            return call.with_changes(args=args)
    positional = [a for a in args if a.keyword is None]
    keywords = {a.keyword.value for a in args if a.keyword is not None}
    if is_fit or len(positional) > 2 or keywords & {"sampler", "batch_sampler"}:
        return None
    new = cst.Arg(
        value=cst.Name("True"),
        keyword=cst.Name("shuffle"),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )
    if args and isinstance(args[-1].comma, cst.Comma):
        # A trailing comma (one argument a line): the new argument takes the last one's
        # place in the layout, and the last one the separator of the one before it.
        separator = args[-2].comma if len(args) > 1 else args[-1].comma
        args[-1], new = (
            args[-1].with_changes(comma=separator),
            new.with_changes(comma=args[-1].comma),
        )
    elif args:
        args[-1] = args[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    return call.with_changes(args=[*args, new])


def _plain_false(value: cst.BaseExpression) -> bool:
    """`False` or `None` written out (DataLoader reads None as False)."""
    return isinstance(value, cst.Name) and value.value in {"False", "None"}


def _stepped_optimizer(loop: cst.For) -> str | None:
    """The receiver of the first `X.step()` in the loop that is not a scheduler."""
    found: list[str] = []

    class Steps(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "step" and not node.args:
                name = dotted(func.value)
                if name and "sched" not in name.lower():
                    found.append(name)

    loop.body.visit(Steps())
    return found[0] if found else None
