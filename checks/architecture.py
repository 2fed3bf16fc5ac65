"""NN1: architecture, activations and losses."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.facts.graph import Network
from nnlint.facts.targets import CONTINUOUS
from nnlint.project import Pairing, Project
from nnlint.rules import Hit, rule

_SATURATING = frozenset({"sigmoid", "tanh"})


@rule(
    "NN101",
    "hidden-sigmoid-or-tanh",
    severity="warning",
    summary="Sigmoid or tanh as a hidden-layer activation in a non-recurrent network.",
)
def hidden_sigmoid_or_tanh(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a sigmoid or tanh whose output feeds another weight layer (Linear, Conv, Dense)
    in a feed-forward network: in `nn.Sequential`, in `forward` (modules or functional
    calls), in Keras `Dense(..., activation="sigmoid")` and `Activation("tanh")` layers.

    ## Why is this bad?
    Sigmoid and tanh saturate: away from zero their gradient is almost nil, so stacked
    hidden layers pass back vanishing gradients and training stalls. Sigmoid outputs are also
    not zero-centred. ReLU-family activations (ReLU, LeakyReLU, GELU, SiLU) train deep
    networks faster and more reliably.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 10))
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    ```

    ## Known limits
    Not reported: the output layer (a sigmoid for binary or multi-label outputs, a tanh for
    bounded outputs), gates whose output multiplies another tensor (`x * torch.sigmoid(g)`,
    squeeze-and-excitation, GLU/WaveNet units), and any network with recurrent or attention
    layers, where tanh is part of the design, or that is a part of such a network (a
    BERT-style pooler or classification head). Only what reaches the network's output is
    followed.

    ## Fix safety
    No automatic fix: changing an activation changes the model.

    ## References
    - Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks" (2010)
    - https://pytorch.org/docs/stable/nn.html#non-linear-activations-weighted-sum-nonlinearity
    """
    for module in project.modules:
        for network in module.networks.values():
            hidden = network.hidden_activations(_SATURATING)
            if not hidden or project.part_of_sequence_model(network, module):
                continue
            for gnode in hidden:
                yield Hit(
                    module.path,
                    gnode.node,
                    f"{gnode.act} used as a hidden-layer activation; it saturates and its "
                    "gradients vanish in deep networks",
                    "use ReLU, LeakyReLU or GELU in hidden layers; keep sigmoid/tanh for "
                    "outputs and gates",
                )


