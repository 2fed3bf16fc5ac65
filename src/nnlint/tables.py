"""The knowledge rules rely on, kept as data: widening coverage means editing a table.

Names are canonical (see `nnlint.facts.names.canonical`): Keras under `keras.`, Lightning
under `lightning.pytorch.`.
"""

from __future__ import annotations

# Layers that hold weights, by kind. `units_arg` is the position of the output size.
TORCH_WEIGHT_LAYERS = {
    "Linear": 1,
    "LazyLinear": 0,
    "Bilinear": 2,
    "Conv1d": 1,
    "Conv2d": 1,
    "Conv3d": 1,
    "ConvTranspose1d": 1,
    "ConvTranspose2d": 1,
    "ConvTranspose3d": 1,
    "LazyConv1d": 0,
    "LazyConv2d": 0,
    "LazyConv3d": 0,
}
KERAS_WEIGHT_LAYERS = {
    "Dense": 0,
    "Conv1D": 0,
    "Conv2D": 0,
    "Conv3D": 0,
    "Conv1DTranspose": 0,
    "Conv2DTranspose": 0,
    "Conv3DTranspose": 0,
    "SeparableConv1D": 0,
    "SeparableConv2D": 0,
    "DepthwiseConv2D": None,
    "EinsumDense": None,
}
RECURRENT_LAYERS = frozenset(
    {
        "RNN",
        "LSTM",
        "GRU",
        "RNNCell",
        "LSTMCell",
        "GRUCell",
        "SimpleRNN",
        "SimpleRNNCell",
        "Bidirectional",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
        "CuDNNLSTM",
        "CuDNNGRU",
    }
)
ATTENTION_LAYERS = frozenset(
    {
        "MultiheadAttention",
        "Transformer",
        "TransformerEncoder",
        "TransformerDecoder",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "MultiHeadAttention",
        "Attention",
        "AdditiveAttention",
    }
)
NORMALISATION_LAYERS = frozenset(
    {
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "LayerNorm",
        "GroupNorm",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "LazyBatchNorm1d",
        "LazyBatchNorm2d",
        "RMSNorm",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "Normalization",
        "Rescaling",
    }
)
EMBEDDING_LAYERS = frozenset({"Embedding", "EmbeddingBag", "TextVectorization"})
# Layers that pass their input through without changing what the next weight layer sees.
PASS_THROUGH_LAYERS = frozenset(
    {
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "GaussianNoise",
        "Flatten",
        "Unflatten",
        "Reshape",
        "Identity",
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d",
        "AdaptiveMaxPool2d",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "ZeroPadding2D",
        "Permute",
        "RepeatVector",
        "InputLayer",
        "ActivityRegularization",
        "Cropping2D",
        "UpSampling2D",
        "Upsample",
    }
)

# Activation modules/functions and what they compute. "relu": zero (or near zero) for negative
# inputs; "leaky": ReLU-like but one-to-one, so it keeps negative values (LeakyReLU, PReLU, ELU).
TORCH_ACTIVATION_MODULES = {
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "ReLU": "relu",
    "LeakyReLU": "leaky",
    "PReLU": "leaky",
    "ReLU6": "relu",
    "ELU": "leaky",
    "SELU": "leaky",
    "CELU": "leaky",
    "GELU": "relu",
    "SiLU": "relu",
    "Mish": "relu",
    "Hardswish": "relu",
    "Softplus": "relu",
    "Hardtanh": "tanh",
    "Hardsigmoid": "sigmoid",
    "Softsign": "tanh",
    "Tanhshrink": "relu",
    "LogSigmoid": "log_sigmoid",
}
ACTIVATION_FUNCTIONS = {
    "torch.sigmoid": "sigmoid",
    "torch.nn.functional.sigmoid": "sigmoid",
    "torch.tanh": "tanh",
    "torch.nn.functional.tanh": "tanh",
    "torch.softmax": "softmax",
    "torch.nn.functional.softmax": "softmax",
    "torch.log_softmax": "log_softmax",
    "torch.nn.functional.log_softmax": "log_softmax",
    "torch.special.log_softmax": "log_softmax",
    "torch.special.softmax": "softmax",
    "torch.special.expit": "sigmoid",
    "torch.relu": "relu",
    "torch.nn.functional.relu": "relu",
    "torch.nn.functional.leaky_relu": "leaky",
    "torch.nn.functional.gelu": "relu",
    "torch.nn.functional.elu": "leaky",
    "torch.nn.functional.silu": "relu",
    "torch.nn.functional.selu": "leaky",
    "torch.nn.functional.mish": "relu",
    "torch.nn.functional.relu6": "relu",
    "torch.nn.functional.hardsigmoid": "sigmoid",
    "torch.nn.functional.logsigmoid": "log_sigmoid",
    "tensorflow.nn.sigmoid": "sigmoid",
    "tensorflow.sigmoid": "sigmoid",
    "tensorflow.math.sigmoid": "sigmoid",
    "tensorflow.nn.tanh": "tanh",
    "tensorflow.tanh": "tanh",
    "tensorflow.math.tanh": "tanh",
    "tensorflow.nn.softmax": "softmax",
    "tensorflow.nn.log_softmax": "log_softmax",
    "tensorflow.nn.relu": "relu",
    "keras.activations.sigmoid": "sigmoid",
    "keras.activations.tanh": "tanh",
    "keras.activations.softmax": "softmax",
    "keras.activations.relu": "relu",
    "keras.activations.linear": "linear",
    "keras.ops.sigmoid": "sigmoid",
    "keras.ops.tanh": "tanh",
    "keras.ops.softmax": "softmax",
}
# Tensor methods such as `x.sigmoid()`.
ACTIVATION_METHODS = {
    "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid",
    "tanh": "tanh",
    "tanh_": "tanh",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "relu": "relu",
    "relu_": "relu",
}
# Keras `activation=` strings (and the Activation layer's argument).
KERAS_ACTIVATION_STRINGS = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "relu": "relu",
    "elu": "leaky",
    "selu": "leaky",
    "gelu": "relu",
    "swish": "relu",
    "silu": "relu",
    "leaky_relu": "leaky",
    "relu6": "relu",
    "mish": "relu",
    "softplus": "relu",
    "hard_sigmoid": "sigmoid",
    "softsign": "tanh",
    "linear": "linear",
    "exponential": "relu",
}
KERAS_ACTIVATION_LAYERS = {
    "ReLU": "relu",
    "LeakyReLU": "leaky",
    "PReLU": "leaky",
    "ELU": "leaky",
    "Softmax": "softmax",
}

