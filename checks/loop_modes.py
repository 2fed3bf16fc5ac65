"""NN307-NN308: train/eval mode around training and evaluation, and autograd during
evaluation."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.checks.loop_shared import (
    builds_layers,
    comes_after,
    forward_network,
    in_lightning_module,
    loop_facts,
    model_label,
    runs_a_model,
)

from nnlint.facts import ModuleFacts
from nnlint.facts.loops import BATCHNORM_LAYERS, DROPOUT_LAYERS, LoopFacts
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.scope import CallSite, Scope
from nnlint.facts.values import keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_MODE_LAYERS = DROPOUT_LAYERS | BATCHNORM_LAYERS
_EVAL_ROLES = frozenset({"val", "test"})
_EVAL_WORDS = frozenset(
    {"eval", "evaluate", "evaluation", "validate", "validation", "valid", "val", "test"}
    | {"predict", "prediction", "inference", "infer"}
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
    loops = loop_facts(module)
    for scope in module.collected.scopes:
        if scope.in_test or in_lightning_module(module, scope) or _model_method(module, scope):
            continue
        reported: set[str] = set()
        for site in scope.calls:
            found = forward_network(project, module, site)
            if found is None or found[0].name in reported:
                continue
            if not _evaluates(module, loops, site) or _trains_here(loops, site):
                continue
            if not builds_layers(project, *found, _MODE_LAYERS) or _eval_before(loops, site):
                continue
            reported.add(found[0].name)
            name = model_label(site.node.func)
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
    `backward()` call; a backward in a loop nested below it (the batch loop inside an epoch
    loop that validates) is another step."""
    inner = site.loops[-1] if site.loops else None
    return any(
        loops.is_backward(s) and (s.loops[-1] is inner if s.loops else inner is None)
        for s in site.scope.calls
    )


def _eval_before(loops: LoopFacts, site: CallSite, depth: int = 0) -> bool:
    """An `eval()` runs before this call: earlier in its function, in a loop around it, in
    another method of its class, or before the calls of its function. Unknown callers
    count as yes."""
    scope = site.scope
    for other in scope.calls:
        if loops.switches_to(other, "eval") and (
            comes_after(site.node, other.node) or set(other.loops) & set(site.loops)
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
    loops = loop_facts(module)
    for epoch in module.epoch_loops:
        scope = epoch.scope
        if in_lightning_module(module, scope):
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
        if found is None or not builds_layers(project, *found, _MODE_LAYERS):
            continue
        if _handed_elsewhere(loops, inside, receiver):
            continue
        name = model_label(receiver)
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
    The data must be recognisably validation/test data (by name, by its split, or by what
    every caller passes for a parameter), and the model a network defined in the linted files
    or an object the module treats as a model (its `.parameters()`, `.eval()` or
    `.state_dict()` are used). PyTorch 0.3's `Variable(x, volatile=True)` counts as autograd
    off. Not seen yet: a single evaluation batch drawn inside the training loop's own block,
    and evaluation helpers called with both validation and test data. Functions that ask for
    gradients on purpose (`torch.autograd.grad`, `requires_grad_`) are left alone.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.no_grad.html
    - https://pytorch.org/docs/stable/notes/autograd.html#locally-disable-grad-doc
    """
    for module in project.modules:
        loops = loop_facts(module)
        for scope in module.collected.scopes:
            if scope.in_test or not scope.loops or in_lightning_module(module, scope):
                continue
            for loop in scope.loops:
                source = loops.loop_source(loop)
                if source is None or module.data.role(source, scope) not in _EVAL_ROLES:
                    continue
                inside = [s for s in scope.calls if loop in s.loops]
                if any(loops.is_backward(s) for s in inside):
                    continue
                forwards = [s for s in inside if runs_a_model(project, module, s)]
                if not forwards or any(_no_grad(module, loops, s) for s in forwards):
                    continue
                if _wants_gradients(scope) or _freezes_parameters(module):
                    continue
                yield Hit(
                    module.path,
                    loop,
                    f"this loop over `{dotted(source) or 'evaluation data'}` runs the model "
                    "with autograd on, keeping every activation for a backward pass that "
                    "never comes",
                    _NO_GRAD_HELP,
                )
        yield from _evaluation_forwards_with_grad(project, module, loops)


_NO_GRAD_HELP = (
    "wrap the evaluation in `with torch.no_grad():` (or `torch.inference_mode()`), or "
    "decorate the function with `@torch.no_grad()`"
)


def _evaluation_forwards_with_grad(
    project: Project, module: ModuleFacts, loops: LoopFacts
) -> Iterator[Hit]:
    """A forward pass on validation/test tensors outside any evaluation loop (`pred =
    net(test_x)` every few steps of a training loop), in a block that never calls
    `backward()`, with autograd on."""
    role = module.data.role
    if not module.model_receivers and not module.networks:
        return  # nothing here is known to be a model
    for scope in module.collected.scopes:
        if scope.in_test or in_lightning_module(module, scope):
            continue
        for site in scope.calls:
            if not site.node.args or not runs_a_model(project, module, site):
                continue
            if not any(role(a, scope) in _EVAL_ROLES for a in site.node.args):
                continue
            if any(
                role(source, scope) in _EVAL_ROLES
                for loop in site.loops
                if (source := loops.loop_source(loop)) is not None
            ):
                continue  # the loop form above
            if _no_grad(module, loops, site) or _wants_gradients(scope):
                continue
            block = _enclosing_block(loops, site)
            if any(loops.is_backward(s) and _inside(loops, s, block, scope) for s in scope.calls):
                continue
            if _freezes_parameters(module):
                return
            yield Hit(
                module.path,
                site.node,
                f"`{model_label(site.node.func)}` runs on evaluation data with autograd on, "
                "keeping its activations for a backward pass that never comes",
                _NO_GRAD_HELP,
            )


def _no_grad(module: ModuleFacts, loops: LoopFacts, site: CallSite) -> bool:
    """The forward pass runs with autograd off: under `no_grad` and the like, or (PyTorch
    0.3) on an input built as `Variable(x, volatile=True)`."""
    if loops.grad_free(site.node, site.scope):
        return True
    for arg in site.node.args:
        for origin in module.resolver.origins(arg, site.scope):
            call = origin.expr
            if (
                isinstance(call, ast.Call)
                and module.resolver.call_name(call, origin.scope) == "torch.autograd.Variable"
                and module.resolver.constant(keyword(call, "volatile"), origin.scope) is True
            ):
                return True
    return False


def _enclosing_block(loops: LoopFacts, site: CallSite) -> ast.AST:
    """The innermost `if`, loop, `with` or function around a call."""
    for parent in loops.ancestors(site.node, site.scope):
        if isinstance(parent, ast.If | ast.For | ast.While | ast.With | ast.AsyncFor):
            return parent
    return site.scope.node


def _inside(loops: LoopFacts, site: CallSite, block: ast.AST, scope: Scope) -> bool:
    return block is scope.node or any(p is block for p in loops.ancestors(site.node, scope))


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
