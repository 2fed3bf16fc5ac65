"""NN0: problems with the input itself."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.project import Project
from nnlint.rules import Hit, rule


@rule("NN000", "syntax-error", severity="error", summary="The file does not parse as Python.")
def syntax_error(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Reports a file that Python cannot parse, at the location of the error.

    ## Why is this bad?
    A file that does not parse cannot be checked, and will not run: every other rule is
    blind to it until it is fixed.

    ## Example
    ```python
    for epoch in range(10)
        train(model)
    ```

    ## Use instead
    ```python
    for epoch in range(10):
        train(model)
    ```

    ## Known limits
    Valid code written for a newer Python than the one running nnlint (PEP 695 type
    parameters on 3.11, say) is not reported: nnlint prints a note that it was not analysed.

    ## Fix safety
    No automatic fix.

    ## References
    - https://docs.python.org/3/reference/grammar.html
    """
    for source in project.broken:
        problem = source.problem
        if problem is not None:
            yield Hit(
                source.display,
                (problem.line, problem.col),
                f"cannot parse: {problem.message}",
                "fix the syntax error; nothing else in this file was checked",
            )


@rule(
    "NN001",
    "unused-noqa",
    severity="warning",
    summary="A `# noqa` comment that suppresses nothing.",
    default=False,
)
def unused_noqa(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Reports nnlint codes in a `# noqa: NN101, NN105` comment that suppressed nothing on
    their line, and, as ruff does for "non-enabled" codes, codes of rules this run did not
    select. The engine reports it after the other rules (this rule itself checks nothing). A
    bare `# noqa` (it may be there for another linter), other tools' codes (`E501`) and the
    probe's codes are never reported. Off by default: a noqa can be needed by a finding
    that only a run over the whole project shows (a model in `models.py` trained in
    `train.py`), so select it in a full run (`nnlint --extend-select NN001 .`).

    ## Why is this bad?
    A stale suppression hides the next real finding on its line, and tells readers a
    mistake is there that is not.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU())  # noqa: NN101
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU())
    ```

    ## Known limits
    A finding at a multi-line statement is suppressed on its first line only, so a noqa on
    another line of it is reported as unused.

    ## Fix safety
    No automatic fix.

    ## References
    - ruff's RUF100: https://docs.astral.sh/ruff/rules/unused-noqa/
    """
    return iter(())


@rule(
    "NN002",
    "internal-error",
    severity="error",
    summary="One of nnlint's rules failed on this file: a bug in nnlint.",
)
def internal_error(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Marks a file on which one of nnlint's rules raised an exception. The engine reports it
    (this rule itself checks nothing): the rule and the error are named in the message, the
    other rules and files are still checked, and the run exits with code 2.

    ## Why is this bad?
    A rule that fails says nothing about the file, so a mistake it should catch may be
    missed. Silently skipping it would hide that.

    ## Example
    ```python
    # any file on which a rule crashes
    import torch
    ```

    ## Use instead
    ```python
    # nothing to change in your code: report the traceback that `--verbose` prints
    import torch
    ```

    ## Known limits
    When a rule fails only on several files together, every file of that run is marked.

    ## Fix safety
    No automatic fix.

    ## References
    - `nnlint --verbose` prints the traceback of each internal error.
    """
    return iter(())
