"""docs/rules.md, the rule reference that `helpUri` (SARIF) and `url` (JSON) link to: one
section per rule, generated from the registry so it cannot drift from `nnlint --explain`.

Regenerate with `python -m nnlint.rule_docs > docs/rules.md` (a test checks it is current).
"""

from __future__ import annotations

import re
import sys

from nnlint.rules import Rule, all_rules


def _section(rule: Rule) -> str:
    if rule.runtime:
        when = "Reported by `nnlint --probe`."
    elif rule.default:
        when = "On by default."
    else:
        when = f"**Off by default**: select it with `--extend-select {rule.code}`."
    doc = re.sub(r"^## ", "#### ", rule.doc, flags=re.MULTILINE)
    return (
        f"## {rule.code} {rule.name}\n\n{rule.summary} Severity: {rule.severity}. {when}\n\n{doc}\n"
    )


def markdown() -> str:
    """The whole reference."""
    intro = (
        "# nnlint rules\n\n"
        "Generated from the rule registry by `python -m nnlint.rule_docs`; "
        "`nnlint --explain CODE` prints the same text.\n\n"
    )
    return intro + "\n".join(_section(rule) for rule in all_rules())


if __name__ == "__main__":
    sys.stdout.write(markdown())
