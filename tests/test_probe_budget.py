"""The probe's time budget, tested with a fake clock: which checks finish, which are cut
short or skipped, and the NN900 that names them. No test here depends on how fast the
machine is: where a real child runs, its outcome cannot depend on time (it blocks
forever)."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from nnlint.probe.runner import Outcome, ProbeOptions, budget_findings
from tests.test_probe import PROBE_FIXTURES, probe_cli

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


class FakeClock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_with_clock(jump: Any, budget: float | None = 10) -> list[Any]:
    """The reference MLP's checks with a 10 s budget on a fake clock; `jump(event)`
    returns the time to set the clock to after an event (None: leave it)."""
    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415
    from nnlint.probe.target import load  # noqa: PLC0415

    clock = FakeClock()

    def emit(event: dict[str, Any]) -> None:
        moved = jump(event)
        if moved is not None:
            clock.now = moved

    bundle = load(f"{PROBE_FIXTURES / 'clean_mlp_classifier.py'}:make_probe")
    return Probe(
        bundle, Options(device="cpu", budget=budget, lr_steps=20, overfit_steps=20), emit, clock
    ).run()


@needs_torch
def test_checks_after_the_budget_are_skipped_and_named() -> None:
    def jump(event: dict[str, Any]) -> float | None:
        finished = event.get("event") == "check" and event["result"]["name"] == "init"
        return 11.0 if finished else None

    results = run_with_clock(jump)
    status = {r.name: (r.status, r.note) for r in results}
    assert status["data"][0] == status["init"][0] == "done"
    for name in ("gradients", "overfit", "lr-finder"):
        assert status[name] == ("skipped", "the time budget ran out")
    outcome = Outcome(
        events=[{"event": "located"}, *({"event": "check", "result": r.as_dict()} for r in results)]
    )
    (finding,) = budget_findings(outcome, ProbeOptions(target="t.py:make", timeout=10))
    assert finding.code == "NN900"
    assert finding.message.endswith("not finished: gradients, overfit, lr-finder")


@needs_torch
def test_a_check_cut_short_is_partial() -> None:
    def jump(event: dict[str, Any]) -> float | None:
        at_step = event.get("check") == "overfit" and event.get("done") == 5
        return 11.0 if at_step else None

    results = {r.name: r for r in run_with_clock(jump)}
    assert results["overfit"].status == "partial"
    assert results["overfit"].metrics["run"]["steps"] == 6  # the step that saw the clock
    assert results["lr-finder"].status == "skipped"
    outcome = Outcome(events=[{"event": "check", "result": r.as_dict()} for r in results.values()])
    (finding,) = budget_findings(outcome, ProbeOptions(target="t.py:make"))
    assert "overfit (partial), lr-finder" in finding.message


@needs_torch
def test_no_clock_reading_no_budget() -> None:
    """Without a budget the clock is never consulted: nothing is skipped however it moves."""
    results = run_with_clock(lambda event: 1e9, budget=None)
    assert all(r.status == "done" for r in results)


def test_nothing_unfinished_is_no_finding() -> None:
    outcome = Outcome(events=[{"event": "check", "result": {"name": "data", "status": "done"}}])
    assert budget_findings(outcome, ProbeOptions(target="t.py:make")) == []


def test_a_timed_out_load_is_named() -> None:
    (finding,) = budget_findings(Outcome(timed_out=True), ProbeOptions(target="t.py:make"))
    assert "loading the target" in finding.message


def test_a_stall_reports_itself() -> None:
    outcome = Outcome(events=[{"event": "stalled", "stack": []}], timed_out=True)
    assert budget_findings(outcome, ProbeOptions(target="t.py:make")) == []


@needs_torch
def test_the_stall_is_located_in_the_users_frames(tmp_path: Path) -> None:
    """Where the watchdog says a script was: the user's frames of the thread, outermost
    first (a thread parked in a function of a user file stands for the script)."""
    from nnlint.probe.script import user_stack  # noqa: PLC0415

    (tmp_path / "slow_stage.py").write_text(
        "def preprocess(event):\n    event.wait()\n\n\ndef main(event):\n    preprocess(event)\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import slow_stage  # noqa: PLC0415

        event = threading.Event()
        thread = threading.Thread(target=slow_stage.main, args=(event,))
        thread.start()
        try:
            while not any(f.f_code.co_name == "preprocess" for f in _frames(thread)):
                threading.Event().wait(0.01)
            stack = user_stack(sys._current_frames()[thread.ident])
        finally:
            event.set()
            thread.join()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slow_stage", None)
    mine = [(f["function"], f["line"]) for f in stack if f["file"].endswith("slow_stage.py")]
    assert mine == [("main", 6), ("preprocess", 2)]


def _frames(thread: threading.Thread) -> list[Any]:
    frame = sys._current_frames().get(thread.ident)
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


BLOCKED = """\
import threading

import torch
from torch import nn


def make_probe():
    threading.Event().wait()  # never returns: no machine is fast enough to finish
"""


@needs_torch
def test_a_target_that_never_returns_is_stopped_at_the_budget(tmp_path: Path) -> None:
    (tmp_path / "blocked.py").write_text(BLOCKED, encoding="utf-8")
    result = probe_cli(tmp_path, "--probe", "blocked.py:make_probe", "--probe-timeout", "3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert " NN900 " in result.stdout and "not finished" in result.stdout


def test_findings_are_counted_in_the_files_where_they_were_found() -> None:
    """A layer's finding at its line in models.py, an LR finding at the factory in
    train.py: "Found 2 findings in 2 files"."""
    from nnlint.probe.runner import report_of  # noqa: PLC0415

    located = {
        "event": "located",
        "factory": ["train.py", 12],
        "model": ["models.py", 3],
        "modules": {"extra": ["models.py", 7]},
    }
    found = [
        {"code": "NN904", "message": "unused", "help": "", "anchor": "module:extra"},
        {"code": "NN906", "message": "lr", "help": "", "anchor": "factory"},
    ]
    check = {"event": "check", "result": {"name": "gradients", "status": "done", "findings": found}}
    report = report_of(Outcome(events=[located, check]), ProbeOptions(target="train.py:make"))
    assert [(f.path, f.line, f.code) for f in report.findings] == [
        ("models.py", 7, "NN904"),
        ("train.py", 12, "NN906"),
    ]
    assert report.files == 2
