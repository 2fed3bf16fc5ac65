"""The `nnlint` pre-commit hook, installed by pre-commit from this repository (HEAD plus
uncommitted changes to tracked files), fails on a bad file and passes on a good one.

pre-commit builds the hook's environment with pip, so this needs the package index; the
environment is cached under ~/.cache/pre-commit for later runs of the same commit."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cli import BAD, GOOD

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pre_commit") is None,
    reason="pre-commit is not installed (pip install -e '.[test]')",
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("user-repo")
    (repo / "bad.py").write_text(BAD, encoding="utf-8")
    (repo / "good.py").write_text(GOOD, encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "bad.py", "good.py")
    return repo


def try_repo(cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "nnlint", "--files", *files],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_hook_fails_on_a_bad_file(user_repo: Path) -> None:
    result = try_repo(user_repo, "bad.py")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "bad.py:5:5: NN101 " in output


def test_hook_passes_on_a_good_file(user_repo: Path) -> None:
    result = try_repo(user_repo, "good.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Passed" in output
    assert "NN101" not in output
