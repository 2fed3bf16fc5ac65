"""The project's own code is ruff-clean and ruff-formatted (settings in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TARGETS = ["src", "checks", "tests", "bench"]


def _ruff() -> list[str]:
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.importorskip("ruff", reason="ruff is part of the test extra")
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff(command: list[str]) -> None:
    targets = [t for t in TARGETS if (ROOT / t).exists()]
    result = subprocess.run(
        [*_ruff(), *command, *targets], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
