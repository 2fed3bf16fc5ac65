"""Worker processes end when the main process is killed or interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds the workers through /proc (Linux)"
)

# A run whose two workers block forever on their tasks.
BLOCKED_RUN = """\
import time
from nnlint.workers import parallel_map


def block(_):
    time.sleep(3600)


if __name__ == "__main__":
    for _ in parallel_map(block, range(4), 2):
        pass
"""
# Generous bounds for a busy machine: waiting for an event, not timing it.
PATIENCE = 60.0


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], set[int]]:
    script = tmp_path / "blocked_run.py"
    script.write_text(BLOCKED_RUN, encoding="utf-8")
    main = subprocess.Popen([sys.executable, str(script)])
    _wait_for(lambda: len(_children(main.pid)) >= 2, "the workers never started")
    return main, _children(main.pid)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_main_process_is_killed(tmp_path: Path, sig: int) -> None:
    main, workers = _start(tmp_path)
    os.kill(main.pid, sig)
    main.wait()
    try:
        _wait_for(lambda: not any(map(_alive, workers)), "workers outlived the main process")
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_an_interrupt_ends_the_main_process_and_its_workers(tmp_path: Path) -> None:
    main, workers = _start(tmp_path)
    os.kill(main.pid, signal.SIGINT)
    try:
        main.wait(timeout=PATIENCE)
        _wait_for(lambda: not any(map(_alive, workers)), "workers outlived the interrupt")
    finally:
        if main.poll() is None:
            main.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert main.returncode != 0
