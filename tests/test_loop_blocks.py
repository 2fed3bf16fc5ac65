"""`loop_blocks`: the statement lists that run at one loop's level."""

from __future__ import annotations

import ast
import textwrap

from nnlint.facts.loops import loop_blocks


def _blocks(source: str) -> list[list[str]]:
    """The blocks of the first loop's body, each as its statements' first lines."""
    loop = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(loop, ast.For | ast.While)
    return [
        [ast.unparse(stmt).splitlines()[0] for stmt in block] for block in loop_blocks(loop.body)
    ]


TRY_LOOP = """
    for batch in loader:
        try:
            a()
        except ValueError:
            b()
        else:
            c()
        finally:
            d()
"""


def test_try_yields_body_else_finally_then_handlers() -> None:
    assert _blocks(TRY_LOOP) == [["try:"], ["a()"], ["c()"], ["d()"], ["b()"]]


def test_if_yields_both_branches_and_with_its_body() -> None:
    source = """
        while True:
            x = 1
            if x:
                a()
            else:
                with ctx():
                    b()
            c()
    """
    assert _blocks(source) == [
        ["x = 1", "if x:", "c()"],
        ["a()"],
        ["with ctx():"],
        ["b()"],
    ]


def test_nested_loops_and_definitions_are_not_entered() -> None:
    source = """
        for epoch in range(3):
            for batch in loader:
                a()
            def helper():
                b()
            if epoch:
                while running:
                    c()
    """
    assert _blocks(source) == [
        ["for batch in loader:", "def helper():", "if epoch:"],
        ["while running:"],
        [],
    ]
