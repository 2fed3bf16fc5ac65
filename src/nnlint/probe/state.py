"""Leave no trace: record everything the probe may change and put it back exactly.

Recorded: every tensor of the model's state dict (parameters and buffers, BatchNorm running
statistics included) and each parameter's gradient, `requires_grad` flags, each module's
`training` flag, the device of the model, the optimizer's state dict, and the torch (CPU
and CUDA), NumPy and `random` RNG states.
"""

from __future__ import annotations

import copy
import random
import sys
from typing import Any

import torch


class Snapshot:
    """The state of a model, its optimizer and the RNGs, to put back with `restore`."""

    def __init__(self, model: torch.nn.Module, optimizer: Any = None) -> None:
        self.model = model
        self.optimizer = optimizer
        with torch.no_grad():
            self.tensors = {
                k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()
            }
        self.grads = {
            name: None if p.grad is None else p.grad.detach().clone()
            for name, p in model.named_parameters()
        }
        self.requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
        self.training = {name: m.training for name, m in model.named_modules()}
        devices = {t.device for t in self.tensors.values()}
        self.device = devices.pop() if len(devices) == 1 else None
        self.optimizer_state = copy.deepcopy(optimizer.state_dict()) if optimizer else None
        self.rng = _rng_state()

    def restore_weights(self) -> None:
        """Put back parameters, buffers, gradients, flags and optimizer state (not RNGs, not
        the device): used between checks so each starts from the user's initial model."""
        with torch.no_grad():
            for key, tensor in self.model.state_dict(keep_vars=True).items():
                tensor.copy_(self.tensors[key])
        for name, p in self.model.named_parameters():
            p.requires_grad_(self.requires_grad[name])
            saved = self.grads[name]
            p.grad = None if saved is None else saved.to(p.device).clone()
        for name, m in self.model.named_modules():
            m.training = self.training[name]
        if self.optimizer is not None and self.optimizer_state is not None:
            self.optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))

    def restore(self) -> None:
        """Everything, the device and the RNG states too."""
        if self.device is not None:
            self.model.to(self.device)
        self.restore_weights()
        if self.optimizer is not None and self.optimizer_state is not None:
            self.optimizer.state.clear()
            self.optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))
        _set_rng_state(self.rng)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "random": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["random"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = sys.modules.get("numpy")
    if "numpy" in state and numpy is not None:
        numpy.random.set_state(state["numpy"])
