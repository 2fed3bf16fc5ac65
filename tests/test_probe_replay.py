"""The user's own step between the model's output and the loss: recorded op by op while
the script runs and replayed on the probe's batches (probe/replay.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from torch.overrides import TorchFunctionMode  # noqa: E402

from nnlint.probe import lrfind  # noqa: E402
from nnlint.probe.replay import Recorder, replay  # noqa: E402


class Recording(TorchFunctionMode):
    """Feeds every torch call to a recorder, as the capture's mode does."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        self.recorder.see(func, tuple(args), kwargs, result)
        return result


def test_a_reshape_chain_replays_on_a_smaller_batch() -> None:
    """`logits.view(batch * seq, vocab)` and `y.reshape(-1)` recorded at a batch of 8,
    replayed at a batch of 2: the first size becomes -1."""
    recorder = Recorder()
    out, y = torch.randn(8, 5, 7), torch.randint(0, 7, (8, 5))
    recorder.track(out)
    recorder.track(y)
    with Recording(recorder):
        flat = out.view(8 * 5, 7)
        target = y.reshape(-1)
    source, ops = recorder.chain(flat, [out])
    assert source is out and [op.describe() for op in ops] == ["view(40, 7)"]
    _, target_ops = recorder.chain(target, [y])
    small, small_y = out[:2], y[:2]
    assert replay(ops, small).shape == (10, 7)
    assert torch.equal(replay(target_ops, small_y), small_y.reshape(-1))


def test_indexing_and_permutes_replay_exactly() -> None:
    recorder = Recorder()
    out = torch.randn(4, 6, 3)
    recorder.track(out)
    with Recording(recorder):
        last = out[:, -1].permute(1, 0)
    _, ops = recorder.chain(last, [out])
    other = torch.randn(2, 6, 3)
    assert torch.equal(replay(ops, other), other[:, -1].permute(1, 0))


def test_a_tensor_from_elsewhere_has_no_chain() -> None:
    recorder = Recorder()
    out = torch.randn(4, 3)
    recorder.track(out)
    with Recording(recorder):
        unrelated = torch.randn(4, 3) * 2
    assert recorder.chain(unrelated, [out]) is None


def test_only_a_flat_sweep_is_flat() -> None:
    """NN916 needs a flat curve: a short dip of the raw losses at the high end counts as a
    fall even when the smoothing hides it."""
    assert lrfind.flat([1.0] * 40)
    assert not lrfind.flat([1.0] * 35 + [0.7, 0.6, 0.8, 2.0, 5.0])
