"""Rule settings in `[tool.nnlint]`: thresholds that change what a rule reports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_cli import codes, run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIXTY_EPOCHS = FIXTURES / "NN301" / "tn_keras_sixty_epochs_validation_split.py"


@pytest.mark.parametrize(
    ("config", "reported"), [("", False), ("early-stopping-epochs = 50", True)]
)
def test_early_stopping_epochs_sets_what_counts_as_long(
    tmp_path: Path, config: str, reported: bool
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.nnlint]\n{config}\n", encoding="utf-8")
    shutil.copy(SIXTY_EPOCHS, tmp_path / "train.py")
    result = run(tmp_path, "--no-cache", "--select", "NN301", "train.py")
    assert (("train.py", "NN301") in codes(result.stdout)) is reported, result.stderr


def test_early_stopping_epochs_must_be_a_positive_integer(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.nnlint]\nearly-stopping-epochs = 0\n", encoding="utf-8"
    )
    result = run(tmp_path, "train.py")
    assert result.returncode == 2
    assert "early-stopping-epochs" in result.stderr
