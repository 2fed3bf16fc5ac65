"""NN1 (continued): layer order, dropout, initialisation, depth, regression outputs, targets."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint import tables
from nnlint.facts import ModuleFacts
from nnlint.facts.graph import GNode, Network
from nnlint.facts.layer_calls import Layer, NetworkLayers, dropout_rate
from nnlint.facts.layers import layer_name
from nnlint.facts.losses import torch_loss_kind
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.networks import call_key
from nnlint.facts.scope import CallSite
from nnlint.facts.targets import CLASS_LABELS, CONTINUOUS, one_hot, target_kind
from nnlint.facts.values import argument, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_MAX_STEPS = 40


def _networks(project: Project) -> Iterator[tuple[ModuleFacts, NetworkLayers, Network]]:
    """Every feed-forward network of the run (recurrent and attention networks excluded)."""
    for module in project.modules:
        layers = NetworkLayers(module)
        for network in module.networks.values():
            if not project.part_of_sequence_model(network, module):
                yield module, layers, network


def _used_as_layer(project: Project) -> set[str]:
    """Networks that another network uses as a layer (a backbone, a block, a head)."""
    return {ref for m in project.modules for n in m.networks.values() for ref in n.submodules}


def _whole_models(project: Project) -> set[int]:
    """`id`s of networks known to be a whole model rather than a block of one: trained with a
    loss, `compile`/`fit` or a Lightning Trainer, or built by a call outside any class."""
    found = {id(p.network) for p in project.pairings()}
    for module in project.modules:
        keys = [
            module.model_key(fit.model, fit.site.scope)
            for fit in (*module.keras_fits, *module.lightning_fits)
            if fit.model is not None
        ]
        keys += [key for _, key, _ in _keras_compiles(module)]
        for key in keys:
            network = project.network(key, module) if key else None
            if network is not None:
                found.add(id(network[0]))
        for site in module.collected.calls:
            network = module.networks.get(call_key(module.module_name, site.node))
            if network is not None and site.scope.class_name is None:
                found.add(id(network))
    return found


def _single_consumer(gnode: GNode) -> GNode | None:
    return gnode.consumers[0] if len(gnode.consumers) == 1 else None


def _is_pooling(layer: Layer) -> bool:
    return "pool" in layer.name.lower()


# -- NN103 ------------------------------------------------------------------------------
@rule(
    "NN103",
    "stacked-linear-layers",
    severity="warning",
    summary="Two Linear/Dense layers in a row with no activation between them.",
)
def stacked_linear_layers(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a `Linear` (or Keras `Dense` with no `activation=`) whose output goes straight
    into another `Linear`/`Dense`, with only dropout, flattening or reshaping between:
    in `nn.Sequential`, in `forward`, and in Keras Sequential and functional models.

    ## Why is this bad?
    A composition of linear maps is one linear map: `W2 (W1 x + b1) + b2 = W x + b`. The
    second layer adds parameters and compute but no expressive power; the author almost
    always meant to put a nonlinearity between them. Dropout between them does not change
    this: it is linear too.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.Linear(256, 10))
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    ```

    ## Known limits
    Not reported: a normalisation layer between the two (LayerNorm is not linear), a
    narrow layer followed by a wider one or a first layer without bias (a deliberate
    low-rank factorisation), layers whose widths cannot be read statically (from a config
    object), layers whose output is used more than once, and networks with recurrent or
    attention layers, where stacked projections are part of the design.

    ## Fix safety
    No automatic fix: which activation to add is a modelling choice.

    ## References
    - Goodfellow, Bengio & Courville, "Deep Learning" (2016), section 6.1
    """
    for module, layers, network in _networks(project):
        for gnode in network.nodes:
            if gnode.kind != "weight":
                continue
            first = layers.layer(gnode, network)
            if not first.is_dense or (
                first.framework == "keras" and not layers.keras_linear(first)
            ):
                continue
            following, normalised = _next_weight(gnode, layers, network)
            if following is None:
                continue
            second = layers.layer(following, network)
            if not second.is_dense:
                continue
            middle, out = layers.out_units(first), layers.out_units(second)
            if middle is None or out is None or middle < out:
                continue
            if _bias_free(first) and not normalised:  # a factorisation, unless BN takes the bias
                continue
            yield Hit(
                module.path,
                following.node,
                f"`{second.name}` directly follows `{first.name}` with no activation between; "
                "two linear layers collapse into one linear map",
                "put a nonlinearity (ReLU, GELU) between them, or merge them into one layer",
            )


