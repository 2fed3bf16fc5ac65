"""Zero-config probe: `nnlint --probe train.py [-- args]` on unmodified training scripts
(fixtures/probe/scripts/), run in a copy so that any write the probe let through shows."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, nnlint_command
from tests.test_probe import NO_BUDGET

SCRIPTS = ROOT / "fixtures" / "probe" / "scripts"
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_script(tmp_path: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess[str]:
    """Probe a copy of the scripts folder, with an empty home folder; assert the probe wrote
    nothing in either (caches, logs, checkpoints) and nothing else under tmp_path but the
    report folder."""
    work, home = tmp_path / "scripts", tmp_path / "home"
    shutil.copytree(SCRIPTS, work)
    home.mkdir()
    before = _files(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPLCONFIGDIR"))}
    result = subprocess.run(
        [*nnlint_command(), *([] if "--probe-timeout" in args else NO_BUDGET), "--probe", *args],
        cwd=work,
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert _files(work) == before, "the probe changed files next to the script"
    assert not list(home.iterdir()), "the probe wrote in the home folder"
    assert {p.name for p in tmp_path.iterdir()} <= {"scripts", "home", "report"}
    return result


def _codes(stdout: str) -> set[str]:
    return {line.split()[1] for line in stdout.splitlines() if ": NN9" in line}


HAS = {name: importlib.util.find_spec(name) is not None for name in ("lightning", "transformers")}

# (script, its arguments, the factory fixture with the same model, data and optimizer)
TWINS = [
    ("clean_loop.py", [], "clean_mlp_classifier.py"),
    ("config_train.py", ["--config", "configs/base.yaml"], "clean_mlp_classifier.py"),
    ("config_train.py", ["--config", "configs/lr_high.yaml"], "broken_lr_too_high.py"),
    ("config_train.py", ["--config", "configs/lr_low.yaml"], "broken_lr_too_low.py"),
    ("broken_softmax_loop.py", [], "broken_softmax_ce.py"),
    ("broken_relu_logits_loop.py", [], "broken_relu_logits.py"),
    ("broken_frozen_loop.py", [], "broken_frozen.py"),
    ("broken_detached_loop.py", [], "broken_detached_output.py"),
    ("broken_unused_layer_loop.py", [], "broken_unused_layer.py"),
    ("broken_nan_loop.py", [], "broken_nan_mid_network.py"),
    ("broken_summed_loss.py", [], "broken_summed_loss.py"),
    ("clean_lightning_fit.py", [], "clean_lightning.py"),
    ("clean_tuple_output.py", [], "clean_mlp_classifier.py"),
]
TIMINGS: dict[str, float] = {}


def _factory_codes(twin: str) -> set[str]:
    """The twin's verdict in factory mode, run in this process."""
    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415 - imports torch
    from nnlint.probe.target import load  # noqa: PLC0415

    folder = SCRIPTS.parent
    target = twin if twin == "clean_lightning.py" else f"{twin}:make_probe"
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        results = Probe(load(target), Options(device="cpu")).run()  # no budget: no clock
    finally:
        os.chdir(cwd)
    return {f.code for r in results for f in r.findings}


@needs_torch
@pytest.mark.parametrize(
    ("script", "arguments", "twin"), TWINS, ids=[f"{t[0]} {' '.join(t[1])}" for t in TWINS]
)
def test_zero_config_verdict_matches_its_factory_twin(
    tmp_path: Path, script: str, arguments: list[str], twin: str
) -> None:
    """The unmodified script gives the same findings as the factory that hands the probe
    the same model, data and optimizer; nothing next to the script changes."""
    if "lightning" in script and not HAS["lightning"]:
        pytest.skip("lightning is not installed")
    report = tmp_path / "report"
    began = time.monotonic()
    result = run_script(tmp_path, script, "--probe-report", str(report), "--", *arguments)
    TIMINGS[script + " ".join(arguments)] = time.monotonic() - began
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert _codes(result.stdout) == _factory_codes(twin), result.stdout
    assert sorted(p.name for p in report.iterdir()) in (
        ["lr_finder.png", "probe.json"],
        ["probe.json"],
    )


