"""One named file sees its project: `nnlint train.py` reads the `models.py` it imports and
`nnlint models.py` reads the `train.py` that trains it (pre-commit passes only the changed
files). Findings are reported in the named file; context files stay unreported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import codes, run

SOFTMAX_NET = """\
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)
"""
LOGITS_NET = SOFTMAX_NET.replace("F.softmax(self.fc2(x), dim=1)", "self.fc2(x)")
TRAIN = """\
import torch
import torch.nn as nn
from {module} import Net

torch.manual_seed(0)
model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def train_epoch(loader):
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
"""


def project(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text("[tool.nnlint]\n", encoding="utf-8")
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("cache", [["--no-cache"], []])
def test_named_training_script_sees_the_network_it_imports(tmp_path: Path, cache) -> None:
    project(tmp_path, {"models.py": SOFTMAX_NET, "train.py": TRAIN.format(module="models")})
    result = run(tmp_path, *cache, "--select", "NN102", "train.py")
    assert codes(result.stdout) == [("train.py", "NN102")], result.stderr
    assert "train.py:14:" in result.stdout  # at the loss, where train.py can act
    assert "(at models.py:13)" in result.stdout  # naming the softmax


@pytest.mark.parametrize("cache", [["--no-cache"], []])
def test_named_model_file_sees_the_loss_that_trains_it(tmp_path: Path, cache) -> None:
    project(tmp_path, {"models.py": SOFTMAX_NET, "train.py": TRAIN.format(module="models")})
    if cache:
        run(tmp_path, "--select", "NN102", "train.py")  # a cached run from the other side
    result = run(tmp_path, *cache, "--select", "NN102", "models.py")
    assert codes(result.stdout) == [("models.py", "NN102")], result.stderr
    assert "models.py:13:" in result.stdout


def test_package_module_is_found_from_the_project_root(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            "src/nets/__init__.py": "",
            "src/nets/models.py": SOFTMAX_NET,
            "src/train.py": TRAIN.format(module="nets.models"),
        },
    )
    result = run(tmp_path, "--no-cache", "--select", "NN102", "src/train.py")
    assert codes(result.stdout) == [("src/train.py", "NN102")], result.stderr


@pytest.mark.parametrize("named", ["train.py", "models.py"])
def test_logits_network_stays_clean(tmp_path: Path, named: str) -> None:
    project(tmp_path, {"models.py": LOGITS_NET, "train.py": TRAIN.format(module="models")})
    result = run(tmp_path, "--no-cache", "--select", "NN1", named)
    assert result.returncode == 0, result.stdout + result.stderr


def test_context_files_are_neither_reported_nor_counted(tmp_path: Path) -> None:
    broken = SOFTMAX_NET + "\n\nclass Head(nn.Module):\n    def forward(self, x):\n"
    broken += "        return torch.sigmoid(torch.sigmoid(x))\n"
    project(tmp_path, {"models.py": broken, "train.py": TRAIN.format(module="models")})
    result = run(tmp_path, "--no-cache", "--select", "ALL", "train.py")
    assert {path for path, _ in codes(result.stdout)} == {"train.py"}
    assert "1 file" in result.stderr


def test_no_import_of_a_module_outside_the_project(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(SOFTMAX_NET, encoding="utf-8")
    inner = project(tmp_path / "proj", {"train.py": TRAIN.format(module="models")})
    result = run(inner, "--no-cache", "--select", "NN102", "train.py")
    assert result.returncode == 0, result.stdout