def _bias_free(layer: Layer) -> bool:
    """`nn.Linear(..., bias=False)`/`Dense(..., use_bias=False)`: a deliberate factorisation."""
    if layer.call is None:
        return False
    flag = keyword(layer.call, "bias") or keyword(layer.call, "use_bias")
    return isinstance(flag, ast.Constant) and flag.value is False


def _next_weight(
    gnode: GNode, layers: NetworkLayers, network: Network
) -> tuple[GNode | None, bool]:
    """The weight layer a layer's output reaches through dropout, reshapes and batch
    normalisation only (all affine at inference), and whether a BatchNorm is between."""
    current, normalised = gnode, False
    for _ in range(_MAX_STEPS):
        following = _single_consumer(current)
        if following is None:
            return None, False
        if following.kind == "weight":
            return following, normalised
        if following.kind not in {"pass", "norm"} or len(following.inputs) != 1:
            return None, False
        layer = layers.layer(following, network)
        batch_norm = following.kind == "norm" and "BatchNorm" in layer.name
        if _is_pooling(layer) or (following.kind == "norm" and not batch_norm):
            return None, False  # LayerNorm and the like divide by a per-sample statistic
        normalised = normalised or batch_norm
        current = following
    return None, False


# -- NN104 ------------------------------------------------------------------------------
@rule(
    "NN104",
    "dropout-placement",
    severity="warning",
    summary="Dropout on the network's output or on its raw input.",
)
def dropout_placement(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds dropout applied to what the network returns (after its last weight layer, also
    between that layer and the output activation), and dropout with a rate above 0.2
    applied to the raw input before any layer.

    ## Why is this bad?
    Dropout on the output zeroes predictions at random during training: the loss sees
    corrupted outputs, and the scale of the outputs differs between training and
    evaluation. Heavy dropout on the raw input throws away a large part of every example
    before the network sees it; where input noise is wanted, 0.1-0.2 (as in the original
    dropout paper) or data augmentation does the job.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10), nn.Dropout(0.5))
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    ```

    ## Known limits
    Dropout on the input of the last layer (AlexNet/VGG/BERT classification heads) is good
    practice and not reported. Only whole models are checked: networks trained with a loss,
    `compile`/`fit` or a Lightning Trainer, or built outside any class. A block of a larger
    model (a transformer MLP ending in residual dropout, a head, a backbone) is not, since
    its output or input is not the model's; nor are denoising autoencoders, whose input
    dropout is the point.

    ## Fix safety
    No automatic fix.

    ## References
    - Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting"
      (2014)
    """
    inner = _used_as_layer(project)
    models = _whole_models(project)
    for module, layers, network in _networks(project):
        if network.name in inner or id(network) not in models:
            continue
        for output in network.outputs:
            dropout = _dropout_before_output(output, layers, network)
            if dropout is not None:
                yield Hit(
                    module.path,
                    dropout.gnode.node,
                    "dropout on the network's output randomly zeroes its predictions",
                    "remove it, or move it before the last layer",
                )
        if "denoising" in name_tokens(network.name.rpartition(".")[2]):
            continue
        for gnode in network.nodes:
            if gnode.kind == "input":
                yield from _input_dropout(module, gnode, layers, network)


def _dropout_before_output(output: GNode, layers: NetworkLayers, network: Network) -> Layer | None:
    """A dropout between the last weight layer and the output (through activations)."""
    current = output
    for _ in range(_MAX_STEPS):
        if current.kind not in {"pass", "act"} or len(current.inputs) != 1:
            return None
        layer = layers.layer(current, network)
        if current.kind == "pass" and layer.is_dropout:
            return layer if _reaches_weight(current) else None
        current = current.inputs[0]
    return None


def _reaches_weight(gnode: GNode) -> bool:
    current = gnode
    for _ in range(_MAX_STEPS):
        if len(current.inputs) != 1:
            return False
        current = current.inputs[0]
        if current.kind == "weight":
            return True
        if current.kind not in {"pass", "act", "norm"}:
            return False
    return False


def _input_dropout(
    module: ModuleFacts, start: GNode, layers: NetworkLayers, network: Network
) -> Iterator[Hit]:
    current = start
    for _ in range(_MAX_STEPS):
        following = _single_consumer(current)
        if following is None or following.kind not in {"pass", "input"}:
            return
        layer = layers.layer(following, network)
        if layer.is_dropout:
            rate = layers.dropout_rate(layer)
            if rate is not None and rate > tables.MAX_INPUT_DROPOUT_RATE:
                yield Hit(
                    module.path,
                    following.node,
                    f"dropout with rate {rate:g} on the raw input discards that share of every "
                    "example before the network sees it",
                    "remove the input dropout or keep it at 0.1-0.2; regularise with dropout "
                    "after hidden layers or with data augmentation",
                )
            return
        current = following


# -- NN105 ------------------------------------------------------------------------------
@rule(
    "NN105",
    "dropout-rate-too-high",
    severity="warning",
    summary="A dropout rate above 0.5.",
)
def dropout_rate_too_high(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds dropout layers and calls whose rate is known and above 0.5: `nn.Dropout(p)`,
    `F.dropout(x, p=...)`, Keras `Dropout(rate)`, also through constants and argparse
    defaults.

    ## Why is this bad?
    The rate is the fraction of units dropped. Above 0.5 more units are dropped than kept:
    the network under-fits and training is slow and noisy. A rate like 0.8 is often a
    keep-probability written where a drop rate is expected (TensorFlow 1's `keep_prob`
    meant the opposite).

    ## Example
    ```python
    self.drop = nn.Dropout(p=0.8)
    ```

    ## Use instead
    ```python
    self.drop = nn.Dropout(p=0.2)  # the fraction dropped
    ```

    ## Known limits
    Rates computed at run time (from a config or a search) are not checked. A very strong
    dropout of 0.6 is sometimes chosen on purpose for a tiny dataset: suppress it with
    `# noqa: NN105` there.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html
    - https://keras.io/api/layers/regularization_layers/dropout/
    """
    for module in project.modules:
        for site in module.collected.training_calls:
            rate = dropout_rate(module, site.node, site.scope)
            if rate is not None and rate > tables.MAX_DROPOUT_RATE:
                yield Hit(
                    module.path,
                    site.node,
                    f"dropout rate {rate:g} drops more units than it keeps",
                    "use a rate between 0.1 and 0.5; the rate is the fraction dropped, not kept",
                )


# -- NN106 ------------------------------------------------------------------------------
@rule(
    "NN106",
    "init-activation-mismatch",
    severity="warning",
    summary="Weight initialisation that does not fit the activation after the layer.",
)
def init_activation_mismatch(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds Xavier/Glorot initialisation on layers followed by ReLU-family activations, and
    Kaiming/He initialisation on layers followed by tanh or sigmoid: explicit
    `nn.init.xavier_*`/`kaiming_*` calls on `self.fc.weight`, in `self.modules()` loops and
    in functions given to `model.apply`, and Keras `kernel_initializer=` next to the
    layer's own `activation=`.

    ## Why is this bad?
    Each scheme keeps the variance of activations stable for one kind of nonlinearity.
    Xavier assumes a symmetric, roughly linear activation (tanh); under ReLU, which zeroes
    half the units, activations shrink layer by layer and deep nets start with vanishing
    signals. He/Kaiming doubles the variance for ReLU; under tanh or sigmoid that pushes
    units into saturation.

    ## Example
    ```python
    nn.init.xavier_uniform_(self.fc1.weight)  # fc1 is followed by ReLU
    ```

    ## Use instead
    ```python
    nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
    ```

    ## Known limits
    Xavier with a `gain=` and Kaiming with a `nonlinearity=` for tanh/sigmoid are taken as
    deliberate. Whole-network initialisation is reported only when all hidden activations
    are of the other family. Recurrent and attention networks are not checked. Keras
    layers are checked against their own `activation=` only. An output layer of at most 16
    units is not reported: He and Glorot variances, 2/fan_in and 2/(fan_in + fan_out), are
    then all but equal.

    ## Fix safety
    No automatic fix.

    ## References
    - He et al., "Delving Deep into Rectifiers" (2015)
    - Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks" (2010)
    """
    sites: dict[int, _InitSites] = {}
    for module, layers, network in _networks(project):
        if id(module) not in sites:
            sites[id(module)] = _InitSites(module)
        yield from _torch_init(project, module, layers, network, sites[id(module)])
    for module in project.modules:
        yield from _keras_init(module)


