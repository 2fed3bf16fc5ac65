"""5. Data sanity from real batches: scale, NaN/Inf, constant features, BatchNorm on one sample."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnlint.probe.batches import batch_size, finite, is_tensor
from nnlint.probe.results import CheckResult, Found, fmt
from nnlint.probe.target import TargetError

RAW_SCALE = 10.0  # a feature mean or std above this is not normalised
PIXEL_MAX = (127, 255)  # a maximum in this range, integers from 0: raw 8-bit pixel values


class DataChecks:
    """Mixed into `checks.Probe`, which holds the bundle (`b`), the options (`o`), the
    model, the device and the first batches."""

    # -- 5. data sanity -------------------------------------------------------------------

    def check_data(self, result: CheckResult) -> None:
        self._batchnorm_of_one(result)
        if self.b.lightning and self.b.unpack is None:
            try:
                xs = [self.unpack(b)[0] for b in self.batches]
            except TargetError:
                result.note = "batches have no recognisable inputs"
                return
        else:
            xs = [self.unpack(b)[0] for b in self.batches]
        first = xs[0]
        names = (
            list(first)
            if isinstance(first, dict)
            else ["inputs"]
            if is_tensor(first)
            else list(range(len(first)))
        )
        stats = {}
        for key in names:
            parts = [x[key] if not is_tensor(x) else x for x in xs]
            if not all(is_tensor(p) for p in parts):
                continue
            label = "inputs" if key == "inputs" else f"inputs[{key!r}]"
            stats[label] = self._input_stats(label, parts, result)
        result.metrics["inputs"] = stats
        result.metrics["batch_size"] = batch_size(self.batches[0])

    def _first_layer(self) -> nn.Module | None:
        return next((m for m in self.model.modules() if list(m.parameters(recurse=False))), None)

    def _input_stats(
        self, label: str, parts: list[torch.Tensor], result: CheckResult
    ) -> dict[str, Any]:
        t = torch.cat([p.detach().cpu() for p in parts if p.shape[1:] == parts[0].shape[1:]])
        info: dict[str, Any] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if isinstance(self._first_layer(), nn.Embedding) and not t.is_floating_point():
            info["note"] = "token ids (the first layer is an Embedding)"
            return info
        if t.is_floating_point() and not finite(t):
            bad = int((~torch.isfinite(t)).sum())
            result.findings.append(
                Found(
                    "NN912",
                    f"{label} hold {bad} NaN/Inf values in the first batches",
                    "find where they come from (missing values, a division by zero, a log of 0) "
                    "and impute or drop them before training",
                    "data",
                )
            )
            t = torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)
        f = t.double()
        if f.dim() < 2 or f.shape[0] < 2:
            return info
        dim = (
            1
            if f.dim() >= 4 or (f.dim() == 3 and isinstance(self._first_layer(), nn.Conv1d))
            else -1
        )
        moved = f.movedim(dim, -1).reshape(-1, f.shape[dim])
        mean, std = moved.mean(0), moved.std(0)
        low, high = moved.min(0).values, moved.max(0).values
        info.update(
            features=moved.shape[1],
            mean=[round(v, 4) for v in mean[:64].tolist()],
            std=[round(v, 4) for v in std[:64].tolist()],
            min=[round(v, 4) for v in low[:64].tolist()],
            max=[round(v, 4) for v in high[:64].tolist()],
        )
        top = max(float(mean.abs().max()), float(std.max()))
        if top > RAW_SCALE:
            lo, hi = float(low.min()), float(high.max())
            integral = bool((f == f.round()).all())
            if lo >= 0 and PIXEL_MAX[0] < hi <= PIXEL_MAX[1] and integral:
                what = (
                    f"look like raw 0..255 pixel values ({t.dtype}, min {fmt(lo)}, max "
                    f"{fmt(hi)}, mean {fmt(float(f.mean()))})"
                )
                fix = (
                    "divide by 255 and standardise with the training set's mean and std (e.g. "
                    "transforms.Normalize)"
                )
            else:
                kind = "integer values" if integral else "values"
                what = (
                    f"are not normalised: {kind} from {fmt(lo)} to {fmt(hi)}, feature means up "
                    f"to {fmt(float(mean.abs().max()))}, stds up to {fmt(float(std.max()))}"
                )
                fix = (
                    "standardise each feature with the training set's mean and std "
                    "(StandardScaler or a Normalize transform)"
                )
            result.findings.append(Found("NN911", f"{label} {what}", fix, "data"))
        constant = [i for i, s in enumerate(std.tolist()) if s == 0]
        if constant and moved.shape[0] >= 8 and moved.shape[1] > 1:
            shown = ", ".join(map(str, constant[:5])) + (" ..." if len(constant) > 5 else "")
            result.findings.append(
                Found(
                    "NN913",
                    f"{len(constant)} of {moved.shape[1]} {label} features are constant over "
                    f"{moved.shape[0]} samples (index {shown})",
                    "drop them or check the data pipeline that fills them",
                    "data",
                )
            )
        return info

    def _batchnorm_of_one(self, result: CheckResult) -> None:
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        sizes = [batch_size(b) for b in self.batches]
        size = getattr(self.b.data, "batch_size", None)
        dataset = getattr(self.b.data, "dataset", None)
        last = None
        if size and dataset is not None and not getattr(self.b.data, "drop_last", True):
            try:
                last = len(dataset) % size
            except TypeError:
                last = None
        if 1 in sizes or last == 1:
            where = (
                "a batch of the data has 1 sample"
                if 1 in sizes
                else (
                    f"the last batch of each epoch has 1 sample ({len(dataset)} samples, "
                    f"batch_size={size})"
                )
            )
            result.findings.append(
                Found(
                    "NN915",
                    (
                        f"the model has BatchNorm and {where}: training fails or its statistics "
                        f"are garbage"
                    ),
                    (
                        "pass drop_last=True to the DataLoader, or use a batch size that leaves "
                        "no single sample"
                    ),
                    "data",
                )
            )
