"""Property-based tests: nnlint never raises, is deterministic, and NN101 agrees with an
oracle on generated Sequential models."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.config import Settings
from nnlint.engine import FileInput, analyse, lint_text
from tests.fixture_expectations import FIXTURES

hypothesmith = pytest.importorskip("hypothesmith", reason="hypothesmith is in the test extra")

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@FUZZ
@given(hypothesmith.from_grammar())
def test_any_valid_program_lints_without_error(source: str) -> None:
    report = lint_text("import torch\n" + source, "generated.py", Settings())
    assert not report.errors


@FUZZ
@given(hypothesmith.from_node())
def test_any_generated_module_lints_without_error(source: str) -> None:
    report = lint_text("import torch.nn as nn\n" + source, "generated.py", Settings())
    assert not report.errors


LAYERS = {
    "linear": "nn.Linear(8, 8)",
    "conv": "nn.Conv1d(8, 8, 3)",
    "relu": "nn.ReLU()",
    "sigmoid": "nn.Sigmoid()",
    "tanh": "nn.Tanh()",
    "dropout": "nn.Dropout(0.1)",
    "norm": "nn.BatchNorm1d(8)",
    "flatten": "nn.Flatten()",
}
WEIGHTS = {"linear", "conv"}
PASS_THROUGH = {"dropout", "norm", "flatten"}


def _oracle(layers: list[str]) -> list[int]:
    """Indexes of sigmoid/tanh layers that feed a later weight layer (through dropout,
    normalisation or flatten only)."""
    hidden = []
    for i, name in enumerate(layers):
        if name not in {"sigmoid", "tanh"}:
            continue
        for after in layers[i + 1 :]:
            if after in WEIGHTS:
                hidden.append(i)
                break
            if after not in PASS_THROUGH:
                break
    return hidden


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(LAYERS)), min_size=1, max_size=8), st.booleans())
def test_nn101_on_sequential_agrees_with_the_oracle(layers: list[str], aliased: bool) -> None:
    module = "from torch import nn as nn" if aliased else "import torch.nn as nn"
    body = "".join(f"    {LAYERS[name]},\n" for name in layers)
    source = f"{module}\n\nmodel = nn.Sequential(\n{body})\n"
    report = lint_text(source, "model.py", Settings())
    lines = sorted(f.line for f in report.findings if f.code == "NN101")
    assert lines == [4 + i for i in _oracle(layers)], source


def test_findings_do_not_depend_on_file_order() -> None:
    files = sorted(FIXTURES.rglob("*.py"))
    forward = _findings(files)
    shuffled = files[:]
    random.Random(7).shuffle(shuffled)
    assert _findings(shuffled) == forward
    assert _findings(list(reversed(files))) == forward


def _findings(files: list[Path]) -> list:
    items = [FileInput(f, f.relative_to(FIXTURES).as_posix()) for f in files]
    results, _ = analyse(items, Settings(root=FIXTURES))
    return sorted(f for r in results for f in r.findings)


def test_a_sample_of_the_standard_library_has_no_internal_errors() -> None:
    """The CI-sized fuzz pass; bench/benchmark.py runs the whole transformers wheel."""
    library = Path(ast.__file__).parent
    files = sorted(library.glob("*.py"))[:150] + sorted(library.glob("json/*.py"))
    for file in files:
        results, _ = analyse([FileInput(file, file.name)], Settings())
        assert not [e for r in results for e in r.errors], file
