"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nnlint.config import Settings
from nnlint.engine import Report, lint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lint_text(tmp_path: Path):
    """Lint one or more source texts written to a temporary folder."""

    def run(files: dict[str, str] | str, **settings: object) -> Report:
        if isinstance(files, str):
            files = {"train.py": files}
        for name, text in files.items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            return lint([Path(".")], Settings(root=tmp_path, **settings))
        finally:
            os.chdir(cwd)

    return run


def nnlint_command() -> list[str]:
    """The installed CLI, run with this interpreter."""
    return [sys.executable, "-m", "nnlint"]
