"""Find and call the user's factory: `pkg.module:factory` or `path/to/train.py:factory`.

The factory takes no arguments and returns the model, the loss, the data and optionally the
optimizer: as a dict, a namedtuple or a dataclass with fields `model`, `loss`, `data`,
`optimizer`, and optionally `unpack` (a function from a batch to `(inputs, targets)` for
batches that are neither `(x, y, ...)` nor dicts) and `amp` / `dtype` for mixed precision.
A PyTorch Lightning `LightningModule` (a class or an instance, or a factory returning one)
needs no factory: its own `configure_optimizers` and `train_dataloader`, or a
`LightningDataModule` in the same module, supply the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

FIELDS = ("model", "loss", "data", "optimizer", "unpack", "amp", "dtype")
HOME = os.getcwd()  # where nnlint was started: file names are shown relative to it


def user_file(filename: str) -> bool:
    """A file of the user's code: not nnlint's, not an installed library's, not Python's own
    (the standard library, frozen modules)."""
    if filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    libraries = {os.path.dirname(os.__file__), str(Path(__file__).resolve().parents[1])}
    return (
        "site-packages" not in path
        and "dist-packages" not in path
        and not any(path.startswith(folder + os.sep) for folder in libraries)
    )


def user_frames(stack: list[traceback.FrameSummary]) -> list[traceback.FrameSummary]:
    """The frames of a stack or traceback that are in the user's files."""
    return [frame for frame in stack if user_file(frame.filename)]


def display(filename: str) -> str:
    """A file name as the user sees it: relative to the folder nnlint was started in."""
    try:
        return os.path.relpath(filename, HOME)
    except ValueError:
        return filename


class TargetError(Exception):
    """The target cannot be imported or does not return what the probe needs (exit 2);
    `show_output`: the user's own output says why (a script that exited early)."""

    def __init__(self, message: str, *, show_output: bool = False) -> None:
        super().__init__(message)
        self.show_output = show_output


@dataclass
class Bundle:
    """What the probe runs: the model, how to get a loss from a batch, and the data."""

    model: Any
    loss: Callable[..., Any] | None
    data: Iterable[Any]
    optimizer: Any = None
    unpack: Callable[[Any], tuple[Any, Any]] | None = None
    lightning: bool = False
    amp: bool = False
    dtype: str | None = None
    factory: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    clip: Callable[[Any], Any] | None = None  # the script's gradient clipping, on parameters


def split_target(spec: str) -> tuple[str, str | None]:
    """`'a/b.py:make'` -> `('a/b.py', 'make')`; a target without `:name` has no attribute."""
    head, sep, name = spec.rpartition(":")
    if not sep or not name.isidentifier() or (len(head) == 1 and head.isalpha()):
        return spec, None  # no attribute (or a Windows drive letter)
    return head, name


