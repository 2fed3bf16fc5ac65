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
import difflib
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from nnlint.findings import Finding
from nnlint.fixable import Fixer, fixer_for
from nnlint.notebook import CellMap, NotebookError, notebook_source, with_fixed_code

Position = tuple[int, int]


@dataclass
class FixOutcome:
    """What `--fix`/`--diff` did: files changed, fixes applied, diffs, refusals."""

    changed: list[str] = field(default_factory=list)
    applied: int = 0
    diffs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def apply_fixes(findings: list[Finding], *, unsafe: bool, write: bool) -> FixOutcome:
    """Fix every fixable finding (safe ones, and unsafe ones when asked), file by file."""
    outcome = FixOutcome()
    by_file: dict[str, list[tuple[Finding, Fixer]]] = {}
    for finding in findings:
        fixer = fixer_for(finding)
        if fixer is not None and (fixer.safe or unsafe):
            by_file.setdefault(finding.path, []).append((finding, fixer))
    for path, todo in sorted(by_file.items()):
        _fix_file(Path(path), todo, outcome, write)
    return outcome


def _fix_file(
    path: Path, todo: list[tuple[Finding, Fixer]], outcome: FixOutcome, write: bool
) -> None:
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
        notebook = _notebook_code(text, todo) if path.suffix == ".ipynb" else None
    except (OSError, UnicodeDecodeError, NotebookError) as error:
        outcome.problems.append(f"{path}: not fixed: {error}")
        return
    if notebook is not None:
        document, (text, cells, todo) = text, notebook
    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
        targets = {(f.line, f.col): x.kind for f, x in todo}
        for finding, fixer in todo:
            if fixer.kind == "logits-loss":
                targets[(finding.line, finding.col)] = "remove-activation"
                targets.update(dict.fromkeys(finding.related, "rename-loss"))
        rewriter = _Rewriter(targets)
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
        write_atomically(path, fixed)


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


def write_atomically(path: Path, text: str) -> None:
    """Replace a file's text through a temporary file in its folder and a rename, keeping
    its permission bits; an interrupted write leaves the original untouched."""
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _Rewriter(cst.CSTTransformer):
    """Applies the fixes whose targets start at the given (line, column) positions."""

    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(self, targets: dict[Position, str]) -> None:
        super().__init__()
        self.targets = targets
        self.applied = 0
        self._drop: set[int] = set()
        self._replace: dict[int, cst.BaseExpression] = {}
        self.imports_needed: set[str] = set()

    def _kind(self, node: cst.CSTNode) -> str | None:
        start = self.get_metadata(PositionProvider, node).start
        return self.targets.get((start.line, start.column))

    # -- finding the targets -------------------------------------------------------------
    def leave_Attribute(
        self, original: cst.Attribute, updated: cst.Attribute
    ) -> cst.BaseExpression:
        if self._kind(original) == "rename-loss" and updated.attr.value in _LOGITS_LOSSES:
            self.applied += 1
            return updated.with_changes(attr=cst.Name(_LOGITS_LOSSES[updated.attr.value]))
        return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if self._kind(original) == "rename-loss" and updated.value in _LOGITS_LOSSES:
            self.applied += 1
            self.imports_needed.add(_LOGITS_LOSSES[updated.value])
            return cst.Name(_LOGITS_LOSSES[updated.value])
        return updated

    def visit_Call(self, node: cst.Call) -> None:
        kind = self._kind(node)
        if kind == "remove-activation":
            parent = self.get_metadata(ParentNodeProvider, node)
            if isinstance(parent, cst.Arg):
                self._drop.add(id(parent))
            else:
                replacement = _activation_input(node)
                if replacement is not None:
                    self._replace[id(node)] = replacement

    # -- rewriting -----------------------------------------------------------------------
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        kind = self._kind(original)
        if id(original) in self._replace:
            self.applied += 1
            return self._replace[id(original)]
        if any(id(arg) in self._drop for arg in original.args):
            kept = [
                u
                for o, u in zip(original.args, updated.args, strict=True)
                if id(o) not in self._drop
            ]
            self.applied += len(original.args) - len(kept)
            if kept:
                kept[-1] = kept[-1].with_changes(comma=original.args[-1].comma)
            return updated.with_changes(args=kept)
        if kind == "shuffle":
            self.applied += 1
            return _with_shuffle(updated)
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
        if self._kind(original) != "zero-grad" or not isinstance(updated.body, cst.IndentedBlock):
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


class _AddImport(cst.CSTTransformer):
    """Import a fix's new name beside the one it replaces: `from torch.optim import Adam`
    gains `AdamW`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.old, self.modules = _REPLACES[name]

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if updated.module is None or _dotted(updated.module) not in self.modules:
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


def _activation_input(call: cst.Call) -> cst.BaseExpression | None:
    """What a softmax/sigmoid call is applied to: `F.softmax(x, 1)` and `self.act(x)` -> x,
    `x.softmax(1)` -> x."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in {"softmax", "log_softmax", "sigmoid"}:
        receiver = func.value
        is_module = isinstance(receiver, cst.Name | cst.Attribute) and _dotted(receiver) in {
            "torch",
            "F",
            "nn.functional",
            "torch.nn.functional",
            "functional",
            "torch.special",
        }
        if not is_module:
            return receiver
    if call.args and call.args[0].keyword is None:
        return call.args[0].value
    return None


def _with_shuffle(call: cst.Call) -> cst.Call:
    """`DataLoader(ds, shuffle=False)` -> `shuffle=True`; `DataLoader(ds)` gains it;
    Keras `fit(..., shuffle=False)` drops the argument (Keras shuffles by default)."""
    is_fit = isinstance(call.func, cst.Attribute) and call.func.attr.value == "fit"
    args = list(call.args)
    for i, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == "shuffle":
            if is_fit:
                del args[i]
                if args:
                    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                return call.with_changes(args=args)
            args[i] = arg.with_changes(value=cst.Name("True"))
            return call.with_changes(args=args)
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


def _stepped_optimizer(loop: cst.For) -> str | None:
    """The receiver of the first `X.step()` in the loop that is not a scheduler."""
    found: list[str] = []

    class Steps(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "step" and not node.args:
                name = _dotted(func.value)
                if name and "sched" not in name.lower():
                    found.append(name)

    loop.body.visit(Steps())
    return found[0] if found else None


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None
