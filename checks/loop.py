"""NN303-NN311: PyTorch training-loop mechanics — gradients, steps, modes and precision."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.facts import ModuleFacts
from nnlint.facts.graph import Network
from nnlint.facts.loops import (
    AUTOCAST,
    BATCHNORM_LAYERS,
    DROPOUT_LAYERS,
    GRAD_CLIPPING,
    GRAD_SCALERS,
    TORCH_RECURRENT,
    LoopFacts,
    StepLoop,
    is_optimizer,
    is_scheduler,
    walk_body,
)
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.scope import CallSite, Loop, Scope
from nnlint.facts.values import argument, has_star_args, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_MODE_LAYERS = DROPOUT_LAYERS | BATCHNORM_LAYERS
_EVAL_ROLES = frozenset({"val", "test"})
_EVAL_WORDS = frozenset(
    {"eval", "evaluate", "evaluation", "validate", "validation", "valid", "val", "test"}
    | {"predict", "prediction", "inference", "infer"}
)
_DETACHING = frozenset({"item", "detach", "tolist", "numpy", "data"})
_KEEPING = frozenset({"cpu", "to", "cuda", "mean", "sum", "clone", "float", "double", "squeeze"})
_CLIP_KEYWORDS = frozenset(
    {"gradient_clip_val", "clipnorm", "clipvalue", "global_clipnorm", "max_grad_norm"}
)


def _loops(module: ModuleFacts) -> LoopFacts:
    assert module.loops is not None
    return module.loops


def _network(
    project: Project, module: ModuleFacts, site: CallSite
) -> tuple[Network, ModuleFacts] | None:
    """The network a call runs forward (`model(x)`, `self.net(x)`); not `self(x)`."""
    func = site.node.func
    if isinstance(func, ast.Name):
        if func.id == "self":
            return None
    elif not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    key = module.model_key(func, site.scope)
    return project.network(key, module) if key else None


def _has_layers(
    project: Project, network: Network, module: ModuleFacts, names: frozenset[str], depth: int = 0
) -> bool:
    """True when the network, or a network it uses as a layer, builds one of `names`."""
    if _loops(module).network_layers(network) & names:
        return True
    if depth > 6:
        return False
    for ref in network.submodules:
        found = project.network(ref, module)
        if found is not None and _has_layers(project, *found, names, depth + 1):
            return True
    return False


def _lightning(module: ModuleFacts, scope: Scope) -> bool:
    cls = module.resolver.enclosing_class(scope)
    return cls is not None and any(b.endswith("LightningModule") for b in cls.bases)


def _label(expr: ast.expr) -> str:
    return dotted(expr) or "the model"


def _blocks(body: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """A statement list and the lists nested in its if/with/try statements (not loops)."""
    yield body
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _blocks(stmt.body)
            yield from _blocks(stmt.orelse)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            yield from _blocks(stmt.body)
        elif isinstance(stmt, ast.Try):
            for part in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from _blocks(part)
            for handler in stmt.handlers:
                yield from _blocks(handler.body)


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
        loops = _loops(module)
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
    for block in _blocks(step.node.body):
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
        loops = _loops(module)
        builds_optimizer = any(is_optimizer(s.qualname) for s in module.collected.calls)
        for scope, sites in loops.backward_loops():
            if _lightning(module, scope) or _may_step(loops, scope):
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
        loops = _loops(module)
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
                if steps and all(_after(s.node, site.node) for s in steps):
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


def _after(node: ast.AST, other: ast.AST) -> bool:
    return (node.lineno, node.col_offset) > (other.lineno, other.col_offset)  # type: ignore[attr-defined]


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
        loops = _loops(module)
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


# -- NN307 --------------------------------------------------------------------------------
@rule(
    "NN307",
    "missing-eval-mode",
    severity="warning",
    summary="A model with dropout or BatchNorm is evaluated in training mode, or trained in "
    "eval mode.",
)
def missing_eval_mode(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    For models that build `Dropout` or `BatchNorm` layers, finds (1) evaluation — a forward
    pass over validation/test data, or under `torch.no_grad()` in an evaluate/predict
    function — with no `model.eval()` before it (in the function or its callers), and (2) an
    epoch loop that switches the model to eval mode but never back with `model.train()`.

    ## Why is this bad?
    In training mode dropout drops units at random and BatchNorm normalises with the current
    batch's statistics (and updates its running averages with validation data). Scores
    computed that way are noisy and too low, and model selection on them is wrong. The
    other way round, after one `model.eval()` every later epoch trains with dropout off and
    BatchNorm frozen, which silently removes the regularisation.

    ## Example
    ```python
    for epoch in range(epochs):
        model.train()
        train_one_epoch(model, train_loader, optimizer)
        with torch.no_grad():
            val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        train_one_epoch(model, train_loader, optimizer)
        model.eval()
        with torch.no_grad():
            val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
    ```

    ## Known limits
    The model must resolve to a network defined in the linted files; any `eval()` call
    before the evaluation (on whatever object) silences the first form. LightningModules
    are skipped: Lightning switches modes itself.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval
    - https://pytorch.org/docs/stable/notes/autograd.html#evaluation-mode-nn-module-eval
    """
    for module in project.modules:
        yield from _evaluated_in_train_mode(project, module)
        yield from _trained_in_eval_mode(project, module)


