"""The parent side of `nnlint --probe`: start the child, enforce the time budget, turn its
results into nnlint findings and write the report folder. Imports no torch."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.probe.plot import PlotData, write_plot
from nnlint.rules import matches, rule_by_code

INSTALL_HINT = (
    "the probe needs PyTorch in nnlint's environment: `python -m pip install torch` "
    "(without a GPU, the smaller CPU-only build: `python -m pip install torch "
    "--index-url https://download.pytorch.org/whl/cpu`)"
)
CHECK_NAMES = ("data", "init", "gradients", "overfit", "lr-finder")
OUTPUT_LINES = 5  # lines of a script's own output shown when it exits before training
STARTUP_SHARE = 0.9  # the child plans its checks to end within this share of the budget


class ProbeUnavailable(Exception):
    """torch is not installed: say how to get it (exit 2)."""


@dataclass
class ProbeOptions:
    """`--probe` settings: from `[tool.nnlint.probe]`, then the command line."""

    target: str
    timeout: float = 180.0
    device: str = "auto"
    report_dir: Path | None = None
    lr_min: float = 1e-7
    lr_max: float = 10.0
    lr_steps: int = 100
    overfit_steps: int = 200
    overfit_batch: int = 16
    seed: int = 0
    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    progress: bool = False
    script_args: list[str] = field(default_factory=list)  # after `--`, for a script target
    module: bool = False  # the target is a module run as `python -m target`

    def child_options(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "script_args": self.script_args,
            "module": self.module,
            "device": self.device,
            "checks": {
                "device": self.device,
                "lr_min": self.lr_min,
                "lr_max": self.lr_max,
                "lr_steps": self.lr_steps,
                "overfit_steps": self.overfit_steps,
                "overfit_batch": self.overfit_batch,
                "seed": self.seed,
                "budget": self.timeout * STARTUP_SHARE,
            },
        }


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


@dataclass
class Outcome:
    """What came back from the child."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fatal: str | None = None
    timed_out: bool = False
    crashed: str | None = None
    seconds: float = 0.0

    def first(self, kind: str) -> dict[str, Any]:
        return next((e for e in self.events if e.get("event") == kind), {})

    @property
    def checks(self) -> list[dict[str, Any]]:
        return [e["result"] for e in self.events if e.get("event") == "check"]

    @property
    def skipped(self) -> list[str]:
        """The writes of a probed script that were skipped."""
        return [e["write"] for e in self.events if e.get("event") == "skipped"]

    @property
    def notes(self) -> list[str]:
        return [e["message"] for e in self.events if e.get("event") == "note"]


def run_child(options: ProbeOptions) -> Outcome:
    """Run the child with the budget; kill it (its whole process group) when time is up.
    Caches that libraries write at import (matplotlib's) go to a folder removed after."""
    with tempfile.TemporaryDirectory(prefix="nnlint-probe-") as scratch:
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLCONFIGDIR": scratch,
            "PYTHONHASHSEED": str(options.seed),  # the same run every time (seeding.py)
            # one intra-op thread unless the user says otherwise: the probe's batches are
            # small, threads that wait for busy cores slowed it 20x on a loaded 2-core
            # machine, and one thread sums in the same order on every machine
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        return _run_child(options, env)


def _run_child(options: ProbeOptions, env: dict[str, str]) -> Outcome:
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "nnlint.probe.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_tail: list[str] = []

    def read_stdout() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    def read_stderr() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            stderr_tail.append(line)
            del stderr_tail[:-40]

    threading.Thread(target=read_stdout, daemon=True).start()
    stderr_reader = threading.Thread(target=read_stderr, daemon=True)
    stderr_reader.start()
    assert process.stdin is not None
    process.stdin.write(json.dumps(options.child_options()))
    process.stdin.close()
    outcome = Outcome()
    progress = Progress(options.progress)
    progress.stage(f"loading {options.target} (starting Python and torch)")
    deadline = began + options.timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            outcome.timed_out = True
            _kill(process)
            break
        if line is None:
            break
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "progress":
            progress.show(event)
            continue
        outcome.events.append(event)
        if event.get("event") not in ("check", "start", "located"):
            progress.clear()  # a note or an error line follows
        if event.get("event") == "fatal":
            outcome.fatal = event["message"]
    progress.clear()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.poll() is None:
        _kill(process)
    outcome.seconds = round(time.monotonic() - began, 2)
    if outcome.fatal and outcome.first("fatal").get("output"):
        stderr_reader.join(timeout=5)
        tail = "".join(stderr_tail[-OUTPUT_LINES:]).rstrip()
        outcome.fatal += f"; its last output:\n{tail}" if tail else ""
    done = any(e.get("event") in ("done", "stalled") for e in outcome.events)
    if not done and not outcome.fatal and not outcome.timed_out:
        tail = "".join(stderr_tail[-15:]).rstrip()
        outcome.crashed = f"the probe's process ended with code {process.returncode}" + (
            f":\n{tail}" if tail else ""
        )
    return outcome


