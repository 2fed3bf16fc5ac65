"""Knowledge for the catalogue rules (NN103-NN109, NN204, NN4xx, NN5xx, NN6xx), kept as data.

Names are canonical (see `nnlint.facts.names.canonical`): Keras under `keras.`, Lightning
under `lightning.pytorch.`. Widening coverage means editing these tables, not the rules.
"""

from __future__ import annotations

# -- layers ----------------------------------------------------------------------------
# Fully-connected layers: two in a row with nothing non-linear between collapse into one.
DENSE_LAYERS = frozenset({"Linear", "LazyLinear", "Dense"})
DROPOUT_LAYERS = frozenset(
    {
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
    }
)
# Functional dropout: the position of the rate argument.
DROPOUT_FUNCTIONS = {
    "torch.nn.functional.dropout": 1,
    "torch.nn.functional.dropout1d": 1,
    "torch.nn.functional.dropout2d": 1,
    "torch.nn.functional.dropout3d": 1,
    "torch.nn.functional.alpha_dropout": 1,
}
# The rate argument of dropout layers: (keyword, position, default).
DROPOUT_RATE_ARGS = {"torch": ("p", 0, 0.5), "keras": ("rate", 0, None)}
MAX_DROPOUT_RATE = 0.5
# Input dropout above this rate throws away too much of every example (Srivastava et al.
# used 0.2 on inputs).
MAX_INPUT_DROPOUT_RATE = 0.2
# Weight layers counted towards depth, and when a network counts as deep.
DEEP_WEIGHT_LAYERS = 7

# -- initialisation ---------------------------------------------------------------------
XAVIER_INIT = frozenset(
    {
        "torch.nn.init.xavier_uniform_",
        "torch.nn.init.xavier_normal_",
        "torch.nn.init.xavier_uniform",
        "torch.nn.init.xavier_normal",
    }
)
KAIMING_INIT = frozenset(
    {
        "torch.nn.init.kaiming_uniform_",
        "torch.nn.init.kaiming_normal_",
        "torch.nn.init.kaiming_uniform",
        "torch.nn.init.kaiming_normal",
    }
)
# Keras initialisers by family, as strings and as class names (keras.initializers.X).
KERAS_INIT_FAMILIES = {
    "glorot_uniform": "xavier",
    "glorot_normal": "xavier",
    "GlorotUniform": "xavier",
    "GlorotNormal": "xavier",
    "he_uniform": "kaiming",
    "he_normal": "kaiming",
    "HeUniform": "kaiming",
    "HeNormal": "kaiming",
}
# `nonlinearity=` values of kaiming init that are meant for saturating activations.
KAIMING_SATURATING = frozenset({"tanh", "sigmoid", "linear", "selu"})

# -- losses and targets -----------------------------------------------------------------
# sklearn/keras loaders whose targets are class labels or continuous values.
CLASSIFICATION_DATASETS = frozenset(
    {
        "sklearn.datasets.load_iris",
        "sklearn.datasets.load_digits",
        "sklearn.datasets.load_wine",
        "sklearn.datasets.load_breast_cancer",
        "sklearn.datasets.fetch_covtype",
        "sklearn.datasets.fetch_20newsgroups_vectorized",
        "sklearn.datasets.fetch_olivetti_faces",
        "sklearn.datasets.fetch_lfw_people",
        "sklearn.datasets.make_classification",
        "sklearn.datasets.make_blobs",
        "sklearn.datasets.make_moons",
        "sklearn.datasets.make_circles",
        "sklearn.datasets.make_multilabel_classification",
    }
)
REGRESSION_DATASETS = frozenset(
    {
        "sklearn.datasets.fetch_california_housing",
        "sklearn.datasets.load_diabetes",
        "sklearn.datasets.load_linnerud",
        "sklearn.datasets.make_regression",
        "sklearn.datasets.make_friedman1",
        "sklearn.datasets.make_friedman2",
        "sklearn.datasets.make_friedman3",
    }
)
INTEGER_TENSORS = frozenset(
    {"torch.LongTensor", "torch.IntTensor", "torch.cuda.LongTensor", "torch.cuda.IntTensor"}
)
INTEGER_DTYPES = frozenset(
    {"long", "int64", "int32", "int", "int16", "int8", "uint8", "torch.long", "torch.int64"}
)
INTEGER_CAST_METHODS = frozenset({"long", "int"})
# Calls that keep the values of their first argument (and so the kind of target it holds).
TARGET_PRESERVING = frozenset(
    {
        "torch.tensor",
        "torch.as_tensor",
        "torch.from_numpy",
        "torch.Tensor",
        "torch.FloatTensor",
        "numpy.array",
        "numpy.asarray",
        "tensorflow.constant",
        "tensorflow.convert_to_tensor",
    }
)
TARGET_PRESERVING_METHODS = frozenset(
    {"to_numpy", "astype", "reshape", "view", "unsqueeze", "squeeze", "float", "double", "to"}
)
KERAS_REGRESSION_LOSSES = frozenset(
    {
        "mse",
        "mae",
        "mean_squared_error",
        "mean_absolute_error",
        "huber",
        "huber_loss",
        "log_cosh",
        "logcosh",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "Huber",
        "LogCosh",
    }
)
# Activations that bound a regression output; ReLU is left alone (non-negative targets).
BOUNDED_OUTPUTS = frozenset({"sigmoid", "tanh", "softmax", "log_softmax"})
# Preprocessing that scales targets into a bounded range, making a bounded output deliberate.
RANGE_SCALERS = frozenset(
    {"sklearn.preprocessing.MinMaxScaler", "sklearn.preprocessing.minmax_scale"}
)

