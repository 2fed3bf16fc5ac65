"""`--fix`, `--unsafe-fixes` and `--diff`: expected rewrites, idempotence and safe writes."""

from __future__ import annotations

import ast
import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlint import fixes
from nnlint.config import Settings
from nnlint.engine import lint
from nnlint.findings import Finding
from nnlint.fixes import apply_fixes, write_atomically
from tests.test_cli import BAD, run, write

PAIRS = Path(__file__).parent / "data" / "fixes"


@pytest.mark.parametrize("name", sorted(p.name[:-6] for p in PAIRS.glob("*.in.py")))
def test_fix_gives_the_expected_code_and_a_second_run_changes_nothing(
    tmp_path: Path, name: str
) -> None:
    write(tmp_path, {})
    target = tmp_path / "train.py"
    shutil.copy(PAIRS / f"{name}.in.py", target)
    options = ["--fix", "--unsafe-fixes", "--no-cache", "--extend-select", "NN110"]
    run(tmp_path, *options, "train.py")
    assert target.read_text("utf-8") == (PAIRS / f"{name}.out.py").read_text("utf-8")
    again = run(tmp_path, *options, "train.py")
    assert "fixed 0 findings" in again.stderr
    assert target.read_text("utf-8") == (PAIRS / f"{name}.out.py").read_text("utf-8")


def test_safe_fixes_only_without_unsafe_fixes(tmp_path: Path) -> None:
    write(tmp_path, {})
    target = tmp_path / "train.py"
    shutil.copy(PAIRS / "softmax_and_shuffle.in.py", target)
    result = run(tmp_path, "--fix", "--no-cache", "train.py")
    fixed = target.read_text("utf-8")
    assert "shuffle=True" in fixed
    assert "nn.Softmax(dim=1)" in fixed
    assert "fixed 1 findings" in result.stderr
    assert result.returncode == 1  # the unsafe ones remain


def test_concise_output_marks_fixable_findings(tmp_path: Path) -> None:
    write(tmp_path, {})
    shutil.copy(PAIRS / "softmax_and_shuffle.in.py", tmp_path / "train.py")
    lines = run(tmp_path, "--no-cache", "train.py").stdout.splitlines()
    marked = {line.split(": ")[1].split()[0]: "[*]" in line for line in lines}
    assert marked["NN202"] is True
    assert marked["NN102"] is False
    lines = run(tmp_path, "--no-cache", "--unsafe-fixes", "train.py").stdout.splitlines()
    assert all("[*]" in line for line in lines)


def test_diff_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, {})
    target = tmp_path / "train.py"
    shutil.copy(PAIRS / "softmax_and_shuffle.in.py", target)
    before = target.read_bytes()
    result = run(tmp_path, "--diff", "--no-cache", "train.py")
    assert result.returncode == 1
    assert "+    shuffle=True," in result.stdout
    assert target.read_bytes() == before


def test_fix_keeps_mode_and_crlf_line_endings(tmp_path: Path) -> None:
    write(tmp_path, {})
    target = tmp_path / "train.py"
    text = (PAIRS / "softmax_and_shuffle.in.py").read_text("utf-8").replace("\n", "\r\n")
    target.write_bytes(text.encode())
    target.chmod(0o754)
    run(tmp_path, "--fix", "--no-cache", "train.py")
    fixed = target.read_bytes()
    assert b"shuffle=True,\r\n" in fixed
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    assert stat.S_IMODE(target.stat().st_mode) == 0o754


def test_a_fix_that_would_not_parse_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "train.py"
    shutil.copy(PAIRS / "softmax_and_shuffle.in.py", target)
    before = target.read_bytes()

    def broken(_: str) -> None:
        raise SyntaxError("invalid syntax")

    monkeypatch.setattr(fixes.ast, "parse", broken)
    finding = Finding(str(target), 25, 15, "NN202", "training DataLoader does not shuffle")
    outcome = apply_fixes([finding], unsafe=False, write=True)
    assert outcome.applied == 0
    assert "would not parse" in outcome.problems[0]
    assert target.read_bytes() == before


def test_an_interrupted_write_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "train.py"
    target.write_text(BAD, encoding="utf-8")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fixes.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, "changed\n")
    assert target.read_text("utf-8") == BAD
    assert os.listdir(tmp_path) == ["train.py"]


