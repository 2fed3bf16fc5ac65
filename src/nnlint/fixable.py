"""Which findings `--fix` can fix, and how safely: a table that needs no libcst, so that
marking fixable findings (`[*]`) does not import it; `nnlint.fixes` does the rewriting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nnlint.findings import Finding


@dataclass(frozen=True)
class Fixer:
    """How one kind of finding is fixed: its title, whether it is safe, which findings of
    the code it applies to (by message), and the rewrite."""

    code: str
    title: str
    safe: bool
    applies: Callable[[Finding], bool]
    kind: str


FIXERS = (
    Fixer(
        "NN102",
        "remove the activation before the loss",
        False,
        lambda f: "fed to cross-entropy" in f.message or "BCEWithLogitsLoss" in f.message,
        "remove-activation",
    ),
    Fixer(
        "NN202",
        "shuffle the training data",
        True,
        lambda f: f.message.startswith(("training DataLoader", "fit(..., shuffle=False)")),
        "shuffle",
    ),
    Fixer(
        "NN303",
        "clear the gradients at the top of the training loop",
        True,
        lambda f: "never resets" in f.message,
        "zero-grad",
    ),
    Fixer("NN402", "use AdamW (decoupled weight decay)", False, lambda f: True, "adamw"),
    Fixer(
        "NN110",
        "use BCEWithLogitsLoss on the logits",
        False,
        lambda f: bool(f.related),
        "logits-loss",
    ),
)


def fixer_for(finding: Finding) -> Fixer | None:
    """The fixer of a finding, if it has one."""
    return next((x for x in FIXERS if x.code == finding.code and x.applies(finding)), None)