def _evaluated_in_train_mode(project: Project, module: ModuleFacts) -> Iterator[Hit]:
    loops = _loops(module)
    for scope in module.collected.scopes:
        if scope.in_test or _lightning(module, scope) or _model_method(module, scope):
            continue
        reported: set[str] = set()
        for site in scope.calls:
            found = _network(project, module, site)
            if found is None or found[0].name in reported:
                continue
            if not _evaluates(module, loops, site) or _trains_here(loops, site):
                continue
            if not _has_layers(project, *found, _MODE_LAYERS) or _eval_before(loops, site):
                continue
            reported.add(found[0].name)
            name = _label(site.node.func)
            yield Hit(
                module.path,
                site.node,
                f"`{name}` has dropout/BatchNorm layers and is evaluated here in training "
                "mode; dropout stays on and BatchNorm uses batch statistics",
                f"call `{name}.eval()` before evaluating and `{name}.train()` before "
                "training again",
            )


def _model_method(module: ModuleFacts, scope: Scope) -> bool:
    """A method of a network class (`infer`, `generate`): the caller sets the mode."""
    cls = module.resolver.enclosing_class(scope)
    return cls is not None and f"{module.module_name}.{cls.name}" in module.networks


def _evaluates(module: ModuleFacts, loops: LoopFacts, site: CallSite) -> bool:
    """A forward pass over validation/test data, or under no_grad in an eval function."""
    role = module.data.role
    for loop in site.loops:
        source = loops.loop_source(loop)
        if source is not None and role(source, site.scope) in _EVAL_ROLES:
            return True
    if any(role(a, site.scope) in _EVAL_ROLES for a in site.node.args):
        return True
    words = set(name_tokens(site.scope.name))
    return bool(words & _EVAL_WORDS) and loops.grad_free(site.node, site.scope)


def _trains_here(loops: LoopFacts, site: CallSite) -> bool:
    """The forward pass shares its innermost loop (or its loop-free function) with a
    `backward()` call."""
    inner = site.loops[-1] if site.loops else None
    return any(
        loops.is_backward(s) and (inner in s.loops if inner else not s.loops)
        for s in site.scope.calls
    )


def _eval_before(loops: LoopFacts, site: CallSite, depth: int = 0) -> bool:
    """An `eval()` runs before this call: earlier in its function, in a loop around it, in
    another method of its class, or before the calls of its function. Unknown callers
    count as yes."""
    scope = site.scope
    for other in scope.calls:
        if loops.switches_to(other, "eval") and (
            _after(site.node, other.node) or set(other.loops) & set(site.loops)
        ):
            return True
    if scope.class_name is not None:
        cls = loops.resolver.enclosing_class(scope)
        methods = cls.methods.values() if cls is not None else []
        return any(loops.switches_to(s, "eval") for m in methods for s in m.calls)
    if not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    callers = loops.callers(scope)
    if not callers:
        return depth == 0
    return depth > 4 or any(_eval_before(loops, c, depth + 1) for c in callers)


