"""LR-suggestion benchmark for `nnlint --probe` (a benchmark, not a test).

    python -m pip install -e ".[probe,bench]" && python bench/probe_lr.py [--seeds 3] [--steps 150]

On six small synthetic tasks (tabular MLP classifier, small CNN on synthetic images, GRU
sequence classifier, MLP regressor, an iris-sized MLP, a token-embedding GRU), for several
seeds: train from the same initial weights with Adam at a grid of learning rates in
half-decade steps (1e-5 .. 1) for a fixed number of steps and measure the held-out loss;
then train the same way at the probe's suggestion (the median of its sweeps) and at
torch-lr-finder's (its steepest-gradient suggestion, when torch-lr-finder is installed).
Prints a Markdown table per task: the grid's best LR, the suggestions, the probe's signed
distance from the best in decades, and the regret of each choice (its held-out loss over
the grid best's: 1.00 is the best the grid found) next to the regret of Adam's usual
1e-3; then the median regret.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures" / "probe"))

import synthetic

from nnlint.probe.checks import Options, Probe
from nnlint.probe.target import Bundle

GRID = [10 ** (e / 2) for e in range(-10, 1)]  # 1e-5 .. 1 in half decades


class GRUClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 32, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[1][-1])


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def _mlp(inputs: int, outputs: int) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(
        nn.Linear(inputs, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, outputs)
    )


class TokenGRU(nn.Module):
    def __init__(self, vocab: int = 32) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, 16)
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.embedding(x))[0].mean(1))


def flowers(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Iris-sized: 4 standardised measurements, 3 overlapping classes."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[-1.2, 0.8, -1.3, -1.2], [0.1, -0.6, 0.3, 0.2], [1.0, -0.1, 1.0, 1.1]])
    return centres[y] + 0.45 * torch.randn(n, 4, generator=g), y


def tokens(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids where about a fifth of the tokens say the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    ids = torch.randint(3, 32, (n, 16), generator=g)
    hints = torch.rand(n, 16, generator=g) < 0.2
    return torch.where(hints, (1 + y)[:, None], ids), y


def _iris_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


TASKS: dict[str, tuple[Callable[..., tuple], Callable[[], nn.Module], nn.Module]] = {
    "tabular MLP": (synthetic.tabular, _mlp(16, 4), nn.CrossEntropyLoss()),
    "small CNN": (synthetic.images, _cnn, nn.CrossEntropyLoss()),
    "GRU sequences": (synthetic.sequences, GRUClassifier, nn.CrossEntropyLoss()),
    "MLP regression": (synthetic.regression, _mlp(8, 1), nn.MSELoss()),
    "iris-sized MLP": (flowers, _iris_mlp, nn.CrossEntropyLoss()),
    "token GRU": (tokens, TokenGRU, nn.CrossEntropyLoss()),
}
DEFAULT_LR = 1e-3


def train(model: nn.Module, loss: nn.Module, data: tuple, lr: float, steps: int) -> float:
    """Adam at `lr` for `steps` batches of 32; the held-out loss (inf when it diverged)."""
    (x, y), (vx, vy) = data
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    done = 0
    while done < steps:
        for bx, by in loader:
            optimizer.zero_grad()
            value = loss(model(bx), by)
            if not torch.isfinite(value):
                return math.inf
            value.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    with torch.no_grad():
        held_out = float(loss(model(vx), vy))
    return held_out if math.isfinite(held_out) else math.inf


def probe_suggestion(
    model: nn.Module, loss: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float | None:
    data = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    probe = Probe(Bundle(model, loss, data, optimizer), Options(device="cpu"))
    results = {r.name: r for r in probe.run()}
    return results["lr-finder"].metrics.get("suggested_lr")


def lr_finder_suggestion(
    model: nn.Module, loss: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float | None:
    try:
        from torch_lr_finder import LRFinder  # noqa: PLC0415 - optional, bench extra
    except ImportError:
        return None
    import numpy  # noqa: PLC0415

    data = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-7)
    finder = LRFinder(model, optimizer, loss, device="cpu")
    finder.range_test(data, end_lr=10, num_iter=100)
    lrs, losses = finder.history["lr"][10:-5], finder.history["loss"][10:-5]
    finder.reset()
    if len(losses) < 2:
        return None
    return float(lrs[int(numpy.gradient(numpy.array(losses)).argmin())])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    print(
        "| Task | Grid best LR | Probe LR | Decades off | Regret at probe LR | "
        "Regret at 1e-3 | torch-lr-finder LR | Regret at its LR |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    regrets: list[float] = []
    for name, (make_data, make_model, loss) in TASKS.items():
        grid_losses = {lr: [] for lr in GRID}
        ours, theirs, our_loss, their_loss = [], [], [], []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            x, y = make_data(n=768, seed=seed)
            data = ((x[:512], y[:512]), (x[512:], y[512:]))
            initial = make_model()
            for lr in GRID:
                torch.manual_seed(seed)
                grid_losses[lr].append(train(copy.deepcopy(initial), loss, data, lr, args.steps))
            ours.append(probe_suggestion(copy.deepcopy(initial), loss, *data[0]))
            theirs.append(lr_finder_suggestion(copy.deepcopy(initial), loss, *data[0]))
            for found, losses in ((ours[-1], our_loss), (theirs[-1], their_loss)):
                if found is not None:
                    torch.manual_seed(seed)
                    losses.append(train(copy.deepcopy(initial), loss, data, found, args.steps))
        best = min(GRID, key=lambda lr: statistics.mean(grid_losses[lr]))
        floor = statistics.mean(grid_losses[best])
        ours_lr = _geomean(ours)
        theirs_lr = _geomean(theirs)
        off = f"{math.log10(ours_lr / best):+.2f}" if ours_lr else "n/a"
        default = min(GRID, key=lambda lr: abs(math.log10(lr / DEFAULT_LR)))
        if our_loss:
            regrets.append(statistics.mean(our_loss) / floor)
        print(
            f"| {name} | {best:.2g} | {_show(ours_lr)} | {off} | {_regret(our_loss, floor)} | "
            f"{_regret(grid_losses[default], floor)} | {_show(theirs_lr)} | "
            f"{_regret(their_loss, floor)} |",
            flush=True,
        )
    shown = f"{statistics.median(regrets):.2f}" if regrets else "n/a"
    print(f"\nMedian regret at the probe's LR: {shown} over {len(regrets)} of {len(TASKS)} tasks.")


def _geomean(values: list[float | None]) -> float | None:
    found = [v for v in values if v]
    return math.exp(statistics.mean(math.log(v) for v in found)) if found else None


def _show(value: float | None) -> str:
    return f"{value:.2g}" if value else "n/a"


def _regret(losses: list[float], floor: float) -> str:
    """The mean held-out loss over the grid best's (inf when a run diverged)."""
    return f"{statistics.mean(losses) / floor:.2f}" if losses else "n/a"


if __name__ == "__main__":
    main()