@needs_torch
def test_hugging_face_trainer_script_is_probed_through_its_own_loop(tmp_path: Path) -> None:
    if not HAS["transformers"]:
        pytest.skip("transformers is not installed")
    report = tmp_path / "report"
    result = run_script(tmp_path, "clean_hf_trainer.py", "--probe-report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "os.makedirs('bert-out')" in result.stderr  # the Trainer's output folder
    assert "a Trainer checkpoint in 'bert-out'" in result.stderr
    document = json.loads((report / "probe.json").read_text("utf-8"))
    checks = {c["name"]: c["metrics"] for c in document["checks"]}
    assert checks["overfit"]["run"]["loop_steps"] == checks["overfit"]["run"]["steps"] > 0
    # the first sweep runs in the script's loop; a loop whose epochs run out hands the
    # later sweeps' remaining steps to the probe's own
    first = checks["lr-finder"]["sweeps"][0]
    assert first["loop_steps"] == len(first["losses"]) > 10


@needs_torch
@pytest.mark.parametrize("workers", ["0", "1"])
def test_over_fit_and_lr_sweep_run_through_the_scripts_own_loop(
    tmp_path: Path, workers: str
) -> None:
    """Also with a persistent worker process, whose loader must not be iterated twice."""
    report = tmp_path / "report"
    result = run_script(
        tmp_path, "clean_loop.py", "--probe-report", str(report), "--", "--workers", workers
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((report / "probe.json").read_text("utf-8"))
    checks = {c["name"]: c["metrics"] for c in document["checks"]}
    assert checks["overfit"]["run"]["loop_steps"] == checks["overfit"]["run"]["steps"] > 0
    # the first sweep runs in the script's loop; a loop whose epochs run out hands the
    # later sweeps' remaining steps to the probe's own
    first = checks["lr-finder"]["sweeps"][0]
    assert first["loop_steps"] == len(first["losses"]) > 10


@needs_torch
def test_module_target_runs_like_python_dash_m(tmp_path: Path) -> None:
    work = tmp_path / "project"
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "__init__.py").write_text("")
    for name in ("clean_loop.py", "toydata.py"):
        shutil.copy(SCRIPTS / name, work / "pkg" / name)
    text = (work / "pkg" / "clean_loop.py").read_text("utf-8")
    (work / "pkg" / "clean_loop.py").write_text(text.replace("from toydata", "from pkg.toydata"))
    result = subprocess.run(
        [*nnlint_command(), "--probe", "-m", "pkg.clean_loop", "--", "--epochs", "30"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch.save(..., 'model.pt')" in result.stderr


@needs_torch
def test_a_crash_before_training_shows_the_scripts_own_frames(tmp_path: Path) -> None:
    result = run_script(tmp_path, "crash_before_training.py")
    assert result.returncode == 2
    assert "crash_before_training.py:12: in <module>: RuntimeError: mat1 and mat2" in result.stderr
    assert "line 12, in <module>" in result.stderr
    assert "site-packages" not in result.stderr and "nnlint/probe" not in result.stderr


@needs_torch
def test_a_failed_download_is_reported_as_one(tmp_path: Path) -> None:
    result = run_script(tmp_path, "download_first.py")
    assert result.returncode == 2
    assert "the script's download failed before its first training step" in result.stderr
    assert "download_first.py:8: in fetch" in result.stderr


def test_script_targets_are_told_apart_from_factories() -> None:
    from nnlint.probe.script import is_script  # noqa: PLC0415 - imports torch

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    assert is_script(str(SCRIPTS / "clean_loop.py"))
    assert not is_script(f"{SCRIPTS / 'clean_loop.py'}:main")
    assert not is_script(str(ROOT / "fixtures" / "probe" / "clean_lightning.py"))
    assert not is_script("pkg.module:make_probe")


@needs_torch
def test_clean_loop_with_arguments_is_clean_and_its_checkpoint_is_skipped(tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = run_script(
        tmp_path, "clean_loop.py", "--probe-report", str(report), "--", "--out", "ck.pt"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _codes(result.stdout)
    assert "skipped a write of the script: clean_loop.py:24: torch.save(..., 'ck.pt')" in (
        result.stderr
    )
    document = (report / "probe.json").read_text("utf-8")
    assert "ck.pt" in document and '"status": "done"' in document


@needs_torch
def test_script_arguments_reach_the_script(tmp_path: Path) -> None:
    result = run_script(tmp_path, "clean_loop.py", "--", "--no-such-option")
    assert result.returncode == 2
    assert "exited with code 2 without a training step" in result.stderr
    assert "its last output:" in result.stderr  # the script's own usage error says why
    assert "error: unrecognized arguments: --no-such-option" in result.stderr
    assert "unrecognized arguments" not in result.stdout


@needs_torch
def test_functional_summed_loss_through_the_loop_matches_its_factory_twin(
    tmp_path: Path,
) -> None:
    result = run_script(tmp_path, "broken_summed_loss.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _codes(result.stdout) == {"NN902"}  # as fixtures/probe/broken_summed_loss.py
    assert result.stdout.startswith("broken_summed_loss.py:18:1: NN902")  # the backward line


@needs_torch
def test_script_without_a_training_step_cannot_be_probed(tmp_path: Path) -> None:
    result = run_script(tmp_path, "no_training.py")
    assert result.returncode == 2
    assert "the script finished without a training step" in result.stderr


@needs_torch
def test_a_script_that_never_reaches_a_step_is_nn900(tmp_path: Path) -> None:
    """The script sleeps for ten minutes before training: however slow the machine, the 6 s
    budget runs out first (where it was is tested with a parked thread in
    test_probe_budget.py, not against the clock)."""
    result = run_script(tmp_path, "stalled_preprocessing.py", "--probe-timeout", "6")
    assert result.returncode == 1, result.stdout + result.stderr
    assert " NN900 " in result.stdout


@needs_torch
@pytest.mark.parametrize(
    ("script", "configured"),
    [("clean_accumulate_schedule.py", 0.01), ("clean_dict_batches.py", 0.001)],
)
def test_loop_variants_are_probed_through_the_loop(
    tmp_path: Path, script: str, configured: float
) -> None:
    """Gradient accumulation, a scheduler (its peak is the configured LR), a new loader each
    epoch; dict batches given to the model as a keyword argument."""
    report = tmp_path / "report"
    result = run_script(tmp_path, script, "--probe-report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {
        c["name"]: c["metrics"] for c in json.loads((report / "probe.json").read_text())["checks"]
    }
    assert checks["overfit"]["run"]["loop_steps"] == checks["overfit"]["run"]["steps"] > 0
    # the first sweep runs in the script's loop; a loop whose epochs run out hands the
    # later sweeps' remaining steps to the probe's own
    first = checks["lr-finder"]["sweeps"][0]
    assert first["loop_steps"] == len(first["losses"]) > 10
    assert checks["lr-finder"]["configured_lr"] == pytest.approx(configured)


@needs_torch
def test_a_gan_is_not_judged_as_one_model(tmp_path: Path) -> None:
    result = run_script(tmp_path, "gan_not_probed.py")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "an adversarial or alternating set-up (a GAN?)" in result.stderr
    assert not _codes(result.stdout)


@needs_torch
def test_a_script_that_raises_during_the_sweep_is_noted_and_the_sweep_finishes(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report"
    result = run_script(tmp_path, "clean_divergence_guard.py", "--probe-report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the script raised RuntimeError while the probe trained through its loop" in (
        result.stderr
    )
    sweep = next(
        c["metrics"]
        for c in json.loads((report / "probe.json").read_text())["checks"]
        if c["name"] == "lr-finder"
    )
    assert 0 < sweep["loop_steps"] < len(sweep["losses"])  # the rest outside the loop