def import_target(spec: str) -> tuple[ModuleType, Any, str | None]:
    """Import the module of `spec` (a dotted name or a .py path) and return it, the named
    object (None without a name) and the name."""
    where, name = split_target(spec)
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise TargetError(f"{where}: no such file")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # sibling modules import as they do when it runs
        module_name = path.stem if path.stem.isidentifier() else "_nnlint_probe_target"
        spec_ = importlib.util.spec_from_file_location(module_name, path)
        if spec_ is None or spec_.loader is None:
            raise TargetError(f"{where}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec_)
        sys.modules[module_name] = module
        spec_.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            if error.name and where.startswith(error.name):
                message = f"cannot import {where!r}: no module named {error.name!r}"
                raise TargetError(message) from None
            raise
    if name is None:
        return module, None, None
    if not hasattr(module, name):
        raise TargetError(f"{where} has no attribute {name!r}")
    return module, getattr(module, name), name


def is_lightning_module(obj: Any) -> bool:
    """A LightningModule, by duck type (no import of lightning needed)."""
    return all(callable(getattr(obj, a, None)) for a in ("training_step", "configure_optimizers"))


def _is_datamodule(obj: Any) -> bool:
    return callable(getattr(obj, "train_dataloader", None)) and not is_lightning_module(obj)


def load(spec: str) -> Bundle:
    """Import the target and build the bundle; raises TargetError for a wrong target, and
    lets the user's own exceptions through (the caller reports their frame)."""
    module, obj, name = import_target(spec)
    if obj is None:
        obj = _find_lightning_class(module)
        if obj is None:
            raise TargetError(
                f"name the factory: `{spec}:make_probe` (a function returning a dict with "
                "model, loss, data and optionally optimizer), or a LightningModule class"
            )
    factory = obj
    if inspect.isclass(obj):
        if not is_lightning_module(obj):
            raise TargetError(f"{spec}: a class is accepted only when it is a LightningModule")
        result = obj()
    elif is_lightning_module(obj):
        result = obj
    elif callable(obj):
        required = [
            p
            for p in _parameters(obj)
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            names = ", ".join(p.name for p in required)
            raise TargetError(f"{spec}: the factory must take no arguments (it needs {names})")
        result = obj()
    else:
        raise TargetError(f"{spec}: {name} is a {type(obj).__name__}, not a factory function")
    return bundle_from(result, spec, factory, module)


def _parameters(obj: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return []


def _find_lightning_class(module: ModuleType) -> Any:
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and is_lightning_module(value)
    ]
    return found[0] if len(found) == 1 else None


def _fields(result: Any) -> dict[str, Any] | None:
    if isinstance(result, dict):
        return dict(result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return dict(result._asdict())
    return None


def bundle_from(result: Any, spec: str, factory: Any, module: ModuleType) -> Bundle:
    """Check the factory's result and turn it into a Bundle."""
    if is_lightning_module(result):
        result = {"model": result}
    fields = _fields(result)
    if fields is None:
        raise TargetError(
            f"{spec} returned a {type(result).__name__}; return a dict (or namedtuple or "
            "dataclass) with keys model, loss, data and optionally optimizer"
        )
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise TargetError(f"{spec} returned unknown keys {unknown}; known keys: {list(FIELDS)}")
    model = fields.get("model")
    if model is None:
        raise TargetError(f"{spec} returned no `model`")
    if not callable(getattr(model, "parameters", None)):
        raise TargetError(f"{spec}: `model` is a {type(model).__name__}, not a torch nn.Module")
    lightning = is_lightning_module(model)
    data = fields.get("data")
    optimizer = fields.get("optimizer")
    if lightning:
        data = _lightning_data(model, data, module)
        if optimizer is None:
            optimizer = _lightning_optimizer(model.configure_optimizers())
    loss = fields.get("loss")
    if loss is None and not lightning:
        raise TargetError(f"{spec} returned no `loss` (a loss module or function)")
    if loss is not None and not callable(loss):
        raise TargetError(f"{spec}: `loss` is a {type(loss).__name__}, not callable")
    if data is None:
        raise TargetError(f"{spec} returned no `data` (a DataLoader or an iterable of batches)")
    if _is_datamodule(data):
        data = _from_datamodule(data)
    if not isinstance(data, Iterable):
        raise TargetError(f"{spec}: `data` is a {type(data).__name__}, not iterable")
    if optimizer is not None and not hasattr(optimizer, "param_groups"):
        raise TargetError(f"{spec}: `optimizer` is a {type(optimizer).__name__}, not an optimizer")
    unpack = fields.get("unpack")
    if unpack is not None and not callable(unpack):
        raise TargetError(f"{spec}: `unpack` must be a function from a batch to (inputs, targets)")
    return Bundle(
        model=model,
        loss=loss,
        data=data,
        optimizer=optimizer,
        unpack=unpack,
        lightning=lightning,
        amp=bool(fields.get("amp", False)),
        dtype=fields.get("dtype"),
        factory=factory,
    )


def _from_datamodule(datamodule: Any) -> Any:
    if callable(getattr(datamodule, "prepare_data", None)):
        datamodule.prepare_data()
    if callable(getattr(datamodule, "setup", None)):
        datamodule.setup("fit")
    return datamodule.train_dataloader()


def _lightning_data(model: Any, data: Any, module: ModuleType) -> Any:
    if data is not None:
        return data
    try:
        return model.train_dataloader()
    except Exception:
        pass
    modules = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__ and _is_datamodule(value)
    ]
    if len(modules) == 1:
        return modules[0]()
    raise TargetError(
        "the LightningModule has no train_dataloader and its module defines no single "
        "LightningDataModule; return {'model': module, 'data': datamodule} from a factory"
    )


def _lightning_optimizer(configured: Any) -> Any:
    """The first optimizer from any of `configure_optimizers`' return shapes."""
    if configured is None:
        return None
    if hasattr(configured, "param_groups"):
        return configured
    if isinstance(configured, dict):
        return _lightning_optimizer(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)) and configured:
        return _lightning_optimizer(configured[0])
    return None
