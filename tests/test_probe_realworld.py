"""The real-script suite: `nnlint --probe script.py` on realistic training scripts
(fixtures/probe/realworld/: CSV tutorials, full-batch and hand-sliced loops, sequence-first
and character LMs, reshaped and tuple/dict outputs, Lightning, Hugging Face), each against
the verdict in its docstring: a working script exits 0 with no finding, a broken one gets
its diagnosis. Each runs in a copy with an empty home folder that must stay empty, and one
script probed five times gives the same probe.json every time."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nnlint.rules import rule_by_code
from tests.conftest import ROOT, nnlint_command
from tests.test_probe import NO_BUDGET

SUITE = ROOT / "fixtures" / "probe" / "realworld"
VERDICT = re.compile(r"\(probe: (clean|NN\d{3}(?:, NN\d{3})*)\)")
NEEDS = {
    "lightning_classifier.py": "lightning",
    "hf_trainer_gpt2.py": "transformers",
    "hf_manual_loop.py": "transformers",
}
# Error-level findings that are right but follow from the diagnosis: a model whose every
# gradient is zero cannot over-fit a batch either.
SECONDARY = {"rounded_predictions.py": {"NN903"}}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def verdicts() -> list[tuple[str, frozenset[str]]]:
    found = []
    for path in sorted(SUITE.glob("*.py")):
        match = VERDICT.search(path.read_text("utf-8"))
        assert match, f"{path.name}: no `(probe: ...)` verdict in its docstring"
        codes = frozenset() if match[1] == "clean" else frozenset(match[1].split(", "))
        found.append((path.name, codes))
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def probe(tmp_path: Path, script: str, report: Path) -> tuple[subprocess.CompletedProcess, Any]:
    """Probe a copy of the suite's folder with an empty home; nothing may change in either.
    The budget is an hour, far above any script's time: verdicts never meet the clock."""
    work, home = tmp_path / "suite", tmp_path / "home"
    if not work.exists():
        shutil.copytree(SUITE, work)
        home.mkdir()
    before = _files(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPLCONFIGDIR"))}
    result = subprocess.run(
        [*nnlint_command(), "--probe", script, "--probe-report", str(report), *NO_BUDGET],
        cwd=work,
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert _files(work) == before, "the probe changed files next to the script"
    assert not list(home.iterdir()), "the probe wrote in the home folder"
    document = json.loads((report / "probe.json").read_text("utf-8"))
    return result, document


@pytest.mark.parametrize(("script", "codes"), verdicts(), ids=[v[0] for v in verdicts()])
def test_real_script_verdict(tmp_path: Path, script: str, codes: frozenset[str]) -> None:
    """A working script: exit 0, no finding at all. A broken one: exit 1, its diagnosis
    among the findings, and every error-level finding expected."""
    if script in NEEDS and importlib.util.find_spec(NEEDS[script]) is None:
        pytest.skip(f"{NEEDS[script]} is not installed")
    result, document = probe(tmp_path, script, tmp_path / "report")
    found = {f["code"] for f in document["findings"]}
    output = result.stdout + result.stderr
    if not codes:
        assert result.returncode == 0, output
        assert not found, output
        return
    assert result.returncode == 1, output
    assert codes <= found, f"missing {sorted(codes - found)}: {output}"
    errors = {c for c in found if rule_by_code(c).severity == "error"}
    assert errors <= codes | SECONDARY.get(script, set()), output
    assert {f["filename"] for f in document["findings"]} == {script}  # where they were found


def _stable(value: Any) -> Any:
    """probe.json without what measures the machine rather than the model (seconds)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_five_runs_give_the_same_findings_and_numbers(tmp_path: Path) -> None:
    """An unseeded script (a random model, data and shuffling) probed five times: the same
    findings, suggested LR and every check's figures each time."""
    runs = [
        probe(tmp_path, "sgd_lr_too_low.py", tmp_path / f"report{index}")[1] for index in range(5)
    ]
    first = runs[0]
    assert first["findings"], "the run this test compares found nothing"
    for document in runs[1:]:
        assert document["findings"] == first["findings"]
        assert _stable(document["checks"]) == _stable(first["checks"])
