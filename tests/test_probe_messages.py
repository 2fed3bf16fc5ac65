"""Runtime findings that fit the numbers: each message tested on a small in-process model
(NN903's likely cause, NN909 on all-zero gradients, NN910 from swapped inputs, NN911's
range)."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from nnlint.probe.checks import Options, Probe  # noqa: E402
from nnlint.probe.target import Bundle  # noqa: E402


def findings(model: nn.Module, loss: Any, x: Any, y: Any, **options: Any) -> dict[str, str]:
    """Code -> message of one probe run (no budget: nothing depends on the clock)."""
    torch.set_num_threads(1)
    data = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    settings = {"device": "cpu", "lr_steps": 30, "overfit_steps": 60, **options}
    results = Probe(Bundle(model, loss, data, optimizer), Options(**settings)).run()
    return {f.code: f.message for r in results for f in r.findings}


def test_nn903_names_a_bounded_output_activation() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = 3 + x[:, :1]  # targets around 3: a sigmoid cannot reach them
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    found = findings(model, nn.MSELoss(), x, y)
    assert "a wrong output activation: the outputs stay within [0, 1]" in found["NN903"]


def test_nn903_names_unscaled_targets() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = 5000 + 3000 * x[:, :1]
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    found = findings(model, nn.MSELoss(), x, y)
    assert "likely cause: unscaled targets" in found["NN903"]


def test_all_zero_gradients_are_not_advice_to_raise_the_lr() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,)).float()

    def rounded(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(torch.round(torch.sigmoid(out)).squeeze(1), target)

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    found = findings(model, rounded, x, y)
    assert "every gradient is exactly zero" in found["NN909"]
    assert "round()" in found["NN909"] and "raise the learning rate" not in found["NN909"]


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.zeros(4))
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.mask)


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids).mean(1))


def test_nn910_for_a_model_that_ignores_its_inputs() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    found = findings(Masked(), nn.CrossEntropyLoss(), x, y)
    assert "do not change when each of 16 samples gets another sample's inputs" in found["NN910"]


def test_no_nn910_for_token_ids_or_a_model_that_has_not_fit_yet() -> None:
    """Token ids are swapped for other samples' ids (valid values), never zeroed; labels
    that carry no signal still leave a model that reads its inputs alone."""
    torch.manual_seed(0)
    ids, y = torch.randint(0, 20, (64, 6)), torch.randint(0, 2, (64,))
    assert "NN910" not in findings(Tokens(), nn.CrossEntropyLoss(), ids, y)


def test_nn911_says_what_the_range_is() -> None:
    """Intensities 0..16 are not 0..255 pixels: the message gives the measured range."""
    torch.manual_seed(0)
    x = torch.randint(0, 17, (64, 8)).float() * 4  # 0..64, means ~32
    y = torch.randint(0, 2, (64,))
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    message = findings(model, nn.CrossEntropyLoss(), x, y)["NN911"]
    assert "0..255" not in message and "integer values from 0 to 64" in message
