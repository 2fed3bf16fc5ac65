"""NN303-NN306: gradient resets and the order of backward, optimizer and scheduler steps."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.checks.loop_shared import comes_after, in_lightning_module, loop_facts

from nnlint.facts.loops import LoopFacts, StepLoop, is_optimizer, is_scheduler, loop_blocks
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.scope import CallSite, Loop, Scope
from nnlint.facts.values import has_star_args, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule


# -- NN303 --------------------------------------------------------------------------------
@rule(
    "NN303",
    "missing-zero-grad",
    severity="error",
    summary="A training loop never resets gradients, or resets them between backward and step.",
)
def missing_zero_grad(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds PyTorch loops that call `backward()` and step an optimizer but never reset the
    gradients in the loop (`optimizer.zero_grad()`, `model.zero_grad()`, `set_to_none`,
    `p.grad = None`, also through a local helper), and loops that call `zero_grad()` after
    `backward()` and before `optimizer.step()` in the same block.

    ## Why is this bad?
    PyTorch adds new gradients to `.grad`; it never clears them itself. Without a reset each
    step applies the sum of all gradients so far, and the updates grow until training
    diverges. A reset between `backward()` and `step()` throws the fresh gradients away, so
    the optimizer steps on zeros (only weight decay and momentum move the weights).

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Known limits
    Only loops whose `backward()` and optimizer step are visible in one function (or a
    local helper it calls) are checked. Gradient accumulation that resets every k steps
    inside the loop is fine. A loop that builds a new optimizer each iteration is skipped.

    ## Fix safety
    Safe fix for a `for` loop that never resets the gradients: `--fix` inserts
    `optimizer.zero_grad()` at the top of the loop body (loops that accumulate on purpose
    reset every k steps and are not reported). Zeroing in the wrong place is not fixed.

    ## References
    - https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html
    - https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html
    """
    for module in project.modules:
        loops = loop_facts(module)
        for step in loops.step_loops:
            misplaced = _zero_between_backward_and_step(loops, step)
            if misplaced is not None:
                yield Hit(
                    module.path,
                    misplaced,
                    "gradients are zeroed after `backward()` and before the optimizer step, "
                    "so the step sees no gradients",
                    "call `zero_grad()` before the forward pass or after `optimizer.step()`",
                )
            elif not loops.has_grad_reset(step.node, step.scope) and not any(
                step.node in s.loops and is_optimizer(s.qualname) for s in step.scope.calls
            ):
                yield Hit(
                    module.path,
                    step.node,
                    "this training loop calls `backward()` and steps the optimizer but never "
                    "resets the gradients, so they accumulate across iterations",
                    "call `optimizer.zero_grad(set_to_none=True)` at the top of the loop body",
                )


def _zero_between_backward_and_step(loops: LoopFacts, step: StepLoop) -> ast.AST | None:
    """A `zero_grad()` statement that follows `backward()` and precedes the optimizer step in
    the same block, with no other `backward()` between them."""
    for block in loop_blocks(step.node.body):
        state, zero = "", None
        for stmt in block:
            kind = _statement_kind(loops, stmt, step.scope)
            if kind == "backward":
                state, zero = "backward", None
            elif kind == "zero" and state == "backward":
                zero = stmt
            elif kind == "step" and zero is not None:
                return zero
            elif kind == "step":
                state = ""
    return None


def _statement_kind(loops: LoopFacts, stmt: ast.stmt, scope: Scope) -> str | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        site = loops.site_of(stmt.value)
        if site is not None:
            if loops.is_backward(site):
                return "backward"
            if loops.is_zero_grad(site):
                return "zero"
            if loops.step_kind(site) == "optimizer":
                return "step"
    for node in ast.walk(stmt):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "backward"
        ):
            return "backward"
    return None