def test_zero_grad_and_adamw_rewrites(tmp_path: Path) -> None:
    source = (
        "import torch\n"
        "from torch.optim import Adam\n"
        "opt = Adam(model.parameters(), lr=1e-3, weight_decay=0.01)\n"
        "sgd = torch.optim.Adam(model.parameters(), weight_decay=0.01)\n"
        "for x, y in loader:\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n"
    )
    target = tmp_path / "train.py"
    target.write_text(source, encoding="utf-8")
    findings = [
        Finding(str(target), 3, 6, "NN402", "Adam with weight_decay"),
        Finding(str(target), 4, 6, "NN402", "Adam with weight_decay"),
        Finding(str(target), 5, 0, "NN303", "the loop never resets the gradients"),
    ]
    outcome = apply_fixes(findings, unsafe=True, write=True)
    assert outcome.applied == 3
    assert target.read_text("utf-8") == (
        "import torch\n"
        "from torch.optim import Adam, AdamW\n"
        "opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)\n"
        "sgd = torch.optim.AdamW(model.parameters(), weight_decay=0.01)\n"
        "for x, y in loader:\n"
        "    opt.zero_grad()\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n"
    )


def _output_softmax(layers: list[str]) -> int | None:
    """Index of a softmax that is the model's output (only dropout after it)."""
    for index in range(len(layers) - 1, -1, -1):
        if layers[index] == "nn.Softmax(dim=1)":
            return index
        if layers[index] != "nn.Dropout(0.1)":
            return None
    return None


ACTIVATIONS = ["nn.ReLU()", "nn.Softmax(dim=1)", "nn.Dropout(0.1)", "nn.Linear(8, 8)"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=6), st.booleans())
def test_generated_fixes_parse_keep_other_code_and_are_idempotent(
    tmp_path_factory: pytest.TempPathFactory, layers: list[str], trailing: bool
) -> None:
    folder = tmp_path_factory.mktemp("gen")
    write(folder, {})
    body = "".join(f"    {layer},\n" for layer in layers)
    if not trailing:
        body = body.rstrip(",\n") + "\n"
    source = (
        "import torch.nn as nn\n\n"
        f"model = nn.Sequential(\n    nn.Linear(4, 8),\n{body})\n"
        "loss = nn.CrossEntropyLoss()(model(x), y)\n"
    )
    target = folder / "train.py"
    target.write_text(source, encoding="utf-8")
    run(folder, "--fix", "--unsafe-fixes", "--no-cache", "train.py")
    fixed = target.read_text("utf-8")
    tree = ast.parse(fixed)
    expected = ["nn.Linear(4, 8)", *layers]
    while _output_softmax(expected) is not None:
        del expected[_output_softmax(expected)]
    call = tree.body[1].value
    assert [ast.unparse(a) for a in call.args] == expected, (source, fixed)
    assert ast.unparse(tree.body[2]) == "loss = nn.CrossEntropyLoss()(model(x), y)"
    again = run(folder, "--fix", "--unsafe-fixes", "--no-cache", "train.py")
    assert "fixed 0 findings" in again.stderr
    assert target.read_text("utf-8") == fixed


def _lint_and_fix(folder: Path, source: str) -> tuple[str, fixes.FixOutcome]:
    """Write train.py, lint it with every rule and apply every fix once."""
    target = folder / "train.py"
    target.write_text(source, encoding="utf-8")
    report = lint([target], Settings(select=["ALL"], root=folder))
    outcome = apply_fixes(report.findings, unsafe=True, write=True)
    return target.read_text("utf-8"), outcome


