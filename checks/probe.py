"""NN9: runtime probe findings. `nnlint --probe` reports them by running the user's model
and data (see `nnlint.probe`); the static engine skips these rules."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.project import Project
from nnlint.rules import Hit, rule

PROBE_REFERENCE = "- nnlint README, section *Runtime probe (--probe)*"
KARPATHY = "- A. Karpathy, *A Recipe for Training Neural Networks* (2019), http://karpathy.github.io/2019/04/25/recipe/"


def _none(project: Project) -> Iterator[Hit]:
    return iter(())


def _runtime(code: str, name: str, severity: str, summary: str, doc: str) -> None:
    """Register a runtime rule whose check yields nothing (the probe reports it)."""

    def check(project: Project) -> Iterator[Hit]:
        return _none(project)

    check.__doc__ = doc
    rule(code, name, severity=severity, summary=summary, runtime=True)(check)


_runtime(
    "NN900",
    "probe-budget-exceeded",
    "warning",
    "The probe ran out of its time budget before every check finished.",
    f"""
    ## What it does
    Reports which checks `nnlint --probe` could not finish within `--probe-timeout`
    (default 180 s); the findings of the checks that did finish are reported as usual.

    ## Why is this bad?
    A check that did not run found nothing; a clean report with unfinished checks would
    say less than it seems to.

    ## Example
    ```python
    def make_probe():  # a model that takes minutes per batch on CPU
        return {{"model": huge_model(), "loss": loss, "data": loader}}
    ```

    ## Use instead
    ```python
    def make_probe():  # a smaller batch, or run with --probe-timeout 600 / --device cuda
        return {{"model": huge_model(), "loss": loss, "data": small_batch_loader}}
    ```

    ## Known limits
    The budget covers importing the user's code too; a slow import leaves less for the checks.

    ## Fix safety
    No automatic fix.

    ## References
    {PROBE_REFERENCE}
    """,
)
_runtime(
    "NN901",
    "unexpected-initial-loss",
    "warning",
    "The loss at initialisation is far from what an untrained model should give.",
    f"""
    ## What it does
    Computes the loss of the untrained model on a real batch and compares it with the value
    an uncertain model gives: ln C for cross-entropy over C classes, ln 2 for binary
    cross-entropy. It reports a loss outside 0.5x to 1.5x of that value.

    ## Why is this bad?
    A freshly initialised classifier should spread its probability evenly. A much higher
    loss means over-confident initial outputs (a badly scaled last layer, unnormalised
    inputs); a much lower one often means the labels leak into the inputs or the loss is
    not the one you think. Both waste the first part of training or hide a bug.

    ## Example
    ```python
    head = nn.Linear(512, 10)
    nn.init.normal_(head.weight, std=10.0)  # initial loss around 40, not 2.3
    ```

    ## Use instead
    ```python
    head = nn.Linear(512, 10)  # default init; or zero the last layer's weights and bias
    ```

    ## Known limits
    Only cross-entropy, NLL and binary cross-entropy losses have an expected value here;
    regression losses and Lightning steps without a known loss are not judged.

    ## Fix safety
    No automatic fix.

    ## References
    {KARPATHY}
    """,
)
_runtime(
    "NN902",
    "summed-loss-reduction",
    "warning",
    "The loss is summed over the batch instead of averaged.",
    """
    ## What it does
    Reports a loss with `reduction="sum"`, or a loss function whose value doubles when the
    batch does (measured on the full batch and on half of it).

    ## Why is this bad?
    A summed loss makes the gradients, and so the effective learning rate, grow with the
    batch size: a learning rate tuned at one batch size diverges at a larger one, and the
    usual learning-rate defaults no longer apply.

    ## Example
    ```python
    loss = nn.CrossEntropyLoss(reduction="sum")
    ```

    ## Use instead
    ```python
    loss = nn.CrossEntropyLoss()  # reduction="mean"
    ```

    ## Known limits
    A custom loss whose mean depends strongly on which samples are in the batch may be
    misread; sequence losses summed over tokens on purpose are reported too.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    """,
)
_runtime(
    "NN903",
    "cannot-overfit-one-batch",
    "error",
    "The model cannot over-fit a single small batch.",
    f"""
    ## What it does
    Trains on one fixed batch of 2 to 16 samples with the user's optimizer (or Adam, lr
    1e-3), through the script's own training step. The budget is `overfit-steps` (200),
    doubled for recurrent or attention models and for models over 100k parameters; a run
    still improving at the budget goes on, up to four budgets, and one whose best loss
    stopped improving (by 1% over the last quarter of the run) stops. It passes when the
    loss falls to 5% of its start or every sample is predicted right. Before reporting,
    the known-good settings Adam 1e-3 and Adam 1e-2 are tried from the same weights; the
    message gives the optimizers tried, the steps, the losses and the likely cause (no
    gradient, every gradient zero, NaN naming the first module that produced it, a rising
    loss, a plateau; unscaled regression targets, dead units). When the user's optimizer
    fails but a known-good one fits the batch, NN906 is reported instead.

    ## Why is this bad?
    Any working network can memorise a handful of samples. One that cannot has a bug in
    the model, the loss or the gradient path, and more data or epochs will not fix it.

    ## Example
    ```python
    def forward(self, x):
        return self.head(self.encoder(x).detach())  # only the head can learn
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return self.head(self.encoder(x))
    ```

    ## Known limits
    Heavy regularisation (dropout near 1, strong weight decay) or a very small learning
    rate can make a correct model fail within the step budget; raise `overfit-steps`.

    ## Fix safety
    No automatic fix.

    ## References
    {KARPATHY}
    """,
)
_runtime(
    "NN904",
    "parameter-without-gradient",
    "error",
    "Trainable parameters get no gradient: frozen model, detached output or unused layer.",
    """
    ## What it does
    Runs one forward and backward pass and lists the parameters with
    `requires_grad=True` whose `.grad` stays `None`, grouped by layer: layers that are
    defined but never called, and layers that run but whose output does not reach the loss.
    It also reports a model whose parameters are all frozen and an output detached from the
    graph.

    ## Why is this bad?
    Those parameters never train. The run looks normal (the loss may even fall through the
    other layers) while part of the model stays at its random initialisation.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(20, 64)
            self.extra = nn.Linear(64, 64)  # never used in forward
            self.head = nn.Linear(64, 3)

        def forward(self, x):
            return self.head(torch.relu(self.body(x)))
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(20, 64)
            self.head = nn.Linear(64, 3)

        def forward(self, x):
            return self.head(torch.relu(self.body(x)))
    ```

    ## Known limits
    Layers used only on some batches (mixture of experts, conditional branches) may miss a
    gradient on the probed batch.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/notes/autograd.html
    """,
)
_runtime(
    "NN905",
    "non-finite-loss-or-gradient",
    "error",
    "The loss, an activation or a gradient is NaN or Inf.",
    """
    ## What it does
    Reports a NaN/Inf loss at initialisation or during the over-fit run, naming the first
    module whose output is non-finite while its inputs are finite, and NaN/Inf gradients.

    ## Why is this bad?
    One NaN spreads to every weight at the next step and the run is lost; often it
    appears only after hours, when the values that trigger it occur.

    ## Example
    ```python
    def forward(self, x):
        h = self.fc(x)
        return self.out(torch.log(h))  # log of negative values
    ```

    ## Use instead
    ```python
    def forward(self, x):
        h = self.fc(x)
        return self.out(torch.log(h.clamp_min(1e-6)))
    ```

    ## Known limits
    Only modules can be named; NaN produced by functional code in a forward is attributed
    to the module whose forward contains it.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/autograd.html#anomaly-detection
    """,
)
_runtime(
    "NN906",
    "learning-rate-out-of-range",
    "warning",
    "The configured learning rate is far from the LR finder's suggestion.",
    """
    ## What it does
    When the optimizer's learning rate is more than 10x above or 30x below the LR finder's
    suggestion (the median of three sweeps), runs a short A/B test: 60 steps from the
    initial weights on the same first batches, once at the configured LR and once at the
    suggestion. Reported only when the configured LR diverges, or, above the suggestion,
    ends measurably worse (its mean loss over the last 10 steps more than 1.1x the
    suggestion's), or, below it, makes less than a quarter of the suggestion's progress (a
    lower LR that is merely slower in a short run often ends better); the message gives
    both losses. Also reported when the user's optimizer cannot over-fit one batch while a
    known-good Adam setting can.

    ## Why is this bad?
    Too high a learning rate makes the loss oscillate or diverge; too low a one wastes most
    of the compute budget or stalls on a plateau. It is the single most important
    hyper-parameter.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=10)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # near the LR finder's suggestion
    ```

    ## Known limits
    The finder sweeps from the initial weights for about 100 steps; schedules with warm-up,
    very large batches and fine-tuning may want a rate away from its suggestion.

    ## Fix safety
    No automatic fix.

    ## References
    - L. N. Smith, *Cyclical Learning Rates for Training Neural Networks* (2017), https://arxiv.org/abs/1506.01186
    """,
)
_runtime(
    "NN907",
    "vanishing-or-exploding-gradients",
    "warning",
    "Gradients shrink or grow by orders of magnitude from the last layer to the first.",
    """
    ## What it does
    Measures each layer's gradient relative to its weights (RMS of the gradient over RMS of
    the weights) on a real batch and reports when the first layer's is below 1e-4 or above
    1e4 times the last layer's.

    ## Why is this bad?
    With vanishing gradients the early layers barely train (saturating sigmoid/tanh in
    deep stacks); with exploding ones they jump around and the loss diverges.

    ## Example
    ```python
    layers = [nn.Linear(32, 32), nn.Sigmoid()] * 10
    ```

    ## Use instead
    ```python
    layers = [nn.Linear(32, 32), nn.ReLU()] * 10  # or add normalisation and residual connections
    ```

    ## Known limits
    Measured once at initialisation; gradients that vanish only later in training are not
    seen. Embedding layers are left out.

    ## Fix safety
    No automatic fix.

    ## References
    - X. Glorot, Y. Bengio, *Understanding the difficulty of training deep feedforward
      neural networks* (2010)
    """,
)
_runtime(
    "NN908",
    "dead-relu-units",
    "warning",
    "More than half of a ReLU layer's units output zero for the whole batch.",
    """
    ## What it does
    Watches each `nn.ReLU` module on a real batch of at least 8 samples and reports a layer
    where more than half of the units (channels for convolutions) are zero for every sample.

    ## Why is this bad?
    A unit that is zero for every input gets no gradient and never recovers: the layer is
    narrower than it looks. Unnormalised inputs, a bad initialisation or a large learning
    rate are the usual causes.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    model(images_0_to_255)  # huge pre-activations: half the units always off
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    model((images / 255 - mean) / std)
    ```

    ## Known limits
    Only `nn.ReLU`/`nn.ReLU6` modules are seen, not `F.relu` calls.

    ## Fix safety
    No automatic fix.

    ## References
    - https://cs231n.github.io/neural-networks-1/#actfun
    """,
)
_runtime(
    "NN909",
    "abnormal-update-ratio",
    "warning",
    "One optimizer step changes the weights far more or far less than usual.",
    """
    ## What it does
    Takes one step of the user's optimizer from the initial weights and reports when the
    median over layers of |update| / |weights| is above 0.3 or below 1e-5 (about 1e-3 is
    typical). When every gradient is exactly zero no learning rate helps: it reports that
    instead, with its cause (dead ReLU units, or a loss without a derivative with respect
    to the weights: a `round`, `argmax` or threshold between output and loss, a loss
    rebuilt from a detached value).

    ## Why is this bad?
    Updates as large as the weights wipe out what was learnt at each step; updates a
    hundred thousand times smaller than the weights mean the model will not move within
    any reasonable budget.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=50)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ```

    ## Known limits
    Measured on the first step only, where Adam-like optimizers move every weight by about
    the learning rate.

    ## Fix safety
    No automatic fix.

    ## References
    - https://cs231n.github.io/neural-networks-3/#ratio
    """,
)
_runtime(
    "NN910",
    "model-ignores-input",
    "error",
    "The model's outputs stay the same when each sample gets another sample's inputs.",
    f"""
    ## What it does
    Runs the model (in eval mode) on the over-fit batch and on the same batch with each
    sample's inputs replaced by the next sample's: other valid values of the same kind
    (token ids stay token ids), not zeros. When the outputs do not change at all, the
    model does not use its inputs. Not reported when most ReLU units are dead (NN908 says
    so) or when the batch's inputs are all alike.

    ## Why is this bad?
    A model that ignores its inputs can only learn the label frequencies; its accuracy
    looks plausible on imbalanced data and the bug survives for a long time.

    ## Example
    ```python
    def forward(self, x):
        return self.net(x * self.mask)  # mask = torch.zeros(...) by mistake
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return self.net(x * self.mask)  # mask = torch.ones(...)
    ```

    ## Known limits
    Only a complete disregard of the inputs is caught: a model that uses them a little
    (one feature of many) passes.

    ## Fix safety
    No automatic fix.

    ## References
    {KARPATHY}
    """,
)
_runtime(
    "NN911",
    "unnormalised-input-batch",
    "warning",
    "Input features in a real batch are not normalised (e.g. pixel values 0..255).",
    """
    ## What it does
    Computes per-feature (per-channel for images) mean, std, min and max over the first
    batches and reports features whose mean or std exceeds 10, naming raw 0..255 pixel
    values when it sees them. This is the runtime counterpart of NN201.

    ## Why is this bad?
    Large inputs saturate activations, make the loss at init huge and force a tiny learning
    rate; features on different scales make the optimisation ill-conditioned.

    ## Example
    ```python
    x = torch.tensor(images, dtype=torch.float32)  # 0..255
    ```

    ## Use instead
    ```python
    x = (torch.tensor(images, dtype=torch.float32) / 255 - 0.5) / 0.25
    ```

    ## Known limits
    Judged on the first batches only; inputs meant to be large (counts fed to a log layer)
    are reported too.

    ## Fix safety
    No automatic fix.

    ## References
    - Y. LeCun et al., *Efficient BackProp* (1998)
    """,
)
_runtime(
    "NN912",
    "non-finite-input",
    "error",
    "A real batch of inputs contains NaN or Inf.",
    f"""
    ## What it does
    Reports NaN or Inf values in the float inputs of the first batches.

    ## Why is this bad?
    A single NaN input makes the loss NaN and, after the next step, every weight.

    ## Example
    ```python
    x = torch.tensor(frame.values, dtype=torch.float32)  # missing values are NaN
    ```

    ## Use instead
    ```python
    x = torch.tensor(frame.fillna(frame.median()).values, dtype=torch.float32)
    ```

    ## Known limits
    Only the first batches are inspected.

    ## Fix safety
    No automatic fix.

    ## References
    {PROBE_REFERENCE}
    """,
)
_runtime(
    "NN913",
    "constant-input-feature",
    "warning",
    "An input feature is constant across the real batches.",
    f"""
    ## What it does
    Reports input features (channels for images) with zero variance over the first batches
    (at least 8 samples).

    ## Why is this bad?
    A constant feature carries no information, and standardising it divides by zero. It
    often means a column was filled wrongly or a join lost its values.

    ## Example
    ```python
    features = np.stack([age, income, np.zeros_like(age)], axis=1)
    ```

    ## Use instead
    ```python
    features = np.stack([age, income], axis=1)
    ```

    ## Known limits
    A rare binary feature can be constant in a few batches by chance.

    ## Fix safety
    No automatic fix.

    ## References
    {PROBE_REFERENCE}
    """,
)
_runtime(
    "NN914",
    "label-out-of-range",
    "error",
    "Labels do not fit the loss: a class index beyond the outputs, or a BCE target outside [0, 1].",
    """
    ## What it does
    Compares the labels of a real batch with the model's output and the loss: class
    indices must lie in 0..C-1 for C outputs (cross-entropy, NLL), binary targets in [0, 1].

    ## Why is this bad?
    On CPU the loss raises an index error mid-epoch; on GPU it is a device-side assert
    that kills the process, or, for BCE, a silently wrong objective.

    ## Example
    ```python
    labels = torch.tensor(df["grade"].values)  # 1..10 for a 10-unit output
    ```

    ## Use instead
    ```python
    labels = torch.tensor(df["grade"].values) - 1  # 0..9
    ```

    ## Known limits
    Only the first batch is checked, and only for losses the probe recognises.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    """,
)
_runtime(
    "NN915",
    "batchnorm-batch-of-one",
    "error",
    "A model with BatchNorm gets a batch of one sample.",
    """
    ## What it does
    Reports a model with BatchNorm layers whose data has a batch of one sample, or whose
    DataLoader leaves a last batch of one sample each epoch (`len(dataset) % batch_size ==
    1` without `drop_last=True`).

    ## Why is this bad?
    BatchNorm cannot compute batch statistics from one sample: training raises
    "Expected more than 1 value per channel" at the end of the first epoch, or the running
    statistics are corrupted.

    ## Example
    ```python
    loader = DataLoader(dataset_of_513, batch_size=32, shuffle=True)
    ```

    ## Use instead
    ```python
    loader = DataLoader(dataset_of_513, batch_size=32, shuffle=True, drop_last=True)
    ```

    ## Known limits
    Only DataLoaders with a sized dataset reveal their last batch.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html
    """,
)
_runtime(
    "NN916",
    "no-lr-valley",
    "info",
    "The LR finder's curve has no clear valley, so it suggests no learning rate.",
    """
    ## What it does
    Reports when the loss of every LR sweep (three, each on the data's next batches) is
    flat: the smoothed loss falls by less than 10% and no single step's loss gets 10% below
    the start. A curve that still falls at the end of the sweep or whose minimum comes
    first gives no suggestion, and no finding either.

    ## Why is this bad?
    A flat or erratic sweep usually means the model cannot learn at any rate (see the
    over-fit and gradient findings) or the range is wrong; a number picked from it would
    mislead.

    ## Example
    ```python
    for p in model.parameters():
        p.requires_grad_(False)  # nothing can learn: the sweep's loss stays flat
    ```

    ## Use instead
    ```python
    for p in model.head.parameters():
        p.requires_grad_(True)  # the sweep now shows a valley to suggest from
    ```

    ## Known limits
    Very noisy losses (tiny batches) may hide a valley that a longer sweep would show.

    ## Fix safety
    No automatic fix.

    ## References
    - L. N. Smith, *Cyclical Learning Rates for Training Neural Networks* (2017), https://arxiv.org/abs/1506.01186
    """,
)
_runtime(
    "NN917",
    "constrained-logits",
    "error",
    "The loss expects raw logits but the model's outputs are probabilities or ReLU-clipped.",
    """
    ## What it does
    Looks at the model's real outputs: rows that sum to 1 fed to `CrossEntropyLoss`
    (a softmax before it), logits that are never negative with many exact zeros (a ReLU on
    the output), outputs in (0, 1) fed to `BCEWithLogitsLoss`, and positive values fed to
    `NLLLoss`. This is the runtime counterpart of NN102.

    ## Why is this bad?
    The loss applies its own (log-)softmax or sigmoid; a second one squashes the outputs so
    the loss can never get near zero and the gradients shrink. A ReLU on logits makes
    negative evidence impossible and kills the gradient of every clipped class.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5), nn.Softmax(dim=1))
    loss = nn.CrossEntropyLoss()
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
    loss = nn.CrossEntropyLoss()
    ```

    ## Known limits
    Judged on the untrained model's output for one batch.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    """,
)
_runtime(
    "NN918",
    "probe-process-died",
    "error",
    "The model or data ended the probe's process: a crash, sys.exit or an out-of-memory kill.",
    f"""
    ## What it does
    Reports when the user's code ends the probe's child process after the target loaded:
    an interpreter crash, a `sys.exit()` or `os._exit()` inside the model, the loss or the
    data pipeline, or a kill such as the out-of-memory killer's. The parent process still
    prints the findings of the checks that finished.

    ## Why is this bad?
    Code that dies on one batch will die in training too, usually hours later and with less
    context. A `sys.exit` deep inside a model or a dataset hides the real error.

    ## Example
    ```python
    def forward(self, x):
        if x.isnan().any():
            sys.exit(1)
        return self.fc(x)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        if x.isnan().any():
            raise ValueError("NaN in the model's input")
        return self.fc(x)
    ```

    ## Known limits
    The probe cannot tell an out-of-memory kill from another SIGKILL; it says which signal.

    ## Fix safety
    No automatic fix.

    ## References
    {PROBE_REFERENCE}
    """,
)
