"""Seed every RNG a training script draws from before the probe loads it, so that the same
script and arguments give the same model, batches and findings on every run (the parent
also starts the child with a fixed `PYTHONHASHSEED`, for set and string-hash order)."""

from __future__ import annotations

import random

import torch


def seed_everything(seed: int) -> None:
    """Python's `random`, NumPy's global RNG (when NumPy is installed) and torch's (CPU and
    CUDA). A DataLoader without its own generator draws its shuffling and its workers'
    seeds from torch's global RNG, so seeding that seeds the loaders too."""
    random.seed(seed)
    torch.manual_seed(seed)  # CPU and every CUDA device
    try:
        import numpy  # noqa: PLC0415 - optional
    except ImportError:
        return
    numpy.random.seed(seed % 2**32)
