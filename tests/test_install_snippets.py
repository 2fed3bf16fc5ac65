"""The README's install commands, pre-commit and GitHub Actions snippets, examples/ and the
composite action (action.yml) name things that exist: the repository URL nnlint uses, the
release tag of the current version (which the README tells maintainers to create), hooks
that .pre-commit-hooks.yaml defines and inputs that action.yml declares. The action's own
lint and SARIF steps are run here as GitHub would run them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nnlint import __version__
from nnlint.config import load_settings
from nnlint.rules import REPOSITORY
from tests.conftest import ROOT
from tests.test_cli import BAD, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

README = (ROOT / "README.md").read_text("utf-8")
TAG = f"v{__version__}"
OWNER_REPO = REPOSITORY.removeprefix("https://github.com/")
ACTION = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
WORKFLOW = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text("utf-8"))


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def test_set_up_keeps_exactly_two_commands() -> None:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert commands == [
        "python -m pip install . && nnlint fixtures/clean/\n",
        'python -m pip install torch==2.13.0 -e ".[test,probe]" && python -m pytest -q\n',
    ]


def test_repository_url_is_one_url_everywhere() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["urls"]["Repository"] == REPOSITORY
    example = (ROOT / "examples" / "github-actions.yml").read_text("utf-8")
    named = set(re.findall(r"https://github\.com/[\w.-]+/nnlint\b", README + example))
    assert named == {REPOSITORY}
    assert "OWNER" not in README
    assert "OWNER" not in example


def test_install_commands_pin_the_release_tag_of_this_version() -> None:
    commands = [line for block in blocks("bash") for line in block.splitlines()]
    git_installs = [c for c in commands if "git+" in c]
    assert git_installs, "the README gives no install from the repository"
    for command in git_installs:
        assert f'@ git+{REPOSITORY}@{TAG}"' in command, command
    assert "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu" in (
        commands
    )
    assert f"git tag {TAG} && git push origin {TAG}" in README
    assert "pip install 'nnlint[probe]'" not in README


def test_pre_commit_snippet_names_hooks_that_exist() -> None:
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    snippets = [yaml.safe_load(b) for b in blocks("yaml") if "repos:" in b]
    assert snippets
    for snippet in snippets:
        for repo in snippet["repos"]:
            assert repo["repo"] == REPOSITORY
            assert repo["rev"] == TAG
            assert {h["id"] for h in repo["hooks"]} <= hooks
    mentioned = set(re.findall(r"`- id: ([\w-]+)`|`(nnlint(?:-\w+)?)` hook", README))
    assert {name for pair in mentioned for name in pair if name} <= hooks


def test_workflows_use_the_action_at_the_release_tag() -> None:
    steps = WORKFLOW["jobs"]["nnlint"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert f"{OWNER_REPO}@{TAG}" in uses
    assert WORKFLOW["permissions"]["security-events"] == "write"
    readme_steps = [yaml.safe_load(b) for b in blocks("yaml") if "uses: " + OWNER_REPO in b]
    assert readme_steps
    for workflow in readme_steps:
        for step in workflow["jobs"]["nnlint"]["steps"]:
            if step.get("uses", "").startswith(OWNER_REPO):
                assert step["uses"] == f"{OWNER_REPO}@{TAG}"
                assert set(step.get("with", {})) <= set(ACTION["inputs"])


def test_action_installs_nnlint_from_itself_and_uploads_sarif() -> None:
    assert ACTION["runs"]["using"] == "composite"
    steps = ACTION["runs"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install nnlint")
    assert install["env"]["NNLINT_SOURCE"] == "${{ github.action_path }}"
    assert install["run"] == 'python -m pip install "$NNLINT_SOURCE"'
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["uses"] == "github/codeql-action/upload-sarif@v3"
    sarif = next(s for s in steps if s.get("name") == "SARIF report")
    written = sarif["env"]["NNLINT_SARIF"]
    assert upload["with"]["sarif_file"] == written
    assert upload["if"].startswith("always()")


def _expand(value: str, inputs: dict[str, str], temp: Path) -> str:
    value = re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: inputs[m[1]], value)
    return value.replace("${{ runner.temp }}", str(temp))


@pytest.mark.parametrize(("source", "expected"), [(BAD, 1), ("import torch\n", 0)])
def test_action_lint_and_sarif_steps_run(tmp_path: Path, source: str, expected: int) -> None:
    """The action's Lint and SARIF report steps, run with bash and the action's defaults in
    a checked-out project (nnlint already installed: the install step needs the index)."""
    project = write(tmp_path / "repo", {"train.py": source})
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    inputs = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    bin_dir = str(Path(sys.executable).parent)
    codes = {}
    for step in ACTION["runs"]["steps"]:
        if step.get("name") not in ("Lint", "SARIF report"):
            continue
        env = {k: _expand(v, inputs, temp) for k, v in step.get("env", {}).items()}
        result = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=project,
            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        codes[step["name"]] = (result.returncode, result.stdout)
    assert codes["Lint"][0] == expected
    assert ("::warning file=train.py,line=5" in codes["Lint"][1]) is (expected == 1)
    assert codes["SARIF report"][0] == 0
    log = json.loads((temp / "nnlint.sarif").read_text("utf-8"))
    assert len(log["runs"][0]["results"]) == expected


def test_readme_configuration_is_valid(tmp_path: Path) -> None:
    """The README's `[tool.nnlint]` example passes validation as written (with the schema
    file it names in place)."""
    (toml,) = blocks("toml")
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "train.schema.json").write_text("{}", encoding="utf-8")
    settings = load_settings(tmp_path / "pyproject.toml")
    assert settings.select == ["NN1", "NN2", "NN3"]
    assert settings.extend_select == ["NN107"]