def _trained_in_eval_mode(project: Project, module: ModuleFacts) -> Iterator[Hit]:
    loops = _loops(module)
    for epoch in module.epoch_loops:
        scope = epoch.scope
        if _lightning(module, scope):
            continue
        inside = [s for s in scope.calls if epoch.node in s.loops]
        evals = [s for s in inside if loops.switches_to(s, "eval")]
        if not evals or any(loops.switches_to(s, "train") for s in inside):
            continue
        switch = _eval_switch(loops, evals[0])
        if switch is None:
            continue
        receiver = switch.node.func.value  # type: ignore[attr-defined]
        key = module.model_key(receiver, switch.scope)
        found = project.network(key, module) if key else None
        if found is None or not _has_layers(project, *found, _MODE_LAYERS):
            continue
        if _handed_elsewhere(loops, inside, receiver):
            continue
        name = _label(receiver)
        yield Hit(
            module.path,
            evals[0].node,
            f"`{name}` is switched to eval mode in the epoch loop and never back to training "
            "mode, so later epochs train with dropout off and BatchNorm frozen",
            f"call `{name}.train()` at the start of each epoch",
        )


def _eval_switch(loops: LoopFacts, site: CallSite, depth: int = 0) -> CallSite | None:
    """The `.eval()` call a call is or leads to."""
    if loops.mode_switch(site) == "eval":
        return site
    target = loops.callee(site)
    if target is None or depth > 4:
        return None
    for inner in target.calls:
        if loops.switches_to(inner, "eval"):
            return _eval_switch(loops, inner, depth + 1)
    return None


def _handed_elsewhere(loops: LoopFacts, sites: list[CallSite], receiver: ast.expr) -> bool:
    """The model is passed to a call nnlint cannot see into (it may switch modes)."""
    name = dotted(receiver)
    for site in sites:
        if loops.callee(site) is not None:
            continue
        if any(dotted(a) == name for a in site.node.args):
            return True
    return False


