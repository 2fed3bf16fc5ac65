"""Property-based tests: nnlint never raises, is deterministic, and NN101 agrees with an
oracle on generated Sequential models."""

from __future__ import annotations

import ast
import codecs
import contextlib
import json
import os
import random
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.config import Settings
from nnlint.configs.load import ConfigSyntaxError, load
from nnlint.engine import FileInput, Report, analyse, lint, lint_text
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


# -- inputs of any shape: notebooks, configs, file-system oddities ------------------------
BAD_MODEL = (
    "import torch.nn as nn\n\n"
    "model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))\n"
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
CELLS = st.fixed_dictionaries(
    {
        "cell_type": st.sampled_from(["code", "markdown", "raw"]) | JSON_VALUES,
        "source": st.sampled_from([BAD_MODEL, BAD_MODEL.splitlines(keepends=True), "%time x\n"])
        | JSON_VALUES,
    }
)
NOTEBOOKS = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"cells": st.lists(CELLS | JSON_VALUES, max_size=4)}),
    st.fixed_dictionaries({"cells": JSON_VALUES}),
)


def _lint_folder(folder: Path) -> Report:
    """Lint a folder in this process; a read that blocks fails the test instead of hanging."""

    def hung(*_: object) -> None:
        raise TimeoutError("nnlint blocked on an input")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        return lint([folder], Settings(root=folder, respect_gitignore=False), jobs=1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _assert_run_survived(report: Report) -> None:
    assert not report.errors, report.errors
    assert ("bad.py", 3, "NN101") in {(Path(f.path).name, f.line, f.code) for f in report.findings}


@FUZZ
@given(NOTEBOOKS, st.integers(0, 3), st.booleans(), st.booleans())
def test_a_notebook_of_any_json_shape_never_ends_the_run(
    tmp_path_factory: pytest.TempPathFactory, document: object, nesting: int, bom: bool, crlf: bool
) -> None:
    folder = tmp_path_factory.mktemp("nb")
    (folder / "bad.py").write_text(BAD_MODEL, encoding="utf-8")
    depth = (0, 50, 5_000, 100_000)[nesting]
    text = "[" * depth + json.dumps(document, allow_nan=True) + "]" * depth
    if crlf:
        text = text.replace("\n", "\r\n")
    (folder / "nb.ipynb").write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())
    _assert_run_survived(_lint_folder(folder))


TRAINING_KEYS = ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "lr")


@FUZZ
@given(st.dictionaries(st.sampled_from(TRAINING_KEYS) | st.text(max_size=6), JSON_VALUES))
def test_a_json_config_with_special_floats_never_ends_the_run(
    tmp_path_factory: pytest.TempPathFactory, config: dict
) -> None:
    folder = tmp_path_factory.mktemp("json")
    (folder / "bad.py").write_text(BAD_MODEL, encoding="utf-8")
    config = {"learning_rate": float("nan"), "num_train_epochs": float("inf"), **config}
    (folder / "trainer_state.json").write_text(json.dumps(config, allow_nan=True), "utf-8")
    _assert_run_survived(_lint_folder(folder))


YAML_SCALARS = st.sampled_from(
    [
        ".nan",
        ".inf",
        "-.inf",
        "1e-3",
        "0",
        "true",
        "null",
        "~",
        "'x'",
        "!!python/object:os.system x",
    ]
)


@st.composite
def yaml_with_aliases(draw: st.DrawFn) -> str:
    """Anchored mappings and sequences, then aliases and merge keys (`<<`) that reuse them,
    over one or more documents."""
    documents = []
    for _ in range(draw(st.integers(1, 3))):
        lines = ["lr: 0.001", "epochs: 3"]
        anchors = []
        for i in range(draw(st.integers(0, 4))):
            size = draw(st.integers(0, 6))
            values = ", ".join(f"k{i}_{j}: {draw(YAML_SCALARS)}" for j in range(size))
            lines.append(f"a{i}: &a{i} {{{values}}}")
            anchors.append(f"*a{i}")
        for i in range(draw(st.integers(0, 4))):
            if not anchors:
                break
            used = draw(st.lists(st.sampled_from(anchors), min_size=1, max_size=30))
            if draw(st.booleans()):
                lines.append(f"m{i}: {{<<: [{', '.join(used)}], own: {draw(YAML_SCALARS)}}}")
            else:
                lines.append(f"l{i}: [{', '.join(used)}]")
        documents.append("\n".join(lines) + "\n")
    return "---\n".join(documents)


@FUZZ
@given(yaml_with_aliases())
def test_a_yaml_config_with_aliases_and_special_floats_never_ends_the_run(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    with contextlib.suppress(ConfigSyntaxError):  # a document of another shape is fine
        load(text, ".yaml")
    folder = tmp_path_factory.mktemp("yaml")
    (folder / "bad.py").write_text(BAD_MODEL, encoding="utf-8")
    (folder / "train.yaml").write_text(text, encoding="utf-8")
    _assert_run_survived(_lint_folder(folder))


ODDITIES = (
    "fifo",
    "device",
    "dangling",
    "loop",
    "folder_named_py",
    "empty",
    "nul_bytes",
    "latin1",
    "bom_crlf",
    "long_line",
    "unreadable",
)


def _make_oddity(folder: Path, kind: str, index: int) -> None:
    path = folder / f"odd{index}.py"
    if kind == "fifo" and hasattr(os, "mkfifo"):
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(folder / "missing.py")
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "folder_named_py":
        path.mkdir()
        (path / "inner.py").write_text(BAD_MODEL.replace("Sigmoid", "ReLU"), "utf-8")
    elif kind == "nul_bytes":
        path.write_bytes(b"import torch\x00\x00\nx = 1\n")
    elif kind == "latin1":
        path.write_bytes("# coding: latin-1\nimport torch\nname = 'caf\xe9'\n".encode("latin-1"))
    elif kind == "bom_crlf":
        path.write_bytes(codecs.BOM_UTF8 + BAD_MODEL.replace("\n", "\r\n").encode())
    elif kind == "long_line":
        path.write_text("import torch\nx = " + "1 + " * 20_000 + "1\n", "utf-8")
    elif kind == "unreadable":
        path.write_text(BAD_MODEL, "utf-8")
        path.chmod(0)
    else:
        path.write_text("", "utf-8")


@FUZZ
@given(st.lists(st.sampled_from(ODDITIES), min_size=1, max_size=5))
def test_file_system_oddities_never_end_the_run_or_hang_it(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("fs")
    (folder / "bad.py").write_text(BAD_MODEL, encoding="utf-8")
    for index, kind in enumerate(kinds):
        _make_oddity(folder, kind, index)
    report = _lint_folder(folder)
    assert ("bad.py", 3, "NN101") in {(Path(f.path).name, f.line, f.code) for f in report.findings}
    assert not [e for e in report.errors if "internal error" in e or "Traceback" in e]