def _init_family(qualname: str) -> str | None:
    if qualname in tables.XAVIER_INIT:
        return "xavier"
    if qualname in tables.KAIMING_INIT:
        return "kaiming"
    return None


class _InitSites:
    """A module's init calls (with their family) and `.apply(fn)` calls, found once per
    module rather than once per network."""

    def __init__(self, module: ModuleFacts) -> None:
        self.inits: list[tuple[CallSite, str]] = []
        self.applies: list[CallSite] = []
        for site in module.collected.training_calls:
            family = _init_family(site.qualname or "")
            if family is not None and site.node.args:
                self.inits.append((site, family))
            func = site.node.func
            if isinstance(func, ast.Attribute) and func.attr == "apply" and site.node.args:
                self.applies.append(site)


def _torch_init(
    project: Project,
    module: ModuleFacts,
    layers: NetworkLayers,
    network: Network,
    sites: _InitSites,
) -> Iterator[Hit]:
    class_name = getattr(network.node, "name", None)
    applied = _applied_functions(project, module, network, sites.applies)
    for site, family in sites.inits:
        cls = module.resolver.enclosing_class(site.scope)
        in_network = cls is not None and cls.name == class_name
        if not in_network and site.scope.name not in applied:
            continue
        target = site.node.args[0]
        if _deliberate(site.node, family, module, site.scope):
            continue
        attr = _weight_of_self_attribute(target)
        if attr is not None and in_network:
            acts = {
                _act_after(g)
                for g in network.nodes
                if _calls_self(g, attr) and not _immaterial(network, g)
            }
            acts.discard(None)
        else:
            relu = network.hidden_activations(frozenset({"relu", "leaky"}))
            saturating = network.hidden_activations(frozenset({"tanh", "sigmoid"}))
            acts = set()
            if relu and not saturating:
                acts = {"relu"}
            elif saturating and not relu:
                acts = {g.act for g in saturating}
        yield from _init_hit(module.path, site.node, family, acts)


