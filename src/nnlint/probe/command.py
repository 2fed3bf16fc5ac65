"""`nnlint --probe`: options from `[tool.nnlint.probe]` and the command line."""

from __future__ import annotations

import argparse
import sys

from nnlint.config import ConfigError, Settings
from nnlint.probe.runner import ProbeOptions

KEYS = {
    "lr-min": "lr_min",
    "lr-max": "lr_max",
    "lr-steps": "lr_steps",
    "overfit-steps": "overfit_steps",
    "overfit-batch": "overfit_batch",
    "seed": "seed",
    "timeout": "timeout",
    "device": "device",
}


def probe_options(settings: Settings, args: argparse.Namespace) -> ProbeOptions:
    """The command line over `[tool.nnlint.probe]` over the defaults."""
    table = dict(settings.probe)
    module = getattr(args, "probe_module", None)
    target = module or args.probe or table.get("target")
    if not target:
        raise ConfigError(
            "--probe needs a target (pkg.module:factory or path/to/train.py:factory), on the "
            "command line or as `target` in [tool.nnlint.probe]"
        )
    options = ProbeOptions(
        target=str(target),
        script_args=list(getattr(args, "script_args", [])),
        module=bool(module),
    )
    for key, attribute in KEYS.items():
        if key in table:
            setattr(options, attribute, table[key])
    if "report-dir" in table:
        options.report_dir = settings.root / str(table["report-dir"])
    if args.probe_timeout is not None:
        options.timeout = args.probe_timeout
    if args.device is not None:
        options.device = args.device
    if args.probe_report is not None:
        options.report_dir = args.probe_report
    selected = ["ALL"] if settings.select is None else list(settings.select)
    options.select = [*selected, *settings.extend_select]
    options.ignore = list(settings.ignore)
    options.progress = sys.stderr.isatty()
    if options.lr_min >= options.lr_max:
        raise ConfigError(f"probe lr-min ({options.lr_min:g}) must be below lr-max")
    return options


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"--probe-timeout takes seconds above 0, not {value!r}")
    return seconds
