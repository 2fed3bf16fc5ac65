"""The probe is contained: user code that exits, crashes or is killed inside the child
process becomes an NN918 finding, and the parent still prints its report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.test_probe import probe_cli

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed (pip install 'nnlint[probe]')",
)

TARGET = """\
import os
import signal
import sys

import torch
from torch import nn


class Dies(nn.Module):
    calls = 0

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        Dies.calls += 1
        if Dies.calls == 3:
            {ending}
        return self.fc(x)


def make():
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    return {{"model": Dies(), "loss": nn.CrossEntropyLoss(), "data": data}}
"""


@pytest.mark.parametrize(
    ("ending", "expected"),
    [
        ("sys.exit(3)", "code 3"),
        ("os._exit(1)", "code 1"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "out of memory?"),
    ],
)
def test_the_user_code_ending_the_process_is_a_finding(
    tmp_path: Path, ending: str, expected: str
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    (tmp_path / "dies.py").write_text(TARGET.format(ending=ending), encoding="utf-8")
    result = probe_cli(tmp_path, "--probe", "dies.py:make")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if " NN918 " in line]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("dies.py:9:")
    assert expected in lines[0]
    assert "Found" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dies.py", "pyproject.toml"]