def _init_hit(path: str, node: ast.AST, family: str, acts: set[str | None]) -> Iterator[Hit]:
    if len(acts) != 1:
        return
    act = acts.pop()
    if family == "xavier" and act in {"relu", "leaky"}:
        yield Hit(
            path,
            node,
            "Xavier/Glorot initialisation on a layer followed by a ReLU-family activation; "
            "activations shrink layer by layer",
            "use Kaiming/He initialisation (`kaiming_uniform_(w, nonlinearity='relu')`, "
            "`he_normal`)",
        )
    elif family == "kaiming" and act in {"tanh", "sigmoid"}:
        yield Hit(
            path,
            node,
            f"Kaiming/He initialisation on a layer followed by {act}; the larger weights "
            "saturate it",
            "use Xavier/Glorot initialisation for tanh/sigmoid layers, or pass "
            f"nonlinearity='{act}'",
        )


def _deliberate(call: ast.Call, family: str, module: ModuleFacts, scope) -> bool:
    """Xavier with a gain, Kaiming with a nonlinearity for saturating activations."""
    if family == "xavier":
        return argument(call, "gain", 1) is not None
    nonlinearity = module.resolver.constant(argument(call, "nonlinearity", 3), scope)
    return isinstance(nonlinearity, str) and nonlinearity in tables.KAIMING_SATURATING