def _kill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


class Progress:
    """A one-line progress display on stderr, only when it is a terminal: the stage
    (loading, capture, each check) from the first second, and a bar for the checks that
    count steps. Each line overwrites the last in full, so no characters of a longer
    line are left behind."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.width = 0  # characters of the line on screen

    def stage(self, text: str) -> None:
        self._write(f"nnlint probe: {text}")

    def show(self, event: dict[str, Any]) -> None:
        check = str(event.get("check", ""))
        if "total" not in event:
            self.stage(check)
            return
        done, total = int(event.get("done", 0)), max(int(event.get("total", 1)), 1)
        filled = round(24 * min(done, total) / total)
        bar = "#" * filled + "." * (24 - filled)
        self._write(f"nnlint probe: {check:<10} [{bar}] {done}/{total}")

    def _write(self, line: str) -> None:
        if not self.enabled:
            return
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def clear(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0


def probe(options: ProbeOptions) -> tuple[Report, Outcome]:
    """Run the probe and return nnlint's report (findings, errors) and the raw outcome."""
    if not torch_available():
        raise ProbeUnavailable(INSTALL_HINT)
    outcome = run_child(options)
    report = report_of(outcome, options)
    if options.report_dir is not None:
        write_report(options, outcome, report)
    return report, outcome


def report_of(outcome: Outcome, options: ProbeOptions) -> Report:
    """nnlint's report of what the child sent: each finding at the file and line where it
    was found, the errors, and NN900/NN918 for a budget that ran out or a child that died."""
    report = Report()
    located = outcome.first("located")
    if outcome.fatal:
        report.errors.append(f"--probe {options.target}: {outcome.fatal}")
    if outcome.crashed and located is None:
        report.errors.append(f"--probe {options.target}: {outcome.crashed}")
    elif outcome.crashed:
        report.findings.extend(_died(outcome.crashed, located, options))
    for check in outcome.checks:
        for found in check["findings"]:
            finding = _finding(found, located, options)
            if finding is not None:
                report.findings.append(finding)
    stalled = outcome.first("stalled")
    if stalled and matches("NN900", options.select) and not matches("NN900", options.ignore):
        report.findings.append(_stalled(stalled, options))
    report.findings.extend(budget_findings(outcome, options))
    report.findings.sort()
    # "Found N findings in M files": the files the findings are in (a model's module, the
    # script), each finding in the file where it was found
    report.files = max(1, len({f.path for f in report.findings}))
    return report


def budget_findings(outcome: Outcome, options: ProbeOptions) -> list[Finding]:
    """NN900 naming what the time budget left unfinished (the checks it cut short or
    never let start, or the loading of the target); none after a stall or a fatal error,
    which say so themselves."""
    located, stalled = outcome.first("located"), outcome.first("stalled")
    if outcome.fatal or stalled:
        return []
    unfinished = _unfinished(outcome)
    if outcome.timed_out and not located:
        unfinished = ["loading the target (the budget ran out before any check started)"]
    if not unfinished:
        return []
    found = {
        "code": "NN900",
        "message": f"the probe's {options.timeout:g} s budget ran out; not finished: "
        + ", ".join(unfinished),
        "help": "raise --probe-timeout, or lower lr-steps / overfit-steps in "
        "[tool.nnlint.probe]; the other findings come from the checks that finished",
        "anchor": "factory",
    }
    finding = _finding(found, located, options)
    return [finding] if finding is not None else []


def _stalled(stalled: dict[str, Any], options: ProbeOptions) -> Finding:
    """NN900 for a script that never reached a training step: where it was."""
    stack = stalled.get("stack") or []
    last = stack[-1] if stack else {"file": options.target, "line": 1, "function": "?"}
    trail = " <- ".join(f"{f['function']} ({f['file']}:{f['line']})" for f in reversed(stack))
    rule = rule_by_code("NN900")
    return Finding(
        path=str(last["file"]),
        line=int(last["line"] or 1),
        col=0,
        code="NN900",
        message=f"the script reached no training step within the probe's {options.timeout:g} s "
        f"budget; it was in {trail or 'its start-up'}",
        severity=rule.severity if rule else "warning",
        help="raise --probe-timeout, or make the slow stage (data download, preprocessing) "
        "skippable by an argument and pass it after `--`",
    )


