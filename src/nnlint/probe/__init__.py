"""`nnlint --probe`: run the user's PyTorch model and data briefly and report what only
running shows (loss at init, one-batch over-fit, LR finder, gradient and data health).

This package is the only part of nnlint that imports torch, and only in the child process
that the probe starts (`nnlint.probe.child`); importing `nnlint.probe` imports no torch.
"""

from nnlint.probe.runner import (
    INSTALL_HINT,
    Outcome,
    ProbeOptions,
    ProbeUnavailable,
    probe,
    torch_available,
)

__all__ = [
    "INSTALL_HINT",
    "Outcome",
    "ProbeOptions",
    "ProbeUnavailable",
    "probe",
    "torch_available",
]
