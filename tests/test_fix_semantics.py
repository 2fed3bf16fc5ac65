"""Fixes keep programs right: generated models with an output activation and a loss are
linted with `--fix --unsafe-fixes`, then the original and the fixed program run on the same
random inputs. Every output other than the loss must be unchanged, and the loss too when
the fix only moves the activation into it (NN110); a fix must be applied when the model's
output is read only by the loss and by reads the change cannot affect."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.cli import main

torch = pytest.importorskip("torch", reason="running the generated programs needs torch")

UNITS = {"sigmoid": 1, "softmax": 3, "log_softmax": 3}
LOSSES = {
    ("sigmoid", "BCELoss"): ("nn.BCELoss()", "F.binary_cross_entropy"),
    ("sigmoid", "BCEWithLogitsLoss"): (
        "nn.BCEWithLogitsLoss()",
        "F.binary_cross_entropy_with_logits",
    ),
    ("softmax", "CrossEntropyLoss"): ("nn.CrossEntropyLoss()", "F.cross_entropy"),
    ("log_softmax", "CrossEntropyLoss"): ("nn.CrossEntropyLoss()", "F.cross_entropy"),
}
# Reads of the model's output: which of them the fix cannot change.
READS = {
    "argmax": ('RESULT["argmax"] = OUT.argmax(dim=1).tolist()', True),
    "max_indices": (
        '_, predicted = torch.max(OUT, 1)\n    RESULT["max"] = predicted.tolist()',
        True,
    ),
    "shape": ('RESULT["shape"] = list(OUT.shape)', True),
    "threshold": ('RESULT["positive"] = (OUT > 0.5).tolist()', False),
    "round": ('RESULT["rounded"] = OUT.round().tolist()', False),
    "log": ('RESULT["log"] = torch.log(OUT).tolist()', False),
    "mean": ('RESULT["mean"] = OUT.mean().item()', False),
    "metric": ('RESULT["metric"] = score(OUT, y)', False),
    "returned": ("return OUT", False),
}
PLACES = ("sequential", "functional", "module_attr", "method", "local")


def _activation(act: str, inner: str, place: str) -> str:
    """The activation applied to `inner`, written as `place` says."""
    if place == "module_attr":
        return f"self.act({inner})"
    if place == "method":
        return f"{inner}.sigmoid()" if act == "sigmoid" else f"{inner}.{act}(dim=1)"
    if act == "sigmoid":
        return f"torch.sigmoid({inner})"
    return f"F.{act}({inner}, dim=1)"


def _layer(act: str) -> str:
    return {"sigmoid": "nn.Sigmoid()", "softmax": "nn.Softmax(dim=1)"}.get(
        act, "nn.LogSoftmax(dim=1)"
    )


def program(act: str, loss: str, place: str, functional: bool, reads: list[str]) -> str:
    units = UNITS[act]
    lines = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", ""]
    if place == "sequential":
        lines.append(
            f"model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, {units}), "
            f"{_layer(act)})"
        )
    else:
        lines += [
            "",
            "class Net(nn.Module):",
            "    def __init__(self):",
            "        super().__init__()",
            "        self.body = nn.Linear(4, 8)",
            f"        self.out = nn.Linear(8, {units})",
        ]
        if place == "module_attr":
            lines.append(f"        self.act = {_layer(act)}")
        returned = "self.out(h)" if place == "local" else _activation(act, "self.out(h)", place)
        lines += [
            "",
            "    def forward(self, x):",
            "        h = torch.relu(self.body(x))",
            f"        return {returned}",
            "",
            "",
            "model = Net()",
        ]
    constructor, function = LOSSES[(act, loss)]
    if not functional:
        lines.append(f"criterion = {constructor}")
    call = "criterion" if not functional else function
    output = _activation(act, "model(x)", "functional") if place == "local" else "model(x)"
    lines += [
        "",
        "",
        "def score(values, y):",
        "    return float((values.detach() * 2).sum())",
        "",
        "",
        "def step(x, y):",
        f"    out = {output}",
        f"    loss = {call}(out, y)",
        '    RESULT["loss"] = loss.item()',
    ]
    lines += [f"    {READS[r][0].replace('OUT', 'out')}" for r in reads]
    run = 'RESULT["step"] = step(X, Y).tolist()' if "returned" in reads else "step(X, Y)"
    lines += ["", "", run, ""]
    return "\n".join(lines)


def run_program(source: str, act: str) -> dict:
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    y = (
        torch.randint(0, 2, (16, 1)).float()
        if act == "sigmoid"
        else torch.randint(0, UNITS[act], (16,))
    )
    namespace = {"RESULT": {}, "X": x, "Y": y, "__name__": "generated"}
    exec(compile(source, "generated.py", "exec"), namespace)
    return namespace["RESULT"]


def _close(a: object, b: object) -> bool:
    """Equal up to float rounding (NaN equals NaN: an unchanged NaN is unchanged)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        both_nan = math.isnan(a) and math.isnan(b)
        return both_nan or math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)
    return a == b


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(sorted(LOSSES)),
    st.sampled_from(PLACES),
    st.booleans(),
    st.lists(st.sampled_from(sorted(READS)), unique=True, max_size=3),
)
def test_a_fix_changes_nothing_but_what_it_is_about(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pair: tuple[str, str],
    place: str,
    functional: bool,
    reads: list[str],
) -> None:
    act, loss = pair
    source = program(act, loss, place, functional, reads)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    target = folder / "train.py"
    target.write_text(source, encoding="utf-8")
    monkeypatch.chdir(folder)
    main(["--fix", "--unsafe-fixes", "--select", "ALL", "--no-cache", "train.py"])
    fixed = target.read_text("utf-8")
    before = run_program(source, act)
    after = run_program(fixed, act)  # a fixed program that crashes fails here
    loss_is_the_fix = loss in {"CrossEntropyLoss", "BCEWithLogitsLoss"}
    for key, value in before.items():
        if key == "loss" and loss_is_the_fix and fixed != source:
            continue
        assert _close(after[key], value), f"{key} changed:\n{source}\n---\n{fixed}"
    if all(READS[r][1] for r in reads):
        assert fixed != source, f"a fix that keeps every read was not applied:\n{source}"
