"""The rule registry: rules declare themselves in `nnlint.checks` modules with `@rule`."""

from __future__ import annotations

import ast
import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlint.project import Project

# Where nnlint is published (also `[project.urls]` in pyproject.toml and the README's
# install commands; a test keeps them in step), and its rule reference, one section per rule.
REPOSITORY = "https://github.com/nnlint/nnlint"
RULES_DOC = f"{REPOSITORY}/blob/main/docs/rules.md"

DOC_HEADINGS = (
    "What it does",
    "Why is this bad?",
    "Example",
    "Use instead",
    "Known limits",
    "Fix safety",
    "References",
)


@dataclass(frozen=True)
class Hit:
    """What a check yields: a node in a file and the message for it."""

    path: str
    node: ast.AST | tuple[int, int]
    message: str
    help: str = ""
    related: tuple[ast.AST, ...] = ()  # other places in the same file a fix must change

    @property
    def position(self) -> tuple[int, int]:
        if isinstance(self.node, tuple):
            return self.node
        return getattr(self.node, "lineno", 1), getattr(self.node, "col_offset", 0)


Check = Callable[["Project"], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    """A rule: stable code and kebab-case name, severity, one-line summary, doc, check.

    A `runtime` rule is reported by `nnlint --probe`, which runs the code; the static engine
    skips it and its check yields nothing. A rule that is not `default` runs only when
    selected (by code, prefix or `ALL`): for checks that are useful but noisy.
    """

    code: str
    name: str
    severity: str
    summary: str
    doc: str
    check: Check
    runtime: bool = False
    default: bool = True


_REGISTERED: list[Rule] = []


def rule(
    code: str,
    name: str,
    *,
    severity: str,
    summary: str,
    runtime: bool = False,
    default: bool = True,
) -> Callable[[Check], Check]:
    """Register a check function; its docstring is the rule's documentation."""

    def register(check: Check) -> Check:
        doc = _dedent_doc(check.__doc__ or "")
        _REGISTERED.append(Rule(code, name, severity, summary, doc, check, runtime, default))
        return check

    return register


def _dedent_doc(doc: str) -> str:
    lines = doc.strip("\n").splitlines()
    indents = [len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()]
    cut = min(indents, default=0)
    return "\n".join([lines[0].strip(), *(x[cut:] for x in lines[1:])]).strip() if lines else ""


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, loaded from the modules of `nnlint.checks`, sorted by code."""
    package = importlib.import_module("nnlint.checks")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    return tuple(sorted(_REGISTERED, key=lambda r: r.code))


def rule_by_code(code: str) -> Rule | None:
    return next((r for r in all_rules() if r.code == code.upper()), None)


def rule_anchor(rule: Rule) -> str:
    """The GitHub anchor of the rule's section in docs/rules.md (`## NN101 name`)."""
    return f"{rule.code}-{rule.name}".lower()


def rule_url(code: str) -> str | None:
    """The URL of a rule's documentation (None for an unknown code)."""
    rule = rule_by_code(code)
    return f"{RULES_DOC}#{rule_anchor(rule)}" if rule else None


def closest_code(text: str) -> str | None:
    """The rule code most like `text` (a typo's intended code), if any is close."""
    codes = [r.code for r in all_rules()]
    guess = difflib.get_close_matches(text.upper(), codes, n=1, cutoff=0.6)
    return guess[0] if guess else None


def unknown_selector(selector: str) -> str | None:
    """Why `selector` selects no rule (None when it does): `ALL`, or a code or prefix of at
    least one rule, as ruff accepts them; the message offers the closest code."""
    if not selector:
        return "an empty rule selector selects nothing"
    if selector == "ALL" or any(r.code.startswith(selector) for r in all_rules()):
        return None
    guess = closest_code(selector)
    hint = f"; did you mean `{guess}`?" if guess else "; see `nnlint --list-rules`"
    return f"unknown rule selector `{selector}`{hint}"


def matches(code: str, selectors: list[str]) -> bool:
    """True when `code` matches one of the codes or prefixes in `selectors` (ALL: every)."""
    return any(s == "ALL" or code.startswith(s) for s in selectors)
