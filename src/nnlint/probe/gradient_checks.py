"""4. Gradient health: missing, non-finite, vanishing/exploding, dead ReLUs, update size."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnlint.probe.batches import finite
from nnlint.probe.results import CheckResult, Found, fmt

VANISHING, EXPLODING = 1e-4, 1e4  # early/last layer relative-gradient ratio
DEAD_FRACTION = 0.5  # share of a ReLU layer's units that never fire on the batch
UPDATE_HIGH, UPDATE_LOW = 0.3, 1e-5  # median |update| / |weight| after one step


class GradientChecks:
    """Mixed into `checks.Probe`, which holds the bundle (`b`), the options (`o`), the
    model, the device and the first batches."""

    # -- 4. gradient health ---------------------------------------------------------------

    def check_gradients(self, result: CheckResult) -> None:
        batch = self.batches[0]
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        with self.watch(relus=True) as seen:
            loss, _ = self.loss_on(batch)
        params = dict(self.model.named_parameters())
        trainable = {n: p for n, p in params.items() if p.requires_grad}
        result.metrics["parameters"] = {"total": len(params), "trainable": len(trainable)}
        if not loss.requires_grad:
            if not trainable:
                message = f"all {len(params)} parameter tensors are frozen (requires_grad=False)"
                help_ = (
                    "unfreeze the layers you mean to train (requires_grad_(True)) before building "
                    "the optimizer"
                )
            else:
                message = (
                    "the loss does not depend on any trainable parameter: the model's output is "
                    "detached from the graph (`.detach()`, `.item()`, `.data` or "
                    "`torch.no_grad()` in forward)"
                )
                help_ = "compute the output with autograd enabled and without detaching it"
            result.findings.append(Found("NN904", message, help_, "model"))
            self.skip = "no gradient reaches the parameters"
            return
        loss.backward()
        self._missing_gradients(trainable, seen["ran"], result)
        self._nonfinite_gradients(trainable, batch, result)
        self._gradient_flow(seen["ran"], result)
        self._dead_relus(seen["relu"], result)
        if self._all_zero(trainable, result):
            return
        self._update_ratio(result)

    def _missing_gradients(
        self, trainable: dict[str, nn.Parameter], ran: list[str], result: CheckResult
    ) -> None:
        missing: dict[str, list[str]] = {}
        for name, p in trainable.items():
            if p.grad is None:
                missing.setdefault(name.rpartition(".")[0], []).append(name)
        zero = [n for n, p in trainable.items() if p.grad is not None and not p.grad.any()]
        result.metrics["no_gradient"] = sorted(n for names in missing.values() for n in names)
        result.metrics["zero_gradient"] = zero
        for module, names in missing.items():
            label = f"`{module}`" if module else "the model's own parameters"
            if module not in ran:
                message = (
                    f"layer {label} is defined but never called in forward: {len(names)} parameter "
                    f"tensor(s) get no gradient"
                )
                help_ = (
                    "call it in forward, or delete it (it still costs memory and optimizer state)"
                )
            else:
                message = (
                    f"layer {label} runs but its output never reaches the loss (detached or "
                    f"discarded): {len(names)} parameter tensor(s) get no gradient"
                )
                help_ = (
                    "use its output without .detach()/torch.no_grad(), or freeze it on purpose "
                    "with requires_grad_(False)"
                )
            result.findings.append(Found("NN904", message, help_, self.module_anchor(module)))

    def _nonfinite_gradients(
        self, trainable: dict[str, nn.Parameter], batch: Any, result: CheckResult
    ) -> None:
        bad = [n for n, p in trainable.items() if p.grad is not None and not finite(p.grad)]
        if bad:
            result.findings.append(
                Found(
                    "NN905",
                    f"NaN/Inf gradients in {len(bad)} parameter tensor(s), first `{bad[0]}`",
                    "guard the operation whose derivative blows up (sqrt or log near 0, "
                    "division by "
                    "a small value); clip gradients",
                    self.module_anchor(bad[0].rpartition(".")[0]),
                )
            )

    def _gradient_flow(self, ran: list[str], result: CheckResult) -> None:
        layers = []
        for name in ran:
            module = self.model.get_submodule(name) if name else self.model
            weight = getattr(module, "weight", None)
            if (
                isinstance(weight, nn.Parameter)
                and weight.dim() >= 2
                and weight.grad is not None
                and not isinstance(module, nn.Embedding)
            ):
                w = float(weight.detach().float().pow(2).mean().sqrt()) or 1e-12
                g = float(weight.grad.detach().float().pow(2).mean().sqrt())
                layers.append((name, g / w))
        result.metrics["relative_gradient"] = dict(layers)
        if len(layers) < 3 or not all(math.isfinite(v) for _, v in layers):
            return
        # the median over the first half of the layers run: one layer with a naturally small
        # gradient (an attention query or key at init) is no sign of vanishing
        half = sorted(layers[: max(1, len(layers) // 2)], key=lambda layer: layer[1])
        g_middle = half[len(half) // 2][1]
        last, g_last = layers[-1]
        if g_last <= 0:
            return
        ratio = g_middle / g_last
        result.metrics["first_last_ratio"] = ratio
        if ratio < VANISHING:
            self.vanishing = True
            result.findings.append(
                Found(
                    "NN907",
                    f"gradients vanish with depth: the first {len(half)} layer(s) get a median "
                    f"{fmt(ratio)}x the relative gradient of the last layer `{last}`",
                    "use ReLU/GELU instead of sigmoid/tanh in hidden layers, add normalisation or "
                    "residual connections, and check the initialisation",
                    self.module_anchor(layers[0][0]),
                )
            )
        elif ratio > EXPLODING:
            result.findings.append(
                Found(
                    "NN907",
                    f"gradients explode with depth: the first {len(half)} layer(s) get a median "
                    f"{fmt(ratio)}x the relative gradient of the last layer `{last}`",
                    "add normalisation or residual connections, lower the initial weight scale, "
                    "and clip gradients",
                    self.module_anchor(layers[0][0]),
                )
            )

    def _all_zero(self, trainable: dict[str, nn.Parameter], result: CheckResult) -> bool:
        """NN909 when every gradient is exactly zero: no learning rate helps; the loss has
        no derivative with respect to the weights (a round/argmax/threshold on the way, a
        loss recomputed from a detached value) or every unit on the way is dead."""
        grads = [p.grad for p in trainable.values() if p.grad is not None]
        if not grads or any(bool(g.any()) for g in grads):
            return False
        dead = [name for name, share in self.dead_relu.items() if share > DEAD_FRACTION]
        cause = (
            f"the ReLU units of {', '.join(f'`{d}`' for d in dead[:3])} are dead on the batch"
            if dead
            else "the loss has no derivative with respect to the weights: a round(), argmax(), "
            "threshold or comparison between the model's output and the loss, or a loss "
            "rebuilt from a detached value (`.item()`, `.detach()`, `torch.tensor(loss)`)"
        )
        result.findings.append(
            Found(
                "NN909",
                f"every gradient is exactly zero ({len(grads)} parameter tensors) at "
                f"initialisation, so no step changes the weights: {cause}",
                "compute the loss from the raw output (logits) with a differentiable loss; "
                "for dead units, normalise the inputs and check the initialisation",
                "model",
            )
        )
        return True

    def _dead_relus(self, outputs: dict[str, torch.Tensor], result: CheckResult) -> None:
        dead_by_layer = {}
        for name, out in outputs.items():
            if out.dim() < 2 or out.shape[0] < 8:
                continue
            units = out.movedim(1 if out.dim() >= 3 else -1, 0).reshape(
                out.shape[1 if out.dim() >= 3 else -1], -1
            )
            if units.shape[0] < 4:
                continue
            fraction = float((units == 0).all(1).float().mean())
            dead_by_layer[name] = fraction
            if fraction > DEAD_FRACTION:
                result.findings.append(
                    Found(
                        "NN908",
                        f"{fraction:.0%} of the units of ReLU `{name}` output 0 for every "
                        f"sample of "
                        "the batch (dead units)",
                        "normalise the inputs, use He/Kaiming initialisation or a lower learning "
                        "rate, or try LeakyReLU/GELU",
                        self.module_anchor(name),
                    )
                )
        result.metrics["dead_relu"] = dead_by_layer
        self.dead_relu = dead_by_layer

    def _update_ratio(self, result: CheckResult) -> None:
        if self.b.optimizer is None:
            return
        weights = {
            n: p.detach().clone()
            for n, p in self.model.named_parameters()
            if p.requires_grad and p.grad is not None and p.dim() >= 2
        }
        self.b.optimizer.step()
        ratios = []
        for name, p in self.model.named_parameters():
            if name in weights:
                before = weights[name]
                norm = float(before.float().norm()) or 1e-12
                ratios.append(float((p.detach() - before).float().norm()) / norm)
        if not ratios:
            return
        ratios.sort()
        median = ratios[len(ratios) // 2]
        result.metrics["update_ratio"] = median
        lr = self._describe(self.b.optimizer)
        if not math.isfinite(median) or median > UPDATE_HIGH:
            result.findings.append(
                Found(
                    "NN909",
                    f"one step of {lr} changes the weights by {fmt(median)}x their norm (median "
                    "over layers); around 1e-3 is typical",
                    "lower the learning rate (see the LR finder's suggestion)",
                    "factory",
                )
            )
        elif median < UPDATE_LOW:
            result.findings.append(
                Found(
                    "NN909",
                    f"one step of {lr} changes the weights by only {fmt(median)}x their norm "
                    "(median over layers); around 1e-3 is typical",
                    "raise the learning rate (see the LR finder's suggestion)",
                    "factory",
                )
            )
