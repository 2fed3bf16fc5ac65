"""The probe's child process: `python -m nnlint.probe.child`, options as JSON on stdin.

It speaks JSON lines on the stdout it was started with; the user's own prints go to
stderr (fd 1 is pointed there), so they cannot corrupt the protocol. Events: `start`,
`located` (where the factory and the model are defined), `progress`, `check` (one per
finished check), `fatal` (the target cannot be probed; exit code 2) and `done`.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import time
import traceback
from typing import Any

from nnlint.probe.target import display, user_file, user_frames


def main() -> int:
    began = time.monotonic()
    sys.dont_write_bytecode = True  # importing the user's code must write nothing
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    options = json.loads(sys.stdin.read())

    def emit(event: dict[str, Any]) -> None:
        protocol.write(json.dumps(event, default=_jsonable) + "\n")

    try:
        import torch  # noqa: PLC0415 - the probe's only torch import point

        from nnlint.probe.checks import CheckFailed, Options, Probe, pick_device  # noqa: PLC0415
        from nnlint.probe.guards import failed_download  # noqa: PLC0415
        from nnlint.probe.script import is_script, run_script  # noqa: PLC0415
        from nnlint.probe.seeding import seed_everything  # noqa: PLC0415
        from nnlint.probe.target import TargetError, load  # noqa: PLC0415
    except ImportError as error:
        emit({"event": "fatal", "message": f"cannot import torch: {error}"})
        return 2
    try:
        device = pick_device(options.get("device", "auto"))
        emit({"event": "start", "torch": torch.__version__, "device": str(device)})
        checks = dict(options["checks"])
        module = bool(options.get("module"))
        script = module or is_script(options["target"])
        stage = "capture: running the script to its first training step" if script else "loading"
        emit({"event": "progress", "check": f"{stage} ({options['target']})"})
        seed_everything(int(checks.get("seed", 0)))  # before the target builds anything
        if script:

            def make_probe(bundle: Any, capture: Any) -> Any:
                if checks.get("budget") is not None:
                    checks["budget"] = max(checks["budget"] - (time.monotonic() - began), 1.0)
                located = locate(bundle)
                located["factory"] = capture.backward_at
                emit({"event": "located", **located})
                probe = Probe(bundle, Options(**checks), emit)
                probe.step_at = capture.backward_at
                probe.device = next(bundle.model.parameters()).device  # where the script put it
                return probe

            budget = checks.get("budget")
            left = None if budget is None else budget - (time.monotonic() - began)
            run_script(
                options["target"],
                options.get("script_args", []),
                left,
                emit,
                make_probe,
                module=module,
            )
        else:
            bundle = load(options["target"])
            located = locate(bundle)
            emit({"event": "located", **located})
            probe = Probe(bundle, Options(**checks), emit)
            probe.step_at = located["factory"]
            probe.run()
    except TargetError as error:
        emit({"event": "fatal", "message": str(error), "output": error.show_output})
        return 2
    except CheckFailed as error:
        emit({"event": "fatal", "message": check_error(error), "user_code": True})
        return 2
    except Exception as error:
        message = user_error(error)
        network = failed_download(error)
        if network is not None:
            message = (
                f"the script's download failed before its first training step "
                f"({type(network).__name__}: {network}): the probe runs offline, so that "
                "nothing is written outside its report; fetch the data or model once with a "
                "normal run (or pass a local path after `--`), then probe again\n" + message
            )
        emit({"event": "fatal", "message": message, "user_code": True})
        return 2
    emit({"event": "done"})
    protocol.close()
    return 0


def user_error(error: BaseException) -> str:
    """The exception with the user's frames only (not nnlint's or torch's)."""
    frames = user_frames(traceback.extract_tb(error.__traceback__))
    head = f"{type(error).__name__}: {error}"
    if not frames:
        return f"{head} (raised inside a library, with no frame in your files)"
    last = frames[-1]
    lines = [f"{display(last.filename)}:{last.lineno}: in {last.name}: {head}"]
    lines += [
        f"  File {display(f.filename)!r}, line {f.lineno}, in {f.name}\n    {f.line}"
        for f in frames
    ]
    return "\n".join(lines)


def check_error(error: Any) -> str:
    """A check that could not run the training step: which check, where the step is, the
    exception with the user's frames; when none of them is the user's (it failed inside
    torch while the probe replayed the step), what to do instead."""
    cause = error.__cause__ or error
    at = f" captured at {error.at[0]}:{error.at[1]}" if error.at else ""
    head = f"the probe's {error.check} check could not run the training step{at}"
    frames = user_frames(traceback.extract_tb(cause.__traceback__))
    if frames:
        return f"{head}:\n{user_error(cause)}"
    return (
        f"{head}: {type(cause).__name__}: {cause} (raised in torch, not in your code: the "
        "probe's replay of this step does not fit the script; write a factory "
        "(train.py:make_probe) returning the model, the loss, the data and, for batches of "
        "another shape, `unpack`)"
    )


def _source_line(obj: Any) -> tuple[str, int] | None:
    try:
        filename = inspect.getsourcefile(obj)
        if filename is None or not user_file(filename):
            return None
        return display(filename), inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None


def locate(bundle: Any) -> dict[str, Any]:
    """Where findings go: the factory, the model's class, and its submodules' definitions
    (the line `self.name = ...` in the class that owns each)."""
    model = bundle.model
    factory = _source_line(bundle.factory) if bundle.factory is not None else None
    model_line = _source_line(type(model)) or factory
    modules: dict[str, tuple[str, int]] = {}
    for name, _ in model.named_modules():
        if not name:
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        where = _attribute_line(type(parent), attr)
        if where:
            modules[name] = where
    return {"factory": factory, "model": model_line, "modules": modules}


def _attribute_line(cls: type, attr: str) -> tuple[str, int] | None:
    found = _source_line(cls)
    if found is None:
        return None
    try:
        lines, start = inspect.getsourcelines(cls)
    except (TypeError, OSError):
        return None
    pattern = re.compile(rf"\bself\.{re.escape(attr)}\s*(:[^=]*)?=")
    for offset, line in enumerate(lines):
        if pattern.search(line):
            return found[0], start + offset
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, set):
        return list(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
