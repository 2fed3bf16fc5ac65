"""Import aliases resolve to one canonical qualified name."""

from __future__ import annotations

import ast

import pytest

from nnlint.facts.names import canonical, name_tokens
from nnlint.facts.scope import Collector
from nnlint.facts.values import Resolver


def _qualname_of_last_call(source: str) -> str | None:
    collector = Collector("train")
    collector.run(ast.parse(source))
    resolver = Resolver(collector)
    site = collector.calls[-1]
    return resolver.call_name(site.node, site.scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch.nn as nn\nnn.Linear(1, 2)", "torch.nn.Linear"),
        ("from torch import nn\nnn.Sigmoid()", "torch.nn.Sigmoid"),
        ("from torch.nn import functional as F\nF.softmax(x, 1)", "torch.nn.functional.softmax"),
        ("import torch.nn.functional as F\nF.relu(x)", "torch.nn.functional.relu"),
        ("import tensorflow as tf\ntf.keras.layers.Dense(3)", "keras.layers.Dense"),
        ("from tensorflow import keras\nkeras.layers.Dense(3)", "keras.layers.Dense"),
        ("import keras\nkeras.layers.Dense(3)", "keras.layers.Dense"),
        ("from keras.layers import Dense\nDense(3)", "keras.layers.Dense"),
        ("from tensorflow.keras import layers\nlayers.Dense(3)", "keras.layers.Dense"),
        ("import pytorch_lightning as pl\npl.Trainer()", "lightning.pytorch.Trainer"),
        ("import lightning as L\nL.Trainer()", "lightning.pytorch.Trainer"),
        ("import torch.nn as nn\nAct = nn.Tanh\nAct()", "torch.nn.Tanh"),
        ("def f():\n    import torch\n    return torch.sigmoid(x)", "torch.sigmoid"),
    ],
)
def test_aliases_resolve_to_canonical_names(source: str, expected: str) -> None:
    assert _qualname_of_last_call(source) == expected


def test_star_imports_of_known_modules_bind_their_names() -> None:
    source = "from tensorflow.keras.layers import *\nfrom keras.models import *\n"
    assert _qualname_of_last_call(source + "Sequential([Dense(3)])") == "keras.models.Sequential"
    assert _qualname_of_last_call(source + "Conv2D(8, 3)") == "keras.layers.Conv2D"
    assert _qualname_of_last_call("from mylib import *\nDense(3)") is None


def test_unimported_names_do_not_resolve() -> None:
    assert _qualname_of_last_call("nn.Linear(1, 2)") is None


def test_relative_import_resolves_against_the_package() -> None:
    collector = Collector("pkg.train")
    collector.run(ast.parse("from .models import Net\nNet()"))
    assert collector.imports["Net"] == "pkg.models.Net"


def test_canonical_leaves_other_names_alone() -> None:
    assert canonical("torch.nn.Linear") == "torch.nn.Linear"
    assert canonical("tensorflow.keras.layers.Dense") == "keras.layers.Dense"


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("trainLoader2", ["train", "loader"]),
        ("x_test", ["x", "test"]),
        ("testloader", ["testloader"]),
    ],
)
def test_name_tokens(name: str, tokens: list[str]) -> None:
    assert name_tokens(name) == tokens