# -- NN308 --------------------------------------------------------------------------------
@rule(
    "NN308",
    "evaluation-without-no-grad",
    severity="warning",
    summary="An evaluation loop runs the model with autograd recording.",
)
def evaluation_without_no_grad(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds loops over validation or test data that run a model forward, never call
    `backward()`, and are not inside `with torch.no_grad():` / `torch.inference_mode()`, a
    function decorated with either, a function only called from such a context, or after
    `torch.set_grad_enabled(False)`.

    ## Why is this bad?
    With autograd on, every forward pass keeps its activations for a backward pass that
    never comes: evaluation uses several times the memory it needs (often running out of
    GPU memory with batch sizes training handled), runs slower, and any loss summed over
    batches keeps every batch's graph alive.

    ## Example
    ```python
    model.eval()
    for x, y in val_loader:
        val_loss += criterion(model(x), y).item()
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            val_loss += criterion(model(x), y).item()
    ```

    ## Known limits
    The loop's data must be recognisably validation/test data (by name or by its split),
    and the model a network defined in the linted files. Functions that ask for gradients
    on purpose (`torch.autograd.grad`, `requires_grad_`) are left alone.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.no_grad.html
    - https://pytorch.org/docs/stable/notes/autograd.html#locally-disable-grad-doc
    """
    for module in project.modules:
        loops = _loops(module)
        for scope in module.collected.scopes:
            if scope.in_test or not scope.loops or _lightning(module, scope):
                continue
            for loop in scope.loops:
                source = loops.loop_source(loop)
                if source is None or module.data.role(source, scope) not in _EVAL_ROLES:
                    continue
                inside = [s for s in scope.calls if loop in s.loops]
                if any(loops.is_backward(s) for s in inside):
                    continue
                forwards = [s for s in inside if _network(project, module, s) is not None]
                if not forwards or any(loops.grad_free(s.node, scope) for s in forwards):
                    continue
                if _wants_gradients(scope) or _freezes_parameters(module):
                    continue
                yield Hit(
                    module.path,
                    loop,
                    f"this loop over `{dotted(source) or 'evaluation data'}` runs the model "
                    "with autograd on, keeping every activation for a backward pass that "
                    "never comes",
                    "wrap the evaluation in `with torch.no_grad():` (or "
                    "`torch.inference_mode()`), or decorate the function with "
                    "`@torch.no_grad()`",
                )


def _wants_gradients(scope: Scope) -> bool:
    for site in scope.calls:
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in {"requires_grad_", "grad"} or site.qualname == "torch.autograd.grad":
            return True
    return any(
        isinstance(node, ast.Attribute) and node.attr == "requires_grad"
        for node in ast.walk(scope.node)
    )


def _freezes_parameters(module: ModuleFacts) -> bool:
    """`model.requires_grad_(False)` or `p.requires_grad = False` anywhere in the module."""
    for site in module.collected.calls:
        func = site.node.func
        if isinstance(func, ast.Attribute) and func.attr == "requires_grad_":
            return True
    tree = module.source.tree
    assert tree is not None
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets)
        for node in ast.walk(tree)
    )


# -- NN309 --------------------------------------------------------------------------------
@rule(
    "NN309",
    "loss-accumulated-with-graph",
    severity="warning",
    summary="A loss tensor is summed or collected across iterations with its autograd graph.",
)
def loss_accumulated_with_graph(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    In a loop that calls `loss.backward()`, finds `total += loss`, `total = total + loss`
    and `losses.append(loss)` where the accumulator lives across iterations and `loss` is
    not turned into a number first (`.item()`, `.detach()`, `float(...)`).

    ## Why is this bad?
    A loss tensor carries its autograd history. Adding it to a running total (or keeping it
    in a list) keeps every iteration's graph reachable, so memory grows each step until the
    GPU runs out, and each later operation on the total is slower. The PyTorch FAQ lists
    this as the first cause of "my model uses too much memory".

    ## Example
    ```python
    running_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss
    ```

    ## Use instead
    ```python
    running_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    ```

    ## Known limits
    Only the tensor `backward()` is called on (by name) is followed; accumulators reset
    unconditionally in the same iteration are fine.

    ## Fix safety
    No automatic fix yet (`.item()` would be safe here).

    ## References
    - https://pytorch.org/docs/stable/notes/faq.html#my-model-reports-cuda-runtime-error-2-out-of-memory
    """
    for module in project.modules:
        loops = _loops(module)
        step_of = {id(b.node): s.node for s in loops.step_loops for b in s.backwards}
        for _scope, sites in loops.backward_loops():
            seen: set[int] = set()
            for site in sites:
                loss = _loss_name(site.node)
                loop = step_of.get(id(site.node), site.loops[-1])
                if loss is None or id(loop) in seen or _converted(loop, loss):
                    continue
                seen.add(id(loop))
                fresh = site.loops[site.loops.index(loop) :]
                for node, target in _accumulations(loop, loss, _reset_each_iteration(fresh)):
                    yield Hit(
                        module.path,
                        node,
                        f"`{target}` accumulates `{loss}` with its autograd graph, so every "
                        "iteration's graph stays in memory",
                        f"accumulate `{loss}.item()` (or `{loss}.detach()`) instead",
                    )


def _loss_name(call: ast.Call) -> str | None:
    """`loss` in `loss.backward()`, `scaler.scale(loss).backward()` and
    `accelerator.backward(loss)`."""
    receiver = call.func.value  # type: ignore[attr-defined]
    if call.args and isinstance(call.args[0], ast.Name):
        return call.args[0].id
    if isinstance(receiver, ast.Name):
        return receiver.id
    if isinstance(receiver, ast.Call) and receiver.args and isinstance(receiver.args[0], ast.Name):
        return receiver.args[0].id
    return None


def _bare(expr: ast.expr, name: str) -> bool:
    """The value still is the tensor `name` (or arithmetic on it), not a Python number."""
    if isinstance(expr, ast.Name):
        return expr.id == name
    if isinstance(expr, ast.BinOp):
        return _bare(expr.left, name) or _bare(expr.right, name)
    if isinstance(expr, ast.UnaryOp):
        return _bare(expr.operand, name)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.attr in _KEEPING and _bare(expr.func.value, name)
    return False


def _converted(loop: Loop, name: str) -> bool:
    """`loss = loss.item()` (or detach/float) somewhere in the loop."""
    for node in walk_body(loop):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            func = node.value.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _DETACHING | {"float", "int"}:
                return True
    return False


def _accumulations(loop: Loop, loss: str, reset: set[str]) -> Iterator[tuple[ast.AST, str]]:
    for node in walk_body(loop):
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            target = ast.unparse(node.target)
            if target and target != loss and target not in reset and _bare(node.value, loss):
                yield node, target
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = ast.unparse(node.targets[0])
            value = node.value
            if (
                target
                and target not in reset
                and target != loss
                and isinstance(value, ast.BinOp)
                and isinstance(value.op, ast.Add)
                and target in {ast.unparse(value.left), ast.unparse(value.right)}
                and _bare(value, loss)
            ):
                yield node, target
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and len(node.args) == 1
            and _bare(node.args[0], loss)
        ):
            target = ast.unparse(node.func.value)
            if target not in reset:
                yield node, target