# What `from <module> import *` binds, for the modules real code star-imports
# (`from keras.layers import *`): the layer names the tables above know, and Keras's models.
STAR_EXPORTS = {
    "keras.layers": frozenset(
        {*KERAS_WEIGHT_LAYERS, *RECURRENT_LAYERS, *ATTENTION_LAYERS, *NORMALISATION_LAYERS}
        | {*EMBEDDING_LAYERS, *PASS_THROUGH_LAYERS, *KERAS_ACTIVATION_LAYERS}
        | {"Input", "Activation", "MaxPool1D", "MaxPool2D", "MaxPool3D", "Concatenate", "Add"}
    ),
    "keras.models": frozenset({"Sequential", "Model", "load_model", "model_from_json"}),
}

# Calls whose result mixes two tensors multiplicatively: a sigmoid/tanh feeding one is a gate.
GATING_FUNCTIONS = frozenset(
    {
        "torch.mul",
        "torch.multiply",
        "torch.matmul",
        "torch.bmm",
        "torch.einsum",
        "torch.addcmul",
        "torch.where",
        "torch.lerp",
        "torch.nn.functional.glu",
        "keras.layers.multiply",
        "keras.layers.Multiply",
        "tensorflow.multiply",
        "tensorflow.math.multiply",
        "tensorflow.matmul",
        "keras.ops.multiply",
    }
)
GATING_METHODS = frozenset({"mul", "mul_", "matmul", "bmm", "addcmul", "addcmul_", "lerp"})
# Tensor methods/functions that only move or reshape values.
SHAPE_METHODS = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "squeeze",
        "unsqueeze",
        "permute",
        "transpose",
        "contiguous",
        "expand",
        "expand_as",
        "view_as",
        "float",
        "to",
        "clone",
        "detach",
        "type_as",
        "mean",
        "sum",
    }
)
SHAPE_FUNCTIONS = frozenset(
    {
        "torch.flatten",
        "torch.reshape",
        "torch.squeeze",
        "torch.unsqueeze",
        "torch.cat",
        "torch.stack",
        "torch.nn.functional.dropout",
        "torch.nn.functional.dropout2d",
        "torch.nn.functional.max_pool2d",
        "torch.nn.functional.avg_pool2d",
        "torch.nn.functional.adaptive_avg_pool2d",
        "torch.nn.functional.interpolate",
        "torch.nn.functional.pad",
        "keras.layers.concatenate",
        "keras.layers.add",
        "tensorflow.concat",
        "tensorflow.reshape",
    }
)