# -- NN304 --------------------------------------------------------------------------------
@rule(
    "NN304",
    "backward-without-step",
    severity="error",
    summary="`backward()` runs in a loop but no optimizer ever steps.",
)
def backward_without_step(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a function whose loop calls `loss.backward()` while nothing in that function (nor
    a local helper it calls, nor the functions that call it) steps an optimizer:
    `optimizer.step()`, `scaler.step(optimizer)`, `optimizer.step(closure)` or a Lightning
    manual-optimisation `opt.step()`. Only reported when the module builds an optimizer (or
    the function takes one).

    ## Why is this bad?
    `backward()` only computes gradients; the weights change when the optimizer steps. A
    loop without a step burns the compute of training and leaves the model exactly as it
    was initialised, and the loss curve stays flat with no error.

    ## Example
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Known limits
    Functions that read `.grad` themselves (manual SGD, adversarial examples, saliency),
    hand the optimizer to another call, or call anything named `step`/`update` are left
    alone, as are LightningModules (Lightning steps for you).

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/optim.html#taking-an-optimization-step
    """
    for module in project.modules:
        loops = loop_facts(module)
        builds_optimizer = any(is_optimizer(s.qualname) for s in module.collected.calls)
        for scope, sites in loops.backward_loops():
            if in_lightning_module(module, scope) or _may_step(loops, scope):
                continue
            if any(_may_step(loops, c.scope) for c in loops.callers(scope)):
                continue
            takes_optimizer = any(
                any(t.startswith("optim") for t in name_tokens(p)) for p in scope.params
            )
            if not (builds_optimizer or takes_optimizer):
                continue
            yield Hit(
                module.path,
                sites[0].node,
                "`backward()` computes gradients in this loop but no optimizer step follows, "
                "so the weights never change",
                "call `optimizer.step()` after `backward()` (and `optimizer.zero_grad()` "
                "before the next one)",
            )


def _may_step(loops: LoopFacts, scope: Scope) -> bool:
    """True when a scope steps an optimizer, or might: any `step`/`update` call, an
    optimizer handed to a call, or `.grad` read by hand."""
    for site in scope.calls:
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if loops.steps_optimizer(site):
            return True
        if loops.step_kind(site) in {"scheduler", "plateau"} or is_scheduler(site.qualname):
            continue
        receiver = dotted(func.value) if isinstance(func, ast.Attribute) else None
        if name == "update" and "scaler" in name_tokens((receiver or "").replace(".", "_")):
            continue
        if {"step", "update"} & set(name_tokens(name)):
            return True
        args = [*site.node.args, *(k.value for k in site.node.keywords)]
        if any(
            any(t.startswith("opt") for t in name_tokens((dotted(a) or "").replace(".", "_")))
            for a in args
        ):
            return True
    return any(
        isinstance(node, ast.Attribute) and node.attr == "grad" and isinstance(node.ctx, ast.Load)
        for node in ast.walk(scope.node)
    )


# -- NN305 --------------------------------------------------------------------------------
@rule(
    "NN305",
    "scheduler-before-optimizer",
    severity="warning",
    summary="The LR scheduler steps before the optimizer in the same iteration.",
)
def scheduler_before_optimizer(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `scheduler.step()` called unconditionally in a loop before every optimizer step of
    that loop: a per-batch scheduler (OneCycleLR, a warm-up LambdaLR) at the top of the
    batch loop, or an epoch scheduler at the top of the epoch loop before the epoch trains.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first skips
    the first value of the schedule: warm-up starts one step late, OneCycleLR ends before
    the last batch (and raises when it runs past its total steps), and step schedules decay
    one epoch early. PyTorch warns about it once; the run carries on with the wrong LRs.

    ## Example
    ```python
    for epoch in range(epochs):
        scheduler.step()
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Known limits
    Schedulers are recognised by their constructor (`torch.optim.lr_scheduler`,
    `transformers.get_*_schedule*`) or by name; steps inside an `if` are left alone, as is
    `ReduceLROnPlateau`, which steps on the previous epoch's metric by design.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate
    """
    for module in project.modules:
        loops = loop_facts(module)
        for scope in module.collected.scopes:
            if scope.in_test:
                continue
            for site in scope.calls:
                if not site.loops or loops.step_kind(site) != "scheduler":
                    continue
                loop = site.loops[-1]
                if not _unconditional(loops, site, loop):
                    continue
                steps = [s for s in scope.calls if loop in s.loops and loops.steps_optimizer(s)]
                if steps and all(comes_after(s.node, site.node) for s in steps):
                    yield Hit(
                        module.path,
                        site.node,
                        "the LR scheduler steps before the optimizer in this loop, so the "
                        "first learning rate of the schedule is skipped",
                        "call `scheduler.step()` after `optimizer.step()` (after the batch "
                        "loop for a per-epoch schedule)",
                    )


def _unconditional(loops: LoopFacts, site: CallSite, loop: Loop) -> bool:
    """The call is a statement that runs on every iteration of `loop`."""
    if not isinstance(loops.parents.get(id(site.node)), ast.Expr):
        return False
    for parent in loops.ancestors(site.node, site.scope):
        if parent is loop:
            return True
        if not isinstance(parent, ast.Expr | ast.With | ast.AsyncWith):
            return False
    return False


# -- NN306 --------------------------------------------------------------------------------
@rule(
    "NN306",
    "plateau-scheduler-without-metric",
    severity="error",
    summary="`ReduceLROnPlateau.step()` is called without the metric it watches.",
)
def plateau_scheduler_without_metric(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `step()` calls with no metric on a scheduler built by
    `torch.optim.lr_scheduler.ReduceLROnPlateau` (through aliases, attributes and
    parameters).

    ## Why is this bad?
    ReduceLROnPlateau lowers the LR when a monitored value stops improving, so every step
    needs that value. Without it PyTorch raises a `TypeError` — after the first epoch, often
    hours into a run — and code that "fixes" this by passing the epoch number or the
    training loss makes the schedule meaningless.

    ## Example
    ```python
    scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=3)
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        val_loss = evaluate(model, val_loader)
        scheduler.step(val_loss)
    ```

    ## Known limits
    Only reported when every value the scheduler can hold is a ReduceLROnPlateau.

    ## Fix safety
    No automatic fix: the metric to pass is the user's choice.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html
    """
    for module in project.modules:
        loops = loop_facts(module)
        for site in module.collected.training_calls:
            call = site.node
            if (
                not call.args
                and keyword(call, "metrics") is None
                and not has_star_args(call)
                and loops.step_kind(site) == "plateau"
            ):
                yield Hit(
                    module.path,
                    call,
                    "`ReduceLROnPlateau.step()` needs the metric it monitors; without one it "
                    "raises a TypeError",
                    "pass the validation metric: `scheduler.step(val_loss)`",
                )