def _applied_functions(
    project: Project, module: ModuleFacts, network: Network, applies: list[CallSite]
) -> set[str]:
    """Names of module functions passed to `<this network>.apply(fn)`."""
    names = set()
    for site in applies:
        func = site.node.func
        fn = site.node.args[0]
        if not (isinstance(fn, ast.Name) and fn.id in module.collected.functions):
            continue
        key = module.model_key(func.value, site.scope)
        found = project.network(key, module) if key else None
        if found is not None and found[0] is network:
            names.add(fn.id)
    return names


def _weight_of_self_attribute(expr: ast.expr) -> str | None:
    """`self.fc1.weight` -> 'fc1'."""
    name = dotted(expr) or ""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "self" and parts[2] == "weight":
        return parts[1]
    return None


def _calls_self(gnode: GNode, attr: str) -> bool:
    node = gnode.node
    return (
        gnode.kind == "weight"
        and isinstance(node, ast.Call)
        and dotted(node.func) == f"self.{attr}"
    )


def _act_after(gnode: GNode) -> str | None:
    """The activation a weight layer's output goes through next (None: none, or unknown)."""
    current = gnode
    for _ in range(_MAX_STEPS):
        following = _single_consumer(current)
        if following is None:
            return None
        if following.kind == "act":
            return following.act
        if following.kind not in {"pass", "norm"}:
            return None
        current = following
    return None


def _keras_init(module: ModuleFacts) -> Iterator[Hit]:
    for site in module.collected.training_calls:
        framework, name = layer_name(site.qualname)
        if framework != "keras" or name not in tables.KERAS_WEIGHT_LAYERS:
            continue
        init = keyword(site.node, "kernel_initializer")
        act_expr = keyword(site.node, "activation")
        if init is None or act_expr is None:
            continue
        family = _keras_init_family(module, init, site.scope)
        act = module.classifier.keras_activation(act_expr, site.scope)
        if family is not None and act is not None and not _narrow_output(module, site.node):
            yield from _init_hit(module.path, init, family, {act})


def _narrow_output(module: ModuleFacts, layer: ast.Call) -> bool:
    """`layer` (a Keras layer call) is a known network's output layer with few units."""
    for network in module.networks.values():
        for gnode in network.nodes:
            if gnode.node is layer or getattr(gnode.node, "func", None) is layer:
                return _immaterial(network, gnode)
    return False


def _immaterial(network: Network, gnode: GNode) -> bool:
    """An output layer (it feeds no other weight layer) with few units: He and Glorot
    variances, 2/fan_in and 2/(fan_in + fan_out), are then all but equal."""
    return (
        gnode.units is not None
        and gnode.units <= tables.NARROW_OUTPUT
        and not network.feeds_a_layer(gnode)
    )


def _keras_init_family(module: ModuleFacts, expr: ast.expr, scope) -> str | None:
    value = module.resolver.constant(expr, scope)
    if isinstance(value, str):
        return tables.KERAS_INIT_FAMILIES.get(value)
    if isinstance(expr, ast.Call):
        qualname = module.resolver.call_name(expr, scope) or ""
        if qualname.startswith("keras.initializers.") and not expr.keywords and not expr.args:
            return tables.KERAS_INIT_FAMILIES.get(qualname.rpartition(".")[2])
    return None


# -- NN107 ------------------------------------------------------------------------------
_FUNCTIONAL_NORMS = frozenset(
    {
        "torch.nn.functional.layer_norm",
        "torch.nn.functional.batch_norm",
        "torch.nn.functional.group_norm",
        "torch.nn.functional.instance_norm",
        "torch.nn.functional.normalize",
    }
)


