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
    Code written for a newer Python than the one running nnlint may be reported here.

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