MODULE_ATTRIBUTE_SIGMOID = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 16)
        self.l3 = nn.Linear(16, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        out = torch.relu(self.l1(x))
        y_pred = self.sigmoid(self.l3(out))
        return y_pred


model = Net()
criterion = nn.BCELoss()


def step(x, y):
    return criterion(model(x), y)
"""


def test_a_module_attribute_activation_becomes_its_input_never_its_receiver(
    tmp_path: Path,
) -> None:
    fixed, outcome = _lint_and_fix(tmp_path, MODULE_ATTRIBUTE_SIGMOID)
    assert "        y_pred = self.l3(out)\n" in fixed
    assert "criterion = nn.BCEWithLogitsLoss()" in fixed
    assert outcome.applied == 2


_RETURNED = "return self.softmax(self.l3(out))"


def test_nn102_return_self_softmax_becomes_the_logits(tmp_path: Path) -> None:
    source = (
        MODULE_ATTRIBUTE_SIGMOID.replace("nn.Sigmoid()", "nn.Softmax(dim=1)")
        .replace("self.sigmoid", "self.softmax")
        .replace("nn.Linear(16, 1)", "nn.Linear(16, 4)")
        .replace("nn.BCELoss()", "nn.CrossEntropyLoss()")
        .replace(
            "        y_pred = self.softmax(self.l3(out))\n        return y_pred",
            "        return self.softmax(self.l3(out))",
        )
    )
    fixed, _ = _lint_and_fix(tmp_path, source)
    assert "        return self.l3(out)\n" in fixed


def test_the_activation_is_found_inside_a_call_chain_that_starts_at_the_same_place(
    tmp_path: Path,
) -> None:
    source = MODULE_ATTRIBUTE_SIGMOID.replace(
        "self.sigmoid(self.l3(out))", "torch.sigmoid(self.l3(out)).squeeze(1)"
    )
    fixed, _ = _lint_and_fix(tmp_path, source)
    assert "        y_pred = self.l3(out).squeeze(1)\n" in fixed


@pytest.mark.parametrize(
    "read",
    [
        "acc = (model(x).round() == y).float().mean()",
        "positive = model(x) > 0.5",
        "g_loss = -torch.log(model(x)).mean()",
        "auc = roc_auc_score(y, model(x).detach())",
        "print(model(x))",
    ],
)
def test_no_activation_fix_when_the_output_is_also_read_as_probabilities(
    tmp_path: Path, read: str
) -> None:
    source = MODULE_ATTRIBUTE_SIGMOID + f"\n\ndef report(x, y):\n    {read}\n"
    fixed, outcome = _lint_and_fix(tmp_path, source)
    assert fixed == source
    assert any("NN110 not fixed" in note for note in outcome.notes)


def test_a_shuffle_set_by_a_variable_is_not_a_safe_fix(tmp_path: Path) -> None:
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n\n"
        "train_shuffle = False\n"
        "train_ds = TensorDataset(torch.randn(8, 2), torch.randn(8))\n"
        "train_loader = DataLoader(train_ds, batch_size=4, shuffle=train_shuffle)\n"
    )
    target = tmp_path / "train.py"
    target.write_text(source, encoding="utf-8")
    finding = Finding(str(target), 6, 15, "NN202", "training DataLoader does not shuffle")
    outcome = apply_fixes([finding], unsafe=False, write=True)
    assert target.read_text("utf-8") == source
    assert outcome.applied == 0
    assert "NN202 not fixed" in outcome.notes[0]


def test_an_activation_argument_of_another_call_is_unwrapped_not_dropped(
    tmp_path: Path,
) -> None:
    source = (
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n"
        "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))\n"
        "criterion = nn.CrossEntropyLoss()\n\n\n"
        "def step(x, y):\n    return criterion(F.softmax(model(x), dim=1), y)\n"
    )
    fixed, _ = _lint_and_fix(tmp_path, source)
    assert "    return criterion(model(x), y)\n" in fixed


SOFTMAX_NET = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)


model = Net().to("cpu")
criterion = nn.CrossEntropyLoss()


def step(x, y):
    out = model(x)
    loss = criterion(out, y)
    _, predicted = torch.max(out.data, 1)
    return loss, (predicted == y).sum().item()
"""


@pytest.mark.parametrize(
    ("extra", "fixed"),
    [
        ("", True),
        ("parallel = nn.DataParallel(model)\nloss = criterion(parallel(x), y)\n", True),
        ("torch.save(model, 'model.pt')\n", False),
        ("probs = model(x)[:, 1]\n", False),
        ("top = model(x).argmax(dim=0)\n", False),
    ],
)
def test_an_activation_fix_follows_the_model_through_the_file(
    tmp_path: Path, extra: str, fixed: bool
) -> None:
    source = SOFTMAX_NET + extra
    result, _ = _lint_and_fix(tmp_path, source)
    assert ("return self.fc(x)" in result) is fixed, result


def test_no_activation_fix_when_a_neighbouring_module_imports_the_model(tmp_path: Path) -> None:
    (tmp_path / "evaluate.py").write_text(
        "from train import Net\n\nprint(Net()(x) > 0.5)\n", encoding="utf-8"
    )
    result, outcome = _lint_and_fix(tmp_path, SOFTMAX_NET)
    assert result == SOFTMAX_NET
    assert "evaluate.py imports what this fix changes" in outcome.notes[0]


def test_an_unwrapped_argument_keeps_its_precedence(tmp_path: Path) -> None:
    source = MODULE_ATTRIBUTE_SIGMOID.replace(
        "        y_pred = self.sigmoid(self.l3(out))\n        return y_pred",
        "        return torch.sigmoid(self.l3(out) + 1.0).squeeze(1)",
    )
    fixed, _ = _lint_and_fix(tmp_path, source)
    assert "        return (self.l3(out) + 1.0).squeeze(1)\n" in fixed


def test_no_nn110_fix_when_the_renamed_loss_also_takes_another_models_probabilities(
    tmp_path: Path,
) -> None:
    source = (
        "import torch\nimport torch.nn as nn\n\n"
        "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())\n"
        "other = nn.Linear(4, 1)\n"
        "criterion = nn.BCELoss()\n\n\n"
        "def step(x, y):\n"
        "    return criterion(model(x), y) + criterion(torch.sigmoid(other(x)), y)\n"
    )
    target = tmp_path / "train.py"
    target.write_text(source, encoding="utf-8")
    report = lint([target], Settings(select=["ALL"], root=tmp_path))
    sequential = [f for f in report.findings if f.code == "NN110" and f.line == 4]
    assert sequential, report.findings
    outcome = apply_fixes(sequential, unsafe=True, write=True)
    assert target.read_text("utf-8") == source
    assert "NN110 not fixed" in outcome.notes[0]
