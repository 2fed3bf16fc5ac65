"""What kind of targets an array holds: class labels or continuous values, where visible.

Followed back through names, tensor conversions and `train_test_split` to a source that
tells: a cast to an integer type (`.long()`, `torch.LongTensor`, `dtype=torch.long`) or a
scikit-learn loader known to return class labels or continuous values.
"""

from __future__ import annotations

import ast

from nnlint import tables
from nnlint.facts.names import dotted
from nnlint.facts.scope import Scope
from nnlint.facts.values import Resolver, keyword

CLASS_LABELS = "class labels"
CONTINUOUS = "continuous values"
_MAX_DEPTH = 12
_SPLITTERS = frozenset({"sklearn.model_selection.train_test_split"})
_ONE_HOT = "one-hot rows"
_ONE_HOT_ENCODERS = frozenset(
    {"keras.utils.to_categorical", "keras.utils.np_utils.to_categorical", "pandas.get_dummies"}
)


def target_kind(expr: ast.expr | None, scope: Scope, resolver: Resolver) -> str | None:
    """CLASS_LABELS, CONTINUOUS, or None when the code does not show which."""
    kind = _kind(expr, scope, resolver)
    return CLASS_LABELS if kind == _ONE_HOT else kind


def one_hot(expr: ast.expr | None, scope: Scope, resolver: Resolver) -> bool:
    """True when the targets are one-hot rows (`to_categorical`, `OneHotEncoder`,
    `get_dummies`): exactly one class per sample, a single-label task."""
    return _kind(expr, scope, resolver) == _ONE_HOT


def _kind(expr: ast.expr | None, scope: Scope, resolver: Resolver, depth: int = 0) -> str | None:
    if expr is None or depth > _MAX_DEPTH:
        return None
    kinds = set()
    origins = resolver.origins(expr, scope)
    if not origins:
        return None
    for origin in origins:
        kind = _origin_kind(origin.expr, origin.scope, origin.index, resolver, depth)
        if kind is None:
            return None
        kinds.add(kind)
    return kinds.pop() if len(kinds) == 1 else None


def _origin_kind(
    value: ast.expr, scope: Scope, index: int | None, resolver: Resolver, depth: int
) -> str | None:
    if isinstance(value, ast.Subscript):
        return _kind(value.value, scope, resolver, depth + 1)
    if isinstance(value, ast.Attribute):
        if value.attr in {"target", "values"}:
            base = value.value
            if value.attr == "target":
                return _loader_kind(base, scope, resolver, 1)
            return _kind(base, scope, resolver, depth + 1)
        return None
    if not isinstance(value, ast.Call):
        return None
    qualname = resolver.call_name(value, scope) or ""
    func = value.func
    if qualname in _ONE_HOT_ENCODERS or _encoder_call(value, scope, resolver):
        return _ONE_HOT
    if qualname in tables.INTEGER_TENSORS:
        return CLASS_LABELS
    if _integer_dtype(value, scope, resolver):
        return CLASS_LABELS
    if qualname in tables.CLASSIFICATION_DATASETS:
        return CLASS_LABELS if index == 1 else None
    if qualname in tables.REGRESSION_DATASETS:
        return CONTINUOUS if index == 1 else None
    if qualname in _SPLITTERS and index is not None:
        position = index // 2
        if position < len(value.args) and not isinstance(value.args[position], ast.Starred):
            return _kind(value.args[position], scope, resolver, depth + 1)
        return None
    if qualname in tables.TARGET_PRESERVING and value.args:
        return _kind(value.args[0], scope, resolver, depth + 1)
    if isinstance(func, ast.Attribute) and not qualname:
        if func.attr in tables.INTEGER_CAST_METHODS and not value.args:
            return CLASS_LABELS
        if func.attr in {"type", "to", "astype"} and value.args and _is_integer_type(value.args[0]):
            return CLASS_LABELS
        if func.attr in tables.TARGET_PRESERVING_METHODS:
            return _kind(func.value, scope, resolver, depth + 1)
    return None


def _encoder_call(call: ast.Call, scope: Scope, resolver: Resolver) -> bool:
    """`OneHotEncoder(...).fit_transform(y)` (or `.transform`), through a name."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in {"fit_transform", "transform"}):
        return False
    return any(
        isinstance(o.expr, ast.Call)
        and resolver.call_name(o.expr, o.scope) == "sklearn.preprocessing.OneHotEncoder"
        for o in resolver.origins(func.value, scope)
    )


def _loader_kind(expr: ast.expr, scope: Scope, resolver: Resolver, index: int) -> str | None:
    """`load_iris().target`: the kind of targets a loader's Bunch holds."""
    for origin in resolver.origins(expr, scope):
        if isinstance(origin.expr, ast.Call) and origin.index is None:
            qualname = resolver.call_name(origin.expr, origin.scope) or ""
            if qualname in tables.CLASSIFICATION_DATASETS:
                return CLASS_LABELS
            if qualname in tables.REGRESSION_DATASETS:
                return CONTINUOUS
    return None


def _integer_dtype(call: ast.Call, scope: Scope, resolver: Resolver) -> bool:
    dtype = keyword(call, "dtype")
    if dtype is None:
        return False
    if _is_integer_type(dtype):
        return True
    value = resolver.constant(dtype, scope)
    return isinstance(value, str) and value in tables.INTEGER_DTYPES


def _is_integer_type(expr: ast.expr) -> bool:
    name = dotted(expr) or ""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        name = expr.value
    last = name.rpartition(".")[2]
    return last in tables.INTEGER_DTYPES or last in {"LongTensor", "IntTensor"}
