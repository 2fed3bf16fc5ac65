"""NN309-NN311: gradients kept or lost — a loss summed with its graph, float16 without loss
scaling, recurrent networks without gradient clipping."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.checks.loop_shared import builds_layers, forward_network, loop_facts, model_label

from nnlint.facts import ModuleFacts
from nnlint.facts.loops import AUTOCAST, GRAD_CLIPPING, GRAD_SCALERS, TORCH_RECURRENT, walk_body
from nnlint.facts.names import dotted
from nnlint.facts.scope import CallSite, Loop
from nnlint.facts.values import argument, has_star_args, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_DETACHING = frozenset({"item", "detach", "tolist", "numpy", "data"})
_KEEPING = frozenset({"cpu", "to", "cuda", "mean", "sum", "clone", "float", "double", "squeeze"})
_CLIP_KEYWORDS = frozenset(
    {"gradient_clip_val", "clipnorm", "clipvalue", "global_clipnorm", "max_grad_norm"}
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
        loops = loop_facts(module)
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
        loops = loop_facts(module)
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
        for step in loop_facts(module).step_loops:
            for site in step.scope.calls:
                if step.node not in site.loops:
                    continue
                found = forward_network(project, module, site)
                if found is not None and builds_layers(project, *found, TORCH_RECURRENT):
                    yield Hit(
                        module.path,
                        step.backwards[0].node,
                        f"`{model_label(site.node.func)}` is recurrent and trained without "
                        "gradient clipping; its gradients can explode on long sequences",
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
        if builds_layers(project, *found, TORCH_RECURRENT):
            yield Hit(
                module.path,
                trainer,
                "the Trainer fits a recurrent model without gradient clipping; its "
                "gradients can explode on long sequences",
                "pass `gradient_clip_val=1.0` to the Trainer",
            )