def _died(crashed: str, located: dict[str, Any], options: ProbeOptions) -> list[Finding]:
    """NN918 when the user's code ended the probe's process after the target loaded: a
    crash, `sys.exit`, or a kill (the out-of-memory killer sends SIGKILL)."""
    first, _, tail = crashed.partition("\n")
    if first.endswith(f"code {-signal.SIGKILL}:") or first.endswith(f"code {-signal.SIGKILL}"):
        first += " (SIGKILL: out of memory?)"
    last = tail.strip().splitlines()[-1] if tail.strip() else ""
    found = {
        "code": "NN918",
        "message": first.rstrip(":") + (f"; its last output: {last}" if last else ""),
        "help": "run the model on one batch outside nnlint to see the crash; the findings "
        "of the checks that finished before it are reported",
        "anchor": "model",
    }
    finding = _finding(found, located, options)
    return [finding] if finding is not None else []


def _unfinished(outcome: Outcome) -> list[str]:
    """The checks the time budget cut short or never let start."""
    statuses = {c["name"]: c for c in outcome.checks}
    names = []
    for name in CHECK_NAMES:
        check = statuses.get(name)
        if check is None and outcome.timed_out and outcome.first("located"):
            names.append(name)
        elif check is not None and check["status"] == "partial":
            names.append(f"{name} (partial)")
        elif check is not None and check.get("note") == "the time budget ran out":
            names.append(name)
    return names


def _finding(
    found: dict[str, Any], located: dict[str, Any], options: ProbeOptions
) -> Finding | None:
    code = found["code"]
    if not matches(code, options.select) or matches(code, options.ignore):
        return None
    rule = rule_by_code(code)
    path, line = _anchor(found.get("anchor", "model"), located, options)
    return Finding(
        path=path,
        line=line,
        col=0,
        code=code,
        message=found["message"],
        severity=rule.severity if rule else "warning",
        help=found.get("help", ""),
    )


def _anchor(anchor: str, located: dict[str, Any], options: ProbeOptions) -> tuple[str, int]:
    """The file and line for a finding: a submodule's definition, the model's class or the
    factory, falling back in that order, then to the target itself."""
    candidates = []
    if anchor.startswith("module:"):
        candidates.append((located.get("modules") or {}).get(anchor[len("module:") :]))
    if anchor in ("model",) or anchor.startswith("module:"):
        candidates.append(located.get("model"))
    candidates.append(located.get("factory"))
    for where in candidates:
        if where:
            return str(where[0]), int(where[1])
    return options.target.rpartition(":")[0] or options.target, 1


def _clean(value: Any) -> Any:
    """JSON without NaN/Infinity (null instead), so strict parsers read the report."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_report(options: ProbeOptions, outcome: Outcome, report: Report) -> None:
    """`probe.json` (every check's metrics and the findings) and `lr_finder.png`."""
    folder = options.report_dir
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    start = outcome.first("start")
    sweep = next((c for c in outcome.checks if c["name"] == "lr-finder" and c["metrics"]), None)
    document = {
        "target": options.target,
        "torch": start.get("torch"),
        "device": start.get("device"),
        "seconds": outcome.seconds,
        "timed_out": outcome.timed_out,
        "error": outcome.fatal or outcome.crashed,
        "skipped_writes": outcome.skipped,
        "notes": outcome.notes,
        "checks": outcome.checks,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "message": f.message,
                "help": f.help,
                "filename": f.path,
                "line": f.line,
            }
            for f in report.findings
        ],
        "plot": "lr_finder.png" if sweep else None,
    }
    (folder / "probe.json").write_text(
        json.dumps(_clean(document), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    if sweep:
        write_plot(folder / "lr_finder.png", plot_data(sweep["metrics"]))


def plot_data(metrics: dict[str, Any]) -> PlotData:
    """The plot's data from the LR finder's figures (JSON nulls for NaN back to NaN)."""

    def numbers(values: list[Any]) -> list[float]:
        return [math.nan if v is None else float(v) for v in values]

    sweeps = metrics.get("sweeps") or [metrics]
    ab = metrics.get("ab_run") or {}
    return PlotData(
        sweeps=[(s["lrs"], numbers(s["smoothed"])) for s in sweeps],
        suggested=metrics.get("suggested_lr"),
        configured=metrics.get("configured_lr"),
        ab={
            arm: numbers(ab[f"{arm}_losses"])
            for arm in ("configured", "suggested")
            if f"{arm}_losses" in ab
        },
    )
