"""Data facts: which split a value is (train/val/test), data loaders, tf.data pipelines,
raw (unscaled) data sources and preprocessing fitted on data."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nnlint import tables
from nnlint.facts.dataflow import binds
from nnlint.facts.names import dotted, iterated, name_tokens
from nnlint.facts.scope import CallSite, Scope
from nnlint.facts.values import Origin, Resolver, argument, keyword
from nnlint.facts.writes import Writes

_MAX_DEPTH = 10
DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
ITERABLE_DATASETS = frozenset(
    {"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset"}
)
_VAL_WORDS = frozenset(
    {
        "val",
        "valid",
        "validation",
        "validate",
        "dev",
        "vl",
        "valset",
        "validset",
        "valloader",
        "valdl",
        "valds",
        "valdata",
        "eval",
    }
)
# Words that make a name a measurement about a split rather than the split itself.
_METRIC_WORDS = frozenset(
    {
        "loss",
        "losses",
        "acc",
        "accuracy",
        "score",
        "scores",
        "metric",
        "metrics",
        "f1",
        "auc",
        "err",
        "error",
        "mse",
        "mae",
        "rmse",
        "best",
        "pred",
        "preds",
        "predictions",
        "logits",
        "outputs",
        "size",
        "len",
        "steps",
        "freq",
        "every",
        "interval",
        "ratio",
        "frac",
        "fraction",
        "split",
        "result",
        "results",
        "history",
        "step",
        "epoch",
        "epochs",
        "batch",
        "batches",
        "n",
        "num",
        "count",
        "path",
        "dir",
        "file",
        "files",
        "url",
        "idx",
        "indices",
        "index",
        "ids",
        "mask",
        "time",
    }
)
_TFDATA_STEPS = frozenset(
    {
        "map",
        "batch",
        "prefetch",
        "cache",
        "repeat",
        "filter",
        "take",
        "skip",
        "unbatch",
        "padded_batch",
        "with_options",
        "apply",
        "enumerate",
        "ragged_batch",
        "rebatch",
        "interleave",
        "flat_map",
    }
)
_TFDATA_SOURCES = frozenset(
    {
        "from_tensor_slices",
        "from_tensors",
        "from_generator",
        "range",
        "zip",
        "TFRecordDataset",
        "TextLineDataset",
        "load",
    }
)
_SHUFFLING_SOURCES = frozenset(
    {
        "keras.utils.image_dataset_from_directory",
        "keras.utils.text_dataset_from_directory",
        "keras.preprocessing.image_dataset_from_directory",
        "keras.preprocessing.text_dataset_from_directory",
        "keras.utils.audio_dataset_from_directory",
    }
)


def _is_split_loader(qualname: str | None) -> bool:
    """`keras.datasets.mnist.load_data()` returns ((x_train, y_train), (x_test, y_test))."""
    return (
        bool(qualname) and qualname.startswith("keras.datasets.") and qualname.endswith("load_data")
    )


def name_role(name: str) -> str | None:
    """'train', 'val' or 'test' when an identifier names a split of data."""
    tokens = name_tokens(name)
    if any(t in _METRIC_WORDS for t in tokens):
        return None
    for token in tokens:
        if token.startswith("test") or token == "tst":
            return "test"
        if token in _VAL_WORDS or token.startswith(("valid", "valset", "valloader")):
            return "val"
        if token.startswith("train") and not token.startswith(("trainer", "trainab")):
            return "train"
    return None


class DataFacts:
    """Questions about data in one module."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.writes = Writes(resolver)

    # -- splits -------------------------------------------------------------------------
    def role(self, expr: ast.expr, scope: Scope, depth: int = 0) -> str | None:
        """Which split `expr` holds: known by where it came from, else by its name."""
        by_origin = self._origin_role(expr, scope, depth)
        if by_origin == "test":
            return "test"
        by_name = self._name_role(expr)
        if by_name is None and by_origin is None and isinstance(expr, ast.Name):
            return self._argument_role(expr, scope, depth)
        return by_name or by_origin

    def _argument_role(self, expr: ast.Name, scope: Scope, depth: int) -> str | None:
        """A parameter's split, when every caller passes the same one (`validate(val_loader)`
        for `def validate(loader)`)."""
        if depth > _MAX_DEPTH:
            return None
        passed = self.resolver.arguments(expr, scope)
        roles = {self.role(arg, caller, depth + 1) for arg, caller in passed}
        return roles.pop() if len(roles) == 1 else None

    def _name_role(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return name_role(expr.id)
        if isinstance(expr, ast.Attribute):
            return name_role(expr.attr)
        if isinstance(expr, ast.Subscript):
            key = expr.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return name_role(key.value)
            return self._name_role(expr.value)
        return None

    def _origin_role(self, expr: ast.expr, scope: Scope, depth: int) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        for origin in self.resolver.origins(expr, scope):
            value = origin.expr
            if isinstance(value, ast.BinOp):  # `x_val / 255`: arithmetic keeps the split
                role = self._first_role([value.left, value.right], origin.scope, depth)
                if role:
                    return role
                continue
            if value is expr or not isinstance(value, ast.Call):
                if value is not expr and isinstance(
                    value, ast.Name | ast.Attribute | ast.Subscript
                ):
                    role = self._name_role(value)
                    if role:
                        return role
                continue
            role = self._call_role(value, origin.scope, depth)
            if role:
                return role
            if origin.index == 1 and _is_split_loader(self.resolver.call_name(value, origin.scope)):
                return "test"
        return None

    def _first_role(self, exprs: list[ast.expr], scope: Scope, depth: int) -> str | None:
        """The role of the first of `exprs` that has one ('test' before any other)."""
        roles = {self.role(e, scope, depth + 1) for e in exprs} - {None}
        return "test" if "test" in roles else next(iter(roles), None)

    def _call_role(self, call: ast.Call, scope: Scope, depth: int) -> str | None:
        if (data := iterated(call)) is not call:
            return self.role(data, scope, depth + 1)  # tqdm(loader), enumerate(loader)
        train = self.resolver.constant(keyword(call, "train"), scope)
        if train is False:
            return "test"
        for word in tables.SPLIT_KEYWORDS:
            split = self.resolver.constant(keyword(call, word), scope)
            if isinstance(split, str) and name_role(split.split("[")[0]):
                return name_role(split.split("[")[0])
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in tables.SPLIT_PRESERVING_METHODS:
            return self.role(func.value, scope, depth + 1)  # x_test.astype(...), ds.map(f)
        qualname = self.resolver.call_name(call, scope)
        if qualname in tables.SPLIT_PRESERVING_FUNCTIONS and call.args:
            return self.role(call.args[0], scope, depth + 1)  # to_categorical(y_test)
        if qualname in DATALOADERS or (qualname or "").endswith(("Subset", "Dataset")):
            dataset = argument(call, "dataset", 0)
            if dataset is not None:
                return self.role(dataset, scope, depth + 1)
        return None

    # -- loaders ------------------------------------------------------------------------
    def is_loader(self, site: CallSite) -> bool:
        return site.qualname in DATALOADERS

    def loader_shuffles(self, call: ast.Call, scope: Scope) -> bool | None:
        """True/False when a DataLoader's shuffling is known; None when it cannot be told.
        `**kwargs` is looked into when it is built from dict literals."""
        if any(isinstance(a, ast.Starred) for a in call.args):
            return None
        extra = self._star_keywords(call, scope)
        if extra is None:
            return None
        if (
            argument(call, "sampler", 3) is not None
            or argument(call, "batch_sampler", 4) is not None
            or extra & {"sampler", "batch_sampler"}
        ):
            return True
        if "shuffle" in extra:
            return None
        shuffle = argument(call, "shuffle", 2)
        if shuffle is None:
            return False
        value = self.resolver.constant(shuffle, scope)
        return value if isinstance(value, bool) else None

    def _star_keywords(self, call: ast.Call, scope: Scope) -> set[str] | None:
        """The keys `**kwargs` may pass, when every dict it can be is a literal with string
        keys (`{"num_workers": 4} if cuda else {}`); None when they cannot be known."""
        keys: set[str] = set()
        for kw in call.keywords:
            if kw.arg is not None:
                continue
            origins = self.resolver.origins(kw.value, scope)
            if not origins:
                return None
            for origin in origins:
                value = origin.expr
                branches = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                for branch in branches:
                    if not isinstance(branch, ast.Dict) or not all(
                        isinstance(k, ast.Constant) and isinstance(k.value, str)
                        for k in branch.keys
                    ):
                        return None
                    keys |= {k.value for k in branch.keys}  # type: ignore[union-attr]
        return keys

    def is_iterable_dataset(self, call: ast.Call, scope: Scope) -> bool:
        """True when the loader's dataset is an IterableDataset (it cannot shuffle)."""
        dataset = argument(call, "dataset", 0)
        if dataset is None:
            return False
        for origin in self.resolver.origins(dataset, scope):
            if isinstance(origin.expr, ast.Call) and isinstance(origin.expr.func, ast.Name):
                cls = self.resolver.collected.classes.get(origin.expr.func.id)
                if cls and any(
                    b in ITERABLE_DATASETS or b.endswith("IterableDataset") for b in cls.bases
                ):
                    return True
            qualname = (
                self.resolver.call_name(origin.expr, origin.scope)
                if isinstance(origin.expr, ast.Call)
                else None
            )
            if qualname and "Iterable" in qualname:
                return True
        return False

    def dataset_shuffles(self, call: ast.Call, scope: Scope) -> bool:
        """True when a DataLoader's dataset orders itself at random: a local Dataset class
        whose `__getitem__` draws random numbers, or a dataset shuffled by a `.shuffle(...)`
        method (Hugging Face `datasets`)."""
        dataset = argument(call, "dataset", 0)
        if dataset is None:
            return False
        return self._self_shuffling(dataset, scope, 0)

    def _self_shuffling(self, expr: ast.expr, scope: Scope, depth: int) -> bool:
        if depth > _MAX_DEPTH:
            return False
        for origin in self.resolver.origins(expr, scope):
            value = origin.expr
            if not isinstance(value, ast.Call):
                continue
            func = value.func
            if isinstance(func, ast.Name):
                cls = self.resolver.collected.classes.get(func.id)
                getitem = cls.methods.get("__getitem__") if cls else None
                if getitem and any(
                    (s.qualname or "").startswith(tables.RANDOM_PREFIXES) for s in getitem.calls
                ):
                    return True
            elif (
                isinstance(func, ast.Attribute)
                and not self.resolver.call_name(value, origin.scope)
                and (
                    func.attr == "shuffle"
                    or (
                        func.attr in tables.SPLIT_PRESERVING_METHODS
                        and self._self_shuffling(func.value, origin.scope, depth + 1)
                    )
                )
            ):
                return True
        return False

    # -- tf.data ------------------------------------------------------------------------
    def tfdata_shuffled(self, expr: ast.expr, scope: Scope, depth: int = 0) -> bool | None:
        """For a tf.data pipeline: True if it shuffles, False if its source is known and it
        never shuffles, None when it is not (known to be) a tf.data pipeline."""
        if depth > _MAX_DEPTH:
            return None
        origins = self.resolver.origins(expr, scope)
        if len(origins) != 1 or not isinstance(origins[0].expr, ast.Call):
            return None
        call, scope = origins[0].expr, origins[0].scope
        qualname = self.resolver.call_name(call, scope) or ""
        if qualname in _SHUFFLING_SOURCES:
            return self.resolver.constant(keyword(call, "shuffle"), scope) is not False
        if (
            qualname.startswith("tensorflow.data.")
            and qualname.rpartition(".")[2] in _TFDATA_SOURCES
        ):
            return False
        func = call.func
        if isinstance(func, ast.Attribute) and not qualname:
            if func.attr == "shuffle":
                return True
            if func.attr in _TFDATA_STEPS:
                return self.tfdata_shuffled(func.value, scope, depth + 1)
        return None

    # -- raw data -----------------------------------------------------------------------
    def raw_source(self, expr: ast.expr, scope: Scope, depth: int = 0) -> str | None:
        """The unscaled source (`mnist.load_data`, `pd.read_csv`) an array comes straight
        from, or None when it was scaled or its path cannot be followed."""
        if depth > _MAX_DEPTH:
            return None
        origins = self.resolver.origins(expr, scope)
        if not origins:
            return None
        sources = set()
        for origin in origins:
            if self._rescaled_in_place(origin, expr, scope):
                return None
            source = self._raw_origin(origin.expr, origin.scope, origin.index, depth)
            if source is None:
                return None
            sources.add(source)
        return sources.pop() if len(sources) == 1 else None

    def _rescaled_in_place(self, origin: Origin, expr: ast.expr, scope: Scope) -> bool:
        """True when a variable bound to the origin may be rescaled in place before `expr`
        reads it (anywhere after the binding, when `expr` is in another scope)."""
        names = {
            name
            for name, bindings in origin.scope.bindings.items()
            if any(binds(b, origin.expr) for b in bindings)
        }
        end = expr.lineno if origin.scope is scope else 1 << 30
        return any(
            self.writes.rescaled_between(name, origin.scope, origin.expr.lineno, end)
            for name in names
        )

    def _raw_origin(
        self, value: ast.expr, scope: Scope, index: int | None, depth: int
    ) -> str | None:
        if isinstance(value, ast.Subscript):
            return self.raw_source(value.value, scope, depth + 1)
        if isinstance(value, ast.Attribute) and value.attr in {
            "values",
            "data",
            "T",
            "iloc",
            "loc",
        }:
            return self.raw_source(value.value, scope, depth + 1)
        if not isinstance(value, ast.Call):
            return None
        qualname = self.resolver.call_name(value, scope) or ""
        if qualname in tables.SCALED_DATA_SOURCES or any(
            qualname.startswith(s + ".") for s in tables.SCALED_DATA_SOURCES
        ):
            return None
        if qualname in tables.RAW_DATA_SOURCES or qualname.startswith(tables.RAW_DATA_PREFIXES):
            if "scaled" in {kw.arg for kw in value.keywords} or self._scaled_file(value, scope):
                return None
            return qualname
        if qualname in tables.RAW_PRESERVING_FUNCTIONS and value.args:
            position = index // 2 if index is not None and "train_test_split" in qualname else 0
            if position >= len(value.args) or isinstance(value.args[position], ast.Starred):
                return None
            return self.raw_source(value.args[position], scope, depth + 1)
        func = value.func
        if (
            isinstance(func, ast.Attribute)
            and not qualname
            and func.attr in tables.RAW_PRESERVING_METHODS
        ):
            return self.raw_source(func.value, scope, depth + 1)
        return None

    def _scaled_file(self, call: ast.Call, scope: Scope) -> bool:
        """`read_csv("sonar.all-data")`: a well-known data file whose features are scaled."""
        path = self.resolver.constant(call.args[0], scope) if call.args else None
        if not isinstance(path, str):
            return False
        stem = path.replace("\\", "/").rpartition("/")[2].partition(".")[0].lower()
        return stem in tables.SCALED_DATA_FILES

    # -- row order ----------------------------------------------------------------------
    def in_blocks(self, expr: ast.expr, scope: Scope, depth: int = 0) -> bool:
        """True when an array's rows were put together block by block and never reordered:
        a list appended to in two or more separate loops, or a concatenation of arrays
        (`np.concatenate([cats, dogs])`), followed through conversions and scalers."""
        if depth > _MAX_DEPTH:
            return False
        origins = self.resolver.origins(expr, scope)
        return bool(origins) and all(self._blocks(o.expr, o.scope, depth) for o in origins)

    def _blocks(self, value: ast.expr, scope: Scope, depth: int) -> bool:
        if isinstance(value, ast.List) and not value.elts:
            return self._appended_in_loops(value, scope) >= 2
        if not isinstance(value, ast.Call):
            return False
        qualname = self.resolver.call_name(value, scope) or ""
        func = value.func
        if qualname in tables.CONCATENATIONS:
            parts = value.args[0] if value.args else None
            return (
                isinstance(parts, ast.List | ast.Tuple)
                and len(parts.elts) >= 2
                and not (keyword(value, "axis") or keyword(value, "dim") or value.args[1:])
            )
        if qualname in tables.RAW_PRESERVING_FUNCTIONS - tables.SPLIT_FUNCTIONS and value.args:
            return self.in_blocks(value.args[0], scope, depth + 1)
        if isinstance(func, ast.Attribute) and not qualname:
            if func.attr in {"fit_transform", "transform"} and value.args:
                return self.in_blocks(value.args[0], scope, depth + 1)
            if func.attr in tables.RAW_PRESERVING_METHODS - {"sample"}:
                return self.in_blocks(func.value, scope, depth + 1)
        return False

    def _appended_in_loops(self, empty: ast.List, scope: Scope) -> int:
        """How many separate top-level loops `.append` to the list `name = []` binds."""
        names = [n for n, bs in scope.bindings.items() if any(binds(b, empty) for b in bs)]
        if len(names) != 1:
            return 0
        loops = set()
        for site in scope.calls:
            func = site.node.func
            if not (isinstance(func, ast.Attribute) and dotted(func.value) == names[0]):
                callee = (dotted(func) or "").lower()
                if any(w in callee for w in ("shuffle", "perm", "sort")) and any(
                    isinstance(a, ast.Name) and a.id == names[0] for a in site.node.args
                ):
                    return 0  # reordered: `random.shuffle(rows)`
                continue
            if func.attr in {"append", "extend"} and site.loops:
                loops.add(id(site.loops[0]))
            elif func.attr in {"sort", "reverse"} or not site.loops:
                return 0
        return len(loops)

    # -- preprocessing ------------------------------------------------------------------
    def fitted_preprocessor(self, site: CallSite) -> ast.expr | None:
        """For `scaler.fit(X)` / `StandardScaler().fit_transform(X)`: the data it learns from."""
        func = site.node.func
        if not (isinstance(func, ast.Attribute) and func.attr in tables.FIT_METHODS):
            return None
        for origin in self.resolver.origins(func.value, site.scope):
            if isinstance(origin.expr, ast.Call):
                qualname = self.resolver.call_name(origin.expr, origin.scope)
                if qualname in tables.FITTED_PREPROCESSORS:
                    return (
                        argument(site.node, "X", 0)
                        or argument(site.node, "texts", 0)
                        or argument(site.node, "data", 0)
                    )
        return None


@dataclass(frozen=True)
class SplitUse:
    """A split function call and the names of the data it splits."""

    site: CallSite
    inputs: frozenset[str]


def split_calls(resolver: Resolver) -> list[SplitUse]:
    """`train_test_split(X, y)` and `random_split(ds, ...)` calls with the names they split."""
    uses = []
    for site in resolver.collected.training_calls:
        if site.qualname in tables.SPLIT_FUNCTIONS:
            names = frozenset(
                n.id for a in site.node.args for n in ast.walk(a) if isinstance(n, ast.Name)
            )
            uses.append(SplitUse(site, names))
    return uses