# Losses: kind and whether the model output is expected as logits.
TORCH_LOSSES = {
    "torch.nn.CrossEntropyLoss": "cross_entropy",
    "torch.nn.functional.cross_entropy": "cross_entropy",
    "torch.nn.NLLLoss": "nll",
    "torch.nn.functional.nll_loss": "nll",
    "torch.nn.BCELoss": "bce",
    "torch.nn.functional.binary_cross_entropy": "bce",
    "torch.nn.BCEWithLogitsLoss": "bce_logits",
    "torch.nn.functional.binary_cross_entropy_with_logits": "bce_logits",
    "torch.nn.MSELoss": "regression",
    "torch.nn.functional.mse_loss": "regression",
    "torch.nn.L1Loss": "regression",
    "torch.nn.SmoothL1Loss": "regression",
    "torch.nn.HuberLoss": "regression",
}
KERAS_LOSSES = {
    "categorical_crossentropy": "categorical",
    "sparse_categorical_crossentropy": "categorical",
    "CategoricalCrossentropy": "categorical",
    "SparseCategoricalCrossentropy": "categorical",
    "CategoricalFocalCrossentropy": "categorical",
    "binary_crossentropy": "binary",
    "BinaryCrossentropy": "binary",
    "BinaryFocalCrossentropy": "binary",
    "binary_focal_crossentropy": "binary",
}

# Data sources whose values are known to be raw (unscaled).
RAW_DATA_SOURCES = frozenset(
    {
        "pandas.read_csv",
        "pandas.read_excel",
        "pandas.read_parquet",
        "pandas.read_table",
        "numpy.loadtxt",
        "numpy.genfromtxt",
    }
)
RAW_DATA_PREFIXES = ("keras.datasets.", "sklearn.datasets.load_", "sklearn.datasets.fetch_")
# sklearn loaders whose features are already scaled or are not numeric features.
SCALED_DATA_SOURCES = frozenset(
    {
        "sklearn.datasets.load_diabetes",
        "sklearn.datasets.fetch_20newsgroups",
        "sklearn.datasets.fetch_20newsgroups_vectorized",
        "sklearn.datasets.load_files",
        "sklearn.datasets.fetch_lfw_people",
        "sklearn.datasets.fetch_olivetti_faces",
        "keras.datasets.imdb",
        "keras.datasets.reuters",
        "keras.datasets.imdb.load_data",
        "keras.datasets.reuters.load_data",
        "keras.datasets.boston_housing.get_word_index",
    }
)
# Well-known data files (by name, without extension) whose features are already scaled:
# UCI Sonar (energies in 0..1) and Ionosphere (-1..1).
SCALED_DATA_FILES = frozenset({"sonar", "ionosphere"})
# Encoders that turn categories into codes: writing their output into a frame does not
# rescale its features.
CATEGORY_ENCODERS = frozenset(
    {
        "sklearn.preprocessing.LabelEncoder",
        "sklearn.preprocessing.OrdinalEncoder",
        "sklearn.preprocessing.OneHotEncoder",
        "sklearn.preprocessing.LabelBinarizer",
    }
)
# Operations that keep data raw: conversions, reshapes and selections.
RAW_PRESERVING_METHODS = frozenset(
    {
        "astype",
        "reshape",
        "values",
        "to_numpy",
        "as_matrix",
        "reindex",
        "reset_index",
        "sort_values",
        "sort_index",
        "rename",
        "drop",
        "dropna",
        "fillna",
        "copy",
        "float",
        "double",
        "squeeze",
        "unsqueeze",
        "view",
        "flatten",
        "iloc",
        "loc",
        "to",
        "numpy",
        "long",
        "int",
        "expand_dims",
        "head",
        "tail",
        "sample",
        "get_dummies",
    }
)
RAW_PRESERVING_FUNCTIONS = frozenset(
    {
        "numpy.array",
        "numpy.asarray",
        "numpy.float32",
        "numpy.expand_dims",
        "torch.tensor",
        "torch.from_numpy",
        "torch.as_tensor",
        "torch.Tensor",
        "torch.FloatTensor",
        "tensorflow.convert_to_tensor",
        "tensorflow.constant",
        "tensorflow.cast",
        "sklearn.model_selection.train_test_split",
        "numpy.reshape",
        "pandas.get_dummies",
    }
)

# Preprocessors whose `fit` learns statistics from the data it sees.
FITTED_PREPROCESSORS = frozenset(
    {
        "sklearn.preprocessing.StandardScaler",
        "sklearn.preprocessing.MinMaxScaler",
        "sklearn.preprocessing.RobustScaler",
        "sklearn.preprocessing.MaxAbsScaler",
        "sklearn.preprocessing.Normalizer",
        "sklearn.preprocessing.QuantileTransformer",
        "sklearn.preprocessing.PowerTransformer",
        "sklearn.decomposition.PCA",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.CountVectorizer",
        "sklearn.impute.SimpleImputer",
        "sklearn.impute.KNNImputer",
        "keras.preprocessing.text.Tokenizer",
        "keras.layers.Normalization",
        "keras.layers.TextVectorization",
        "sklearn.pipeline.Pipeline",
        "sklearn.pipeline.make_pipeline",
        "sklearn.compose.ColumnTransformer",
        "sklearn.compose.make_column_transformer",
    }
)
# Calls that iterate the data they are given, with extras (a progress bar, an index).
LOADER_WRAPPERS = frozenset({"tqdm", "enumerate", "iter", "next", "track", "trange"})
KERAS_TRAIN_METHODS = frozenset({"fit", "fit_generator"})  # Keras 2 trains generators apart
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_on_texts", "adapt", "partial_fit"})
SPLIT_FUNCTIONS = frozenset(
    {"sklearn.model_selection.train_test_split", "torch.utils.data.random_split"}
)