def _reset_each_iteration(loops: tuple[Loop, ...]) -> set[str]:
    """Targets assigned afresh at the top level of one of these loops' bodies."""
    names = set()
    for loop in loops:
        for stmt in loop.body:
            if isinstance(stmt, ast.Assign) and not isinstance(stmt.value, ast.BinOp):
                names.update(ast.unparse(t) for t in stmt.targets)
    return names


# -- NN310 --------------------------------------------------------------------------------
@rule(
    "NN310",
    "fp16-autocast-without-scaler",
    severity="warning",
    summary="float16 autocast in training with no GradScaler scaling the loss.",
)
def fp16_autocast_without_scaler(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `torch.autocast(device_type="cuda")`, `torch.autocast(..., dtype=torch.float16)`,
    `torch.amp.autocast("cuda")` and `torch.cuda.amp.autocast()` in a function that calls
    `backward()`, when the module never builds a `GradScaler` and the loss is not scaled
    (`scaler.scale(loss)`, `accelerator.backward(loss)`). bfloat16 and CPU autocast are
    fine.

    ## Why is this bad?
    float16 has a narrow range: small gradients underflow to zero in the backward pass and
    the affected weights stop learning, with no error. `GradScaler` multiplies the loss
    before `backward()` and unscales before the step so the gradients stay representable
    (and skips steps with inf/NaN gradients).

    ## Example
    ```python
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    ```
    or `dtype=torch.bfloat16` on hardware that supports it (no scaler needed).

    ## Known limits
    A dtype or device held in a variable nnlint cannot resolve is left alone.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/amp.html#gradient-scaling
    - https://pytorch.org/docs/stable/notes/amp_examples.html
    """
    for module in project.modules:
        loops = _loops(module)
        if any(s.qualname in GRAD_SCALERS for s in module.collected.calls):
            continue
        for site in module.collected.training_calls:
            if site.qualname not in AUTOCAST or not _float16(module, site):
                continue
            backwards = [s for s in site.scope.calls if loops.is_backward(s)]
            if not backwards or any(_scaled(s.node) for s in backwards):
                continue
            yield Hit(
                module.path,
                site.node,
                "float16 autocast in training without a GradScaler: small gradients "
                "underflow to zero in float16",
                "scale the loss with `torch.amp.GradScaler` (`scaler.scale(loss).backward()`, "
                "`scaler.step(optimizer)`, `scaler.update()`), or autocast to bfloat16",
            )


def _float16(module: ModuleFacts, site: CallSite) -> bool:
    call, scope = site.node, site.scope
    if module.resolver.constant(keyword(call, "enabled"), scope) is False:
        return False
    legacy = site.qualname == "torch.cuda.amp.autocast"
    dtype = argument(call, "dtype", -1 if legacy else 1)
    if dtype is not None:
        names = {
            module.resolver.qualname(o.expr, o.scope) or dotted(o.expr)
            for o in module.resolver.origins(dtype, scope)
        } or {module.resolver.qualname(dtype, scope)}
        return names <= {"torch.float16", "torch.half"}
    if legacy:
        return True
    device = module.resolver.constant(argument(call, "device_type", 0), scope)
    return device == "cuda"


def _scaled(call: ast.Call) -> bool:
    receiver = call.func.value  # type: ignore[attr-defined]
    if call.args:
        return True
    return (
        isinstance(receiver, ast.Call)
        and isinstance(receiver.func, ast.Attribute)
        and receiver.func.attr == "scale"
    )


# -- NN311 --------------------------------------------------------------------------------
@rule(
    "NN311",
    "recurrent-without-grad-clipping",
    severity="warning",
    summary="A recurrent network (RNN/LSTM/GRU) is trained without gradient clipping.",
)
def recurrent_without_grad_clipping(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds PyTorch training loops (backward and optimizer step) that run a network built
    with `nn.RNN`, `nn.LSTM`, `nn.GRU` or their cells, and Lightning `Trainer`s fitting such
    a LightningModule, when nothing in the module clips gradients
    (`torch.nn.utils.clip_grad_norm_`/`clip_grad_value_`, `accelerator.clip_grad_norm_`,
    `gradient_clip_val=`, Lightning's `clip_gradients`).

    ## Why is this bad?
    Back-propagation through time multiplies by the recurrent weights once per time step,
    so gradients of recurrent networks explode on long sequences: one bad batch produces a
    huge update, the loss jumps or becomes NaN, and the run is lost. Clipping the gradient
    norm (to 1.0 or 5.0, say) bounds every update and costs nothing.

    ## Example
    ```python
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    ```

    ## Known limits
    The network must be defined in the linted files and called in the training loop
    itself. Keras models are not checked (use `clipnorm=` on the optimizer there).

    ## Fix safety
    No automatic fix.

    ## References
    - Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent neural networks"
      (2013)
    - https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
    """
    for module in project.modules:
        if _clips(module):
            continue
        for step in _loops(module).step_loops:
            for site in step.scope.calls:
                if step.node not in site.loops:
                    continue
                found = _network(project, module, site)
                if found is not None and _has_layers(project, *found, TORCH_RECURRENT):
                    yield Hit(
                        module.path,
                        step.backwards[0].node,
                        f"`{_label(site.node.func)}` is recurrent and trained without gradient "
                        "clipping; its gradients can explode on long sequences",
                        "call `torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)` "
                        "between `backward()` and `optimizer.step()`",
                    )
                    break
        yield from _lightning_recurrent(project, module)


def _clips(module: ModuleFacts) -> bool:
    for site in module.collected.calls:
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        qualname = (site.qualname or "").rpartition(".")[2]
        if {name, qualname} & GRAD_CLIPPING or any(
            k.arg in _CLIP_KEYWORDS for k in site.node.keywords
        ):
            return True
    return any(
        "configure_gradient_clipping" in c.methods for c in module.collected.classes.values()
    )


def _lightning_recurrent(project: Project, module: ModuleFacts) -> Iterator[Hit]:
    for fit in module.lightning_fits:
        trainer = fit.trainer
        if trainer is None or fit.model is None or has_star_args(trainer):
            continue
        key = module.model_key(fit.model, fit.site.scope)
        found = project.network(key, module) if key else None
        if found is None or _clips(found[1]):
            continue
        if _has_layers(project, *found, TORCH_RECURRENT):
            yield Hit(
                module.path,
                trainer,
                "the Trainer fits a recurrent model without gradient clipping; its "
                "gradients can explode on long sequences",
                "pass `gradient_clip_val=1.0` to the Trainer",
            )
