"""The hand-over between a script's training loop and the probe's checks (probe/loop.py),
driven here by a minimal loop on the test's thread."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

import threading  # noqa: E402

from nnlint.probe.loop import Driver, LoopSteps, ProbeThread, StopScript  # noqa: E402


def _setup(checks):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    driver = Driver(
        model,
        optimizer,
        model_inputs=lambda: None,
        model_output=lambda: None,
        same=lambda seen, fed: True,
    )
    steps = LoopSteps(driver, own=None, template=None)
    thread = ProbeThread(lambda: checks(steps, optimizer), driver)
    return model, optimizer, driver, thread


def _run(model, optimizer, driver, seen_lrs: list[float]) -> BaseException | None:
    """The script's loop on its own thread (a hang fails the test instead of blocking it);
    what it raised."""
    raised: list[BaseException] = []

    def script() -> None:
        try:
            _script_loop(model, optimizer, driver, seen_lrs)
        except BaseException as error:
            raised.append(error)

    runner = threading.Thread(target=script, daemon=True)
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "the script's loop hangs"
    return raised[0] if raised else None


def _script_loop(model, optimizer, driver, seen_lrs: list[float]) -> None:
    """What the hooks do around a plain loop: backward, step (before/after)."""
    driver.after_step(optimizer)  # the first step is done: park until the first order
    for _ in range(50):
        loss = model(torch.ones(4, 2)).pow(2).mean()
        loss.backward()
        driver.backward(loss)
        driver.before_step(optimizer)
        seen_lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        optimizer.zero_grad()
        driver.after_step(optimizer)


def test_the_sweep_sets_each_steps_lr_and_the_script_stops_at_the_end() -> None:
    reported = []

    def checks(steps, optimizer):
        for step in steps.run(None, optimizer, 3, lrs=[1e-3, 1e-2, 1e-1]):
            reported.append(step)

    model, optimizer, driver, thread = _setup(checks)
    seen: list[float] = []
    thread.start()
    assert isinstance(_run(model, optimizer, driver, seen), StopScript)
    thread.join(5)
    assert thread.error is None
    assert seen == [1e-3, 1e-2, 1e-1]
    assert [s.loop for s in reported] == [True, True, True]
    assert all(s.value > 0 and s.requires_grad for s in reported)


def test_a_failing_check_stops_the_script_instead_of_hanging() -> None:
    def checks(steps, optimizer):
        for _ in steps.run(None, optimizer, 5, lrs=[1e-3] * 5):
            raise RuntimeError("a check failed")

    model, optimizer, driver, thread = _setup(checks)
    thread.start()
    assert isinstance(_run(model, optimizer, driver, []), StopScript)
    thread.join(5)
    assert isinstance(thread.error, RuntimeError)


def test_the_configured_lr_is_the_schedules_peak_or_base() -> None:
    from nnlint.probe.checks import configured_lr  # noqa: PLC0415

    assert configured_lr({"lr": 4e-4, "initial_lr": 4e-4, "max_lr": 1e-2}) == 1e-2  # one-cycle
    assert configured_lr({"lr": 0.0, "initial_lr": 1e-3}) == 1e-3  # a warm-up from zero
    assert configured_lr({"lr": 0.1}) == 0.1


class _OwnSteps:
    """Stands in for the probe's own steps: records that they ran."""

    def __init__(self) -> None:
        self.ran = 0

    def run(self, fixed, optimizer, steps, lrs=None):
        from nnlint.probe.steps import Step  # noqa: PLC0415

        for _ in range(steps):
            self.ran += 1
            yield Step(1.0, True)


def test_a_loop_that_does_not_take_the_fed_batch_hands_over_to_the_own_steps() -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    driver = Driver(
        model,
        optimizer,
        model_inputs=lambda: None,
        model_output=lambda: None,
        same=lambda seen, fed: False,  # the loop never trains on the fed batch
    )
    own = _OwnSteps()
    steps = LoopSteps(driver, own=own, template=(torch.zeros(4, 2), torch.zeros(4, 1)))
    seen = []

    def checks(steps_, optimizer_):
        fixed = (torch.ones(2, 2), torch.ones(2, 1))
        seen.extend(steps.run(fixed, optimizer_, 5))

    thread = ProbeThread(lambda: checks(steps, optimizer), driver)
    thread.start()
    assert isinstance(_run(model, optimizer, driver, []), StopScript)
    thread.join(5)
    assert thread.error is None
    assert own.ran == 5 and [s.loop for s in seen] == [False] * 5
    assert steps.template is None  # no batch is fed to this loop again