# Calls that stack arrays row-wise, block after block (NN202: an ordered validation tail).
CONCATENATIONS = frozenset(
    {"numpy.concatenate", "numpy.vstack", "numpy.row_stack", "torch.cat", "torch.concat"}
)

# Random-number calls: a Dataset whose `__getitem__` makes one samples at random.
RANDOM_PREFIXES = ("random.", "numpy.random.", "torch.randint", "torch.randperm", "torch.rand")

# -- which split data is (NN203) -------------------------------------------------------
# Grids of hyper-parameter candidates a search loop iterates.
CANDIDATE_GRIDS = frozenset(
    {
        "itertools.product",
        "sklearn.model_selection.ParameterGrid",
        "sklearn.model_selection.ParameterSampler",
    }
)
# Keywords that name the split a loader returns: `get_dataset(mode="test")`.
SPLIT_KEYWORDS = ("split", "mode", "subset", "partition")
# Methods and functions whose result is the same split as their receiver / first argument.
SPLIT_PRESERVING_METHODS = RAW_PRESERVING_METHODS | {
    "map",
    "batch",
    "padded_batch",
    "prefetch",
    "cache",
    "shuffle",
    "repeat",
    "filter",
    "take",
    "unbatch",
    "with_format",
    "set_format",
    "select_columns",
    "remove_columns",
    "rename_column",
}
SPLIT_PRESERVING_FUNCTIONS = RAW_PRESERVING_FUNCTIONS - {
    "sklearn.model_selection.train_test_split"
} | {
    "keras.utils.to_categorical",
    "keras.utils.np_utils.to_categorical",
    "keras.utils.pad_sequences",
    "keras.preprocessing.sequence.pad_sequences",
}

# Early stopping and best-model selection callbacks.
EARLY_STOPPING_CALLBACKS = frozenset(
    {
        "keras.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.early_stopping.EarlyStopping",
        "transformers.EarlyStoppingCallback",
        "transformers.trainer_callback.EarlyStoppingCallback",
    }
)
CHECKPOINT_CALLBACKS = frozenset(
    {
        "keras.callbacks.ModelCheckpoint",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint",
    }
)
# NN301's default for "many epochs" (`early-stopping-epochs` in [tool.nnlint]): a run a
# reviewer would call long; shorter runs are never reported.
MANY_EPOCHS = 100
LIGHTNING_DEFAULT_MAX_EPOCHS = 1000
HF_DEFAULT_EPOCHS = 3

# Sane learning rates per optimizer family, by lower-cased class name (AdamW -> "adamw"),
# for code (NN401) and configs (NN702) alike. Outside these a run diverges or barely moves;
# the bounds are loose on purpose (large-batch SGD uses rates above 1).
# Rates beyond these are far off (the rule promises "far outside"): small networks and RL
# agents train well with Adam at 1e-2..3e-2 (pytorch/examples' actor-critic uses 3e-2), and
# torch's RMSprop defaults to 1e-2.
LR_RANGES: dict[str, tuple[float, float]] = {
    "adam": (1e-6, 3e-2),
    "adamw": (1e-6, 3e-2),
    "nadam": (1e-6, 3e-2),
    "radam": (1e-6, 3e-2),
    "sparseadam": (1e-6, 3e-2),
    "adamax": (1e-6, 6e-2),
    "lamb": (1e-6, 5e-2),
    "rmsprop": (1e-6, 3e-2),
    "adagrad": (1e-5, 0.5),
    "sgd": (1e-5, 5.0),
    "adadelta": (1e-2, 10.0),  # the paper's rate is 1.0; tf.keras's default 1e-3 barely moves
    "lion": (1e-7, 1e-3),
}
DEFAULT_LR_RANGE = (1e-7, 10.0)
# Defaults of tf.keras optimizers that fall outside the ranges above (standalone Keras 2
# used 1.0 for Adadelta; a module that imports TensorFlow gets tf.keras's 1e-3).
TF_KERAS_DEFAULT_LR = {"adadelta": 1e-3}

# == Catalogue rules (NN103-NN109, NN204, NN4xx, NN5xx, NN6xx) ============================

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
NARROW_OUTPUT = 16  # an output layer this narrow: its initialisation family is immaterial
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