@rule(
    "NN107",
    "deep-network-without-normalisation",
    severity="info",
    summary="A deep network (7 or more weight layers) with no normalisation layer.",
    default=False,
)
def deep_network_without_normalisation(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Counts the weight layers (Linear, Conv, Dense) on the path to a network's output and
    reports networks with 7 or more of them and no BatchNorm, LayerNorm, GroupNorm or other
    normalisation layer. Off by default: select `NN107` to run it.

    ## Why is this bad?
    Without normalisation, the scale of activations drifts from layer to layer in a deep
    network: gradients vanish or explode, training needs a small learning rate and careful
    initialisation, and converges slowly. BatchNorm (CNNs) or LayerNorm (MLPs,
    transformers) keep each layer's inputs well-scaled.

    ## Example
    ```python
    model = nn.Sequential(*[nn.Sequential(nn.Linear(256, 256), nn.ReLU()) for _ in range(8)])
    ```

    ## Use instead
    ```python
    model = nn.Sequential(
        *[nn.Sequential(nn.Linear(256, 256), nn.LayerNorm(256), nn.ReLU()) for _ in range(8)]
    )
    ```

    ## Known limits
    Layers applied in a loop count once; networks built from other networks, with
    recurrent or attention layers, or with SELU (self-normalising) activations are not
    reported. A deep network can train without normalisation (with residual connections
    and careful initialisation); this is advice, not an error.

    ## Fix safety
    No automatic fix.

    ## References
    - Ioffe & Szegedy, "Batch Normalization" (2015)
    - Ba, Kiros & Hinton, "Layer Normalization" (2016)
    """
    for module, layers, network in _networks(project):
        weights = [g for g in network.nodes if g.kind == "weight"]
        if len(weights) < tables.DEEP_WEIGHT_LAYERS or network.submodules:
            continue
        if any(g.kind in {"norm", "network"} for g in network.nodes):
            continue
        if _normalises_elsewhere(module, network, layers):
            continue
        yield Hit(
            module.path,
            network.node,
            f"deep network ({len(weights)} weight layers) with no normalisation layer",
            "add BatchNorm (CNNs) or LayerNorm (MLPs) between the layers",
        )


def _normalises_elsewhere(module: ModuleFacts, network: Network, layers: NetworkLayers) -> bool:
    """A norm or SELU anywhere in the network's class, or a SELU in the graph."""
    if any(layers.layer(g, network).name in {"SELU", "selu"} for g in network.nodes):
        return True
    class_name = getattr(network.node, "name", None)
    if class_name is None:
        return False
    for site in module.collected.calls:
        cls = module.resolver.enclosing_class(site.scope)
        if cls is None or cls.name != class_name:
            continue
        qualname = site.qualname or ""
        last = qualname.rpartition(".")[2]
        if qualname in _FUNCTIONAL_NORMS or last in tables.NORMALISATION_LAYERS:
            return True
        if last.lower() in {"selu"}:
            return True
    return False


# -- NN108 ------------------------------------------------------------------------------
_GENERATIVE_WORDS = frozenset(
    {"autoencoder", "ae", "vae", "decoder", "generator", "gen", "unet", "denoiser", "denoising"}
)


@rule(
    "NN108",
    "activation-on-regression-output",
    severity="warning",
    summary="A bounding activation (sigmoid, tanh, softmax) on a regression model's output.",
)
def activation_on_regression_output(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Pairs a regression loss (`MSELoss`, `L1Loss`, `HuberLoss`, `SmoothL1Loss`, Keras
    `"mse"`/`"mae"`/`Huber`) with the model whose output it receives and reports a sigmoid,
    tanh or softmax on that output.

    ## Why is this bad?
    Regression needs a linear output: sigmoid squashes predictions into (0, 1), tanh into
    (-1, 1), softmax makes them sum to one. Targets outside that range can never be
    reached, and near the bounds the gradients vanish, so the model stalls with a large
    error and no warning.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
    loss = nn.MSELoss()(model(x), house_prices)
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
    loss = nn.MSELoss()(model(x), house_prices)
    ```

    ## Known limits
    ReLU outputs are left alone (non-negative targets such as counts or prices are common).
    A sigmoid or tanh is taken as deliberate when the targets are the inputs
    (reconstruction), when the module scales data into a range (`MinMaxScaler`), and in
    autoencoders, decoders and generators, whose outputs are images in a bounded range.

    ## Fix safety
    No automatic fix.

    ## References
    - Bishop, "Pattern Recognition and Machine Learning" (2006), section 5.2
    - https://keras.io/api/losses/regression_losses/
    """
    for pairing in project.pairings():
        loss = pairing.loss
        if loss.kind != "regression" or loss.framework != "torch":
            continue
        target = argument(loss.node, "target", 1)  # type: ignore[arg-type]
        prediction = argument(loss.node, "input", 0)  # type: ignore[arg-type]
        if _reconstructs(prediction, target, pairing.loss_module, loss.node):
            continue
        if pairing.loss_module.loss_target_kind(loss.node) == CLASS_LABELS:
            continue  # a regression loss on class labels: NN109's finding
        for hit in _bounded_output(
            project, pairing.network, pairing.network_module, pairing.loss_module, loss
        ):
            yield project.relocated(hit, (pairing.loss_module.path, loss.node))
    for module in project.modules:
        for network_key in _keras_regression_compiles(module):
            found = project.network(network_key, module)
            if found is None or _keras_reconstructs(module, network_key):
                continue
            yield from _bounded_output(project, found[0], found[1], module, None)


def _bounded_output(project, network, network_module, loss_module, loss) -> Iterator[Hit]:
    output, output_module = project.output_of(network, network_module)
    act, node, path = output.act, output.node, output_module.path
    if loss is not None and loss.post_act is not None:
        act, node, path = loss.post_act, loss.post_node, loss_module.path
    if act not in tables.BOUNDED_OUTPUTS or node is None:
        return
    if act in {"sigmoid", "tanh"} and _bounded_on_purpose(network, network_module, loss_module):
        return
    ranges = {"sigmoid": "(0, 1)", "tanh": "(-1, 1)"}
    squeezed = ranges.get(act, "a distribution that sums to one")
    yield Hit(
        path,
        node,
        f"{act} on the output of a regression model squeezes its predictions into {squeezed}",
        "use a linear output (no activation) with a regression loss; scale the targets "
        "instead if they are bounded",
    )


def _bounded_on_purpose(network: Network, *modules: ModuleFacts) -> bool:
    words = set(name_tokens(network.name.rpartition(".")[2]))
    if words & _GENERATIVE_WORDS:
        return True
    for module in modules:
        for site in module.collected.calls:
            if site.qualname in tables.RANGE_SCALERS:
                return True
    return False


def _reconstructs(
    prediction: ast.expr | None, target: ast.expr | None, module: ModuleFacts, at: ast.AST
) -> bool:
    """`loss(model(x), x)`: the target is the model's input."""
    if prediction is None or target is None:
        return False
    wanted = dotted(target)
    if wanted is None:
        return False
    scope = next((s.scope for s in module.collected.calls if s.node is at), None)
    candidates: list[ast.expr] = [prediction]
    if scope is not None:
        candidates += [o.expr for o in module.resolver.origins(prediction, scope)]
    for candidate in candidates:
        if (
            isinstance(candidate, ast.Call)
            and candidate.args
            and dotted(candidate.args[0]) == wanted
        ):
            return True
    return False


def _keras_loss_category(module: ModuleFacts, expr: ast.expr, scope) -> str | None:
    value = module.resolver.constant(expr, scope)
    name = value if isinstance(value, str) else None
    if name is None:
        target = expr.func if isinstance(expr, ast.Call) else expr
        qualname = module.resolver.qualname(target, scope) or ""
        if not qualname.startswith("keras."):
            return None
        name = qualname.rpartition(".")[2]
    if name in tables.KERAS_REGRESSION_LOSSES:
        return "regression"
    if name in tables.KERAS_LOSSES:
        return "classification"
    return None


def _keras_compiles(module: ModuleFacts) -> Iterator[tuple[ast.Call, str, str]]:
    """(compile call, network key, loss category) for `model.compile(loss=...)`."""
    for site in module.collected.training_calls:
        func = site.node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "compile"):
            continue
        loss = argument(site.node, "loss", 1)
        key = module.model_key(func.value, site.scope)
        if loss is None or key is None:
            continue
        category = _keras_loss_category(module, loss, site.scope)
        if category is not None:
            yield site.node, key, category


def _keras_regression_compiles(module: ModuleFacts) -> Iterator[str]:
    """Keys of the networks compiled with a regression loss and no accuracy metric (an
    accuracy metric says the task is classification: the loss is what is wrong)."""
    for call, key, category in _keras_compiles(module):
        if category == "regression" and not _measures_accuracy(call):
            yield key


def _measures_accuracy(compile_call: ast.Call) -> bool:
    """`metrics=["accuracy"]`, `["acc"]`, `[keras.metrics.BinaryAccuracy()]`."""
    metrics = keyword(compile_call, "metrics")
    if metrics is None:
        return False
    for node in ast.walk(metrics):
        name = node.value if isinstance(node, ast.Constant) else dotted(node)
        if isinstance(name, str) and name.rpartition(".")[2].lower().endswith(("acc", "accuracy")):
            return True
    return False


def _keras_reconstructs(module: ModuleFacts, key: str) -> bool:
    for fit in module.keras_fits:
        if module.model_key(fit.model, fit.site.scope) != key:
            continue
        y = argument(fit.site.node, "y", 1)
        if fit.x is not None and y is not None and dotted(fit.x) == dotted(y):
            return True
    return False


# -- NN109 ------------------------------------------------------------------------------
@rule(
    "NN109",
    "loss-target-mismatch",
    severity="error",
    summary="A regression loss on class labels, or a classification loss on continuous targets.",
)
def loss_target_mismatch(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Follows the targets given to a loss back to where they are made and reports a
    regression loss (`MSELoss`, `L1Loss`, Keras `"mse"`) on class labels (integer casts
    such as `.long()`, `torch.LongTensor`, `dtype=torch.long`, or the labels of a
    classification dataset such as `load_iris`), and a classification loss (cross-entropy,
    BCE) on continuous targets (`fetch_california_housing`, `load_diabetes`,
    `make_regression`).

    ## Why is this bad?
    MSE on class indices treats class 3 as "closer" to class 2 than to class 9 and asks the
    network for the index as a number: the ordering is invented and the predictions are not
    class scores. Cross-entropy on continuous values is not a valid likelihood (and errors
    out or silently truncates): the task is regression.

    ## Example
    ```python
    loss = nn.MSELoss()(model(x), labels.long())
    ```

    ## Use instead
    ```python
    loss = nn.CrossEntropyLoss()(model(x), labels.long())
    ```

    ## Known limits
    Only targets whose origin is visible in the file are checked; targets unpacked from a
    DataLoader batch are not followed.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/nn.html#loss-functions
    - https://keras.io/api/losses/
    """
    for module in project.modules:
        for site in module.collected.training_calls:
            kind = torch_loss_kind(site, module.resolver)
            if kind is None:
                continue
            target = argument(site.node, "target", 1)
            category = "regression" if kind == "regression" else "classification"
            yield from _target_hit(module, site.node, category, target, site.scope)
        compiles = {key: category for _, key, category in _keras_compiles(module)}
        binary = {
            u.model for u in module.loss_uses if u.framework == "keras" and u.kind == "binary"
        }
        for fit in module.keras_fits:
            key = module.model_key(fit.model, fit.site.scope)
            if key not in compiles:
                continue
            y = argument(fit.site.node, "y", 1)
            if (
                key in binary
                and one_hot(y, fit.site.scope, module.resolver)
                and _output_act(project, key, module) != "softmax"  # NN102 names that pair
            ):
                yield Hit(
                    module.path,
                    fit.site.node,
                    "binary cross-entropy on one-hot targets: each sample has exactly one "
                    "class, a single-label multi-class task",
                    "end the model with softmax and use categorical_crossentropy (or "
                    "sparse_categorical_crossentropy on the class indices)",
                )
                continue
            yield from _target_hit(module, fit.site.node, compiles[key], y, fit.site.scope)


def _output_act(project: Project, key: str, module: ModuleFacts) -> str | None:
    found = project.network(key, module)
    return project.output_of(*found)[0].act if found is not None else None


def _target_hit(module: ModuleFacts, node: ast.AST, category: str, target, scope):
    kind = target_kind(target, scope, module.resolver)
    if category == "regression" and kind == CLASS_LABELS:
        yield Hit(
            module.path,
            node,
            "regression loss on class labels: the class index is treated as a number",
            "use CrossEntropyLoss (or sparse categorical cross-entropy) on class labels",
        )
    elif category == "classification" and kind == CONTINUOUS:
        yield Hit(
            module.path,
            node,
            "classification loss on continuous targets",
            "use a regression loss (MSELoss, L1Loss, HuberLoss) with a linear output",
        )