# -- optimisation -----------------------------------------------------------------------
OPTIMIZER_PREFIXES = ("torch.optim.", "keras.optimizers.", "transformers.")
# Positions of `lr` among the arguments: torch takes the parameters first.
TORCH_LR_POSITION = 1
KERAS_LR_POSITION = 0
# Schedulers that set the learning rate themselves, so the optimizer's `lr` is not used as is.
LR_OVERRIDING_SCHEDULERS = frozenset(
    {"torch.optim.lr_scheduler.OneCycleLR", "torch.optim.lr_scheduler.CyclicLR"}
)
TORCH_ADAM = frozenset({"torch.optim.Adam"})
# Position of `weight_decay` in torch.optim.Adam(params, lr, betas, eps, weight_decay).
ADAM_WEIGHT_DECAY_POSITION = 4
LARGE_BATCH = 1024
WARMUP_SCHEDULERS = frozenset(
    {
        "torch.optim.lr_scheduler.LinearLR",
        "torch.optim.lr_scheduler.OneCycleLR",
        "torch.optim.lr_scheduler.SequentialLR",
    }
)
WARMUP_ARGUMENTS = frozenset(
    {"warmup_steps", "warmup_ratio", "num_warmup_steps", "warmup_epochs", "warmup_target"}
)

# -- evaluation -------------------------------------------------------------------------
# Evidence that the classes are imbalanced (the code weights or resamples them).
IMBALANCE_CALLS = frozenset(
    {
        "torch.utils.data.WeightedRandomSampler",
        "sklearn.utils.class_weight.compute_class_weight",
        "sklearn.utils.compute_class_weight",
        "sklearn.utils.class_weight.compute_sample_weight",
        "imblearn.over_sampling.SMOTE",
        "imblearn.over_sampling.RandomOverSampler",
        "imblearn.under_sampling.RandomUnderSampler",
    }
)
IMBALANCE_KEYWORDS = frozenset({"class_weight", "pos_weight"})
# Losses whose `weight=` is a per-class weight.
CLASS_WEIGHTED_LOSSES = frozenset(
    {"torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss", "torch.nn.functional.cross_entropy"}
)
ACCURACY_STRINGS = frozenset(
    {
        "accuracy",
        "acc",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
    }
)
ACCURACY_METRICS = frozenset(
    {
        "keras.metrics.Accuracy",
        "keras.metrics.BinaryAccuracy",
        "keras.metrics.CategoricalAccuracy",
        "keras.metrics.SparseCategoricalAccuracy",
        "torchmetrics.Accuracy",
        "torchmetrics.classification.Accuracy",
        "torchmetrics.classification.BinaryAccuracy",
        "torchmetrics.classification.MulticlassAccuracy",
        "sklearn.metrics.accuracy_score",
    }
)
# Any of these in a module means more than accuracy is measured.
OTHER_METRIC_WORDS = frozenset(
    {
        "f1",
        "fbeta",
        "precision",
        "recall",
        "auc",
        "auroc",
        "roc",
        "confusion",
        "balanced",
        "matthews",
        "mcc",
        "kappa",
        "specificity",
        "sensitivity",
    }
)

# -- reproducibility and checkpoints ----------------------------------------------------
SEED_CALLS = frozenset(
    {
        "torch.manual_seed",
        "torch.cuda.manual_seed",
        "torch.cuda.manual_seed_all",
        "torch.random.manual_seed",
        "numpy.random.seed",
        "random.seed",
        "tensorflow.random.set_seed",
        "tensorflow.set_random_seed",
        "keras.utils.set_random_seed",
        "lightning.pytorch.seed_everything",
        "lightning.fabric.seed_everything",
        "lightning.fabric.utilities.seed.seed_everything",
        "transformers.set_seed",
        "accelerate.utils.set_seed",
    }
)
# Callbacks that restore or keep the best weights: (qualname, keyword that must be True or
# set). None means the callback keeps the best weights whatever its arguments.
BEST_KEEPING = {
    "keras.callbacks.ModelCheckpoint": "save_best_only",
    "keras.callbacks.EarlyStopping": "restore_best_weights",
    "lightning.pytorch.callbacks.ModelCheckpoint": "monitor",
    "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint": "monitor",
}