@rule(
    "NN102",
    "output-activation-loss-mismatch",
    severity="error",
    summary="The model's output activation does not fit the loss it is trained with.",
)
def output_activation_loss_mismatch(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Pairs each loss with the model whose output it receives (across files) and checks the
    output activation against what the loss expects: softmax/log_softmax before
    `CrossEntropyLoss`, sigmoid before `BCEWithLogitsLoss`, `NLLLoss` without log_softmax,
    `BCELoss` on raw logits, ReLU on the logits, a softmax over several units with binary
    cross-entropy, a sigmoid
    over many classes with categorical cross-entropy, `Dense(1, activation="softmax")`, and
    Keras `from_logits` that contradicts the output layer.

    ## Why is this bad?
    `CrossEntropyLoss` applies log-softmax itself: a softmax before it squashes the logits
    twice, gradients shrink and training crawls. A loss that expects probabilities fed raw
    logits (or the reverse) computes a wrong value with no error. A softmax over one unit is
    always 1.0, so the network learns nothing.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(128, 10), nn.Softmax(dim=1))
    loss = nn.CrossEntropyLoss()(model(x), y)
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(128, 10))  # raw logits
    loss = nn.CrossEntropyLoss()(model(x), y)
    ```

    ## Known limits
    Only pairs whose model and loss can both be followed statically are checked: names,
    parameters bound at call sites, helper methods of the model, a loss a model class keeps
    on `self` for a base class's step, and project modules imported by (or importing) the
    named file. Not seen yet: models chosen from a registry or factory dict
    (`models.create(name)`), decoder outputs written into a preallocated tensor
    (`outputs[t] = decoder(...)`), layers handed to a wrapper module as arguments, and raw
    TensorFlow 1 graphs (`tf.nn.softmax_cross_entropy_with_logits`).

    ## Fix safety
    Unsafe (`--unsafe-fixes`), for a softmax/log_softmax before cross-entropy and a sigmoid
    before `BCEWithLogitsLoss`: the activation call becomes its input, or the layer leaves
    the `nn.Sequential`. The model then returns logits, so the fix is applied only when
    every read of its output in the file is that loss or an `argmax` along the softmax
    dimension; otherwise a note says why it was not.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    - https://keras.io/api/losses/probabilistic_losses/
    """
    for module in project.modules:
        for network in module.networks.values():
            yield from _single_unit_softmax(module.path, network)
    for pairing in project.pairings():
        for hit in _mismatch(project, pairing):
            yield project.relocated(hit, *_places(project, pairing))


def _places(project: Project, pairing: Pairing) -> list[tuple[str, ast.AST]]:
    """Where a model-loss finding can be reported: the output activation, then the loss."""
    output, output_module = project.output_of(
        pairing.network, pairing.network_module, element=pairing.loss.element
    )
    places = [(pairing.loss_module.path, pairing.loss.node)]
    if output.node is not None:
        places.insert(0, (output_module.path, output.node))
    return places


def _single_unit_softmax(path: str, network: Network) -> Iterator[Hit]:
    output = network.output()
    if output.act == "softmax" and output.units == 1 and output.node is not None:
        yield Hit(
            path,
            output.node,
            "softmax over a single output unit always returns 1.0; the network cannot learn",
            "for binary classification use one unit with sigmoid (or logits with a "
            "with-logits loss), or two units with softmax",
        )


def _mismatch(project: Project, pairing: Pairing) -> Iterator[Hit]:
    loss = pairing.loss
    output, output_module = project.output_of(
        pairing.network, pairing.network_module, element=pairing.loss.element
    )
    act, node, path = output.act, output.node, output_module.path
    if loss.post_act is not None:
        act, node, path = loss.post_act, loss.post_node, pairing.loss_module.path
    if act is None or node is None:
        return
    at_loss = (pairing.loss_module.path, loss.node)
    units = output.units
    if act == "relu" and loss.kind != "regression":
        yield Hit(
            path,
            node,
            "ReLU-family activation on the output layer clips the logits at zero",
            "remove the output activation and return raw logits to the classification loss",
        )
        return
    if (
        units == 1
        and loss.kind in {"categorical", "cross_entropy"}
        and act != "softmax"
        and pairing.loss_module.loss_target_kind(loss.node) != CONTINUOUS
    ):
        yield Hit(
            path,
            node,
            "categorical cross-entropy over a single output unit: the class probabilities "
            "always sum to that one unit, so the loss is constant and nothing is learned",
            "give the output layer one unit per class, or use binary cross-entropy for a "
            "two-class problem",
        )
        return
    if loss.framework == "torch":
        yield from _torch_mismatch(loss.kind, act, units, (path, node), at_loss)
    else:
        yield from _keras_mismatch(
            loss.kind, bool(loss.from_logits), act, units, (path, node), at_loss
        )


Place = tuple[str, ast.AST]


def _torch_mismatch(
    kind: str, act: str, units: int | None, at_act: Place, at_loss: Place
) -> Iterator[Hit]:
    if kind == "cross_entropy" and act in {"softmax", "log_softmax"}:
        yield Hit(
            *at_act,
            f"{act} output fed to cross-entropy, which applies log-softmax itself",
            "return raw logits from the model and keep softmax for inference",
        )
    elif kind == "cross_entropy" and act in {"sigmoid", "tanh"}:
        yield Hit(
            *at_act,
            f"{act} output fed to cross-entropy, which expects unbounded logits: squeezed "
            "into a narrow range they cap how confident any class can become",
            "return raw logits from the model (cross-entropy applies log-softmax itself)",
        )
    elif kind == "bce_logits" and act == "sigmoid":
        yield Hit(
            *at_act,
            "sigmoid output fed to BCEWithLogitsLoss, which applies sigmoid itself",
            "return raw logits, or keep the sigmoid and use BCELoss",
        )
    elif kind == "nll" and act != "log_softmax":
        what = "raw logits" if act == "linear" else f"{act} outputs"
        yield Hit(
            *at_loss,
            f"NLLLoss expects log-probabilities but receives {what}",
            "end the model with log_softmax, or use CrossEntropyLoss on raw logits",
        )
    elif kind == "bce" and act == "linear":
        yield Hit(
            *at_loss,
            "BCELoss expects probabilities but receives raw logits",
            "use BCEWithLogitsLoss on the logits (numerically stable)",
        )
    elif kind == "bce" and act == "softmax" and (units or 0) > 1:
        yield Hit(
            *at_act,
            "softmax over several units fed to binary cross-entropy",
            "use sigmoid for independent labels, or softmax with cross-entropy",
        )


def _keras_mismatch(
    kind: str, from_logits: bool, act: str, units: int | None, at_act: Place, at_loss: Place
) -> Iterator[Hit]:
    probabilistic = act in {"softmax", "sigmoid"}
    if from_logits and probabilistic:
        yield Hit(
            *at_loss,
            f"from_logits=True but the model already ends in {act}",
            f"drop the {act} from the last layer, or set from_logits=False",
        )
    elif not from_logits and act == "linear":
        yield Hit(
            *at_loss,
            "the loss expects probabilities (from_logits=False) but the last "
            "layer has no activation",
            "pass from_logits=True to the loss, or add the output activation",
        )
    elif kind == "categorical" and act == "sigmoid" and (units or 0) > 2:
        yield Hit(
            *at_act,
            "sigmoid output with categorical cross-entropy over many classes",
            "use softmax for one label per sample, or binary cross-entropy for multi-label",
        )
    elif kind == "binary" and act == "softmax" and (units or 0) > 1:
        yield Hit(
            *at_act,
            "softmax over several units with binary cross-entropy",
            "use sigmoid for independent labels, or categorical cross-entropy",
        )


@rule(
    "NN110",
    "sigmoid-before-bce-loss",
    severity="info",
    summary="A sigmoid output with BCELoss, where BCEWithLogitsLoss on the logits is stabler.",
    default=False,
)
def sigmoid_before_bce_loss(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a model whose sigmoid output is fed to `nn.BCELoss` or
    `F.binary_cross_entropy`.

    ## Why is this bad?
    The two are correct together but numerically fragile: for confident predictions the
    sigmoid rounds to exactly 0 or 1, `BCELoss` clamps the log and the gradient vanishes or
    the loss saturates at 100. `BCEWithLogitsLoss` computes the same loss from the logits
    with the log-sum-exp trick and stays exact.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(32, 1), nn.Sigmoid())
    loss = nn.BCELoss()(model(x), y)
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(32, 1))
    loss = nn.BCEWithLogitsLoss()(model(x), y)
    probabilities = torch.sigmoid(model(x))  # at inference
    ```

    ## Known limits
    Off by default (select it with `--extend-select NN110`): the code is not wrong. The fix
    applies when the sigmoid and the loss are in the same file.

    ## Fix safety
    Unsafe: the sigmoid goes and `BCELoss` becomes `BCEWithLogitsLoss` (the same loss). The
    model then returns logits, so the fix is applied only when every read of its output in
    the file is that loss (or an `argmax`); a threshold, `round()`, `log` or a metric on
    the probabilities leaves the fix to you, with a note.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html
    """
    for pairing in project.pairings():
        loss = pairing.loss
        if loss.kind != "bce":
            continue
        output, output_module = project.output_of(
            pairing.network, pairing.network_module, element=pairing.loss.element
        )
        act, node, module = output.act, output.node, output_module
        if loss.post_act is not None:
            act, node, module = loss.post_act, loss.post_node, pairing.loss_module
        if act != "sigmoid" or node is None:
            continue
        same_file = module is pairing.loss_module and loss.named_at is not None
        yield Hit(
            module.path,
            node,
            "sigmoid output fed to BCELoss: numerically unstable for confident predictions",
            "return logits and use BCEWithLogitsLoss (apply sigmoid only at inference)",
            related=(loss.named_at,) if same_file else (),
        )
