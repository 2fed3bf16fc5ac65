"""Worker processes that end with the run.

A worker ignores Ctrl-C (the main process decides, and terminates the pool when it is
interrupted) and watches its parent: when the main process is killed (SIGKILL, SIGTERM, a
crash), its workers notice that they were re-parented and exit, instead of waiting on
their task queue forever.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# How often a worker checks that its parent is alive.
PARENT_CHECK_SECONDS = 0.2


def parallel_map(
    function: Callable[[Item], Result], items: Iterable[Item], jobs: int
) -> Iterator[Result]:
    """`map(function, items)` in `jobs` worker processes, in order. Leaving the iteration
    early (an exception, an interrupt, a closed generator) terminates the workers."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with context.Pool(jobs, initializer=_start_worker, initargs=(os.getpid(),)) as pool:
        yield from pool.imap(function, items)


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
