"""No side effects from a probed script: its writes are skipped and reported, its loggers
and trackers are switched off, network libraries are told to stay offline, and connections
beyond this machine are refused (a download fails, and is reported, instead of writing).

Intercepted: `torch.save`; Lightning's `Trainer.save_checkpoint` (every checkpoint callback
goes through it) and its loggers (`logger=False`); Hugging Face's `save_pretrained` (models
and configs), `Trainer.save_model` / `_save_checkpoint`, the output folder its `Trainer`
creates, and its `report_to` integrations. Libraries imported later are patched as they are
imported. When the run ends, each skipped kind of write is reported once per line of the
script with an event `{"event": "skipped", "write": ...}` (with a count when repeated).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import ipaddress
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import torch

from nnlint.probe.target import display, user_frames

OFFLINE = {  # the offline switches of trackers and hubs (environment variables)
    "WANDB_MODE": "disabled",
    "WANDB_DISABLED": "true",
    "COMET_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",
    "NEPTUNE_MODE": "offline",
}


class Guards:
    """The patches of one probe run; `undo` puts every one back."""

    def __init__(self, emit: Callable[[dict], None]) -> None:
        self.emit = emit
        self.undo: list[Callable[[], None]] = []
        self.writes: dict[tuple[str, str], list[str]] = {}  # (line, call) -> writes

    def skipped(self, what: str) -> None:
        frames = user_frames(traceback.extract_stack()[:-2])
        where = f"{display(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""
        self.writes.setdefault((where, what.split("(", maxsplit=1)[0]), []).append(where + what)

    def report(self) -> None:
        for writes in self.writes.values():
            more = f" (and {len(writes) - 1} more like it)" if len(writes) > 1 else ""
            self.emit({"event": "skipped", "write": writes[0] + more})

    def replace(self, owner: Any, name: str, value: Any) -> None:
        original = owner.__dict__[name] if name in getattr(owner, "__dict__", {}) else None
        setattr(owner, name, value)
        if original is None:
            self.undo.append(lambda: delattr(owner, name))
        else:
            self.undo.append(lambda: setattr(owner, name, original))

    # -- torch ------------------------------------------------------------------------------

    def torch(self) -> None:
        def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            self.skipped(f"torch.save(..., {_name(f)!r})")

        self.replace(torch, "save", save)

    def network(self) -> None:
        original = socket.socket.connect

        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
                raise ConnectionRefusedError(
                    111, f"nnlint --probe runs offline: no connection to {address[0]}"
                )
            return original(sock, address)

        self.replace(socket.socket, "connect", connect)

    # -- Lightning --------------------------------------------------------------------------

    def lightning(self, module: ModuleType) -> None:
        trainer = getattr(module, "Trainer", None)
        if trainer is None or "save_checkpoint" not in vars(trainer):
            return
        original_init = trainer.__init__
        guards = self

        def save_checkpoint(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> None:
            guards.skipped(f"Trainer.save_checkpoint({_name(filepath)!r})")

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("logger", True) is not False:
                guards.skipped("the Lightning logger (the probe runs with logger=False)")
            kwargs["logger"] = False
            original_init(self, *args, **kwargs)

        self.replace(trainer, "save_checkpoint", save_checkpoint)
        self.replace(trainer, "__init__", init)

    # -- Hugging Face -----------------------------------------------------------------------

    def pretrained(self, module: ModuleType) -> None:
        """`save_pretrained` of models (modeling_utils) and configs (configuration_utils)."""
        for cls_name in ("PreTrainedModel", "PretrainedConfig", "PreTrainedConfig"):
            cls = getattr(module, cls_name, None)
            if cls is not None and "save_pretrained" in vars(cls):
                self.replace(cls, "save_pretrained", self._save_pretrained)

    def _save_pretrained(self, obj: Any, save_directory: Any = "", *args: Any, **kw: Any) -> None:
        self.skipped(f"{type(obj).__name__}.save_pretrained({_name(save_directory)!r})")

    def hf_trainer(self, module: ModuleType) -> None:
        trainer = getattr(module, "Trainer", None)
        if trainer is None:
            return
        guards = self
        original_init = trainer.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            arguments = kwargs.get("args", args[1] if len(args) > 1 else None)
            if arguments is not None and getattr(arguments, "report_to", None):
                guards.skipped(f"reporting to {arguments.report_to} (report_to disabled)")
                arguments.report_to = []
            original_init(self, *args, **kwargs)

        def save_model(self: Any, output_dir: Any = None, *args: Any, **kwargs: Any) -> None:
            guards.skipped(f"Trainer.save_model({_name(output_dir or self.args.output_dir)!r})")

        def save_checkpoint(self: Any, *args: Any, **kwargs: Any) -> None:
            guards.skipped(f"a Trainer checkpoint in {_name(self.args.output_dir)!r}")

        self.replace(trainer, "__init__", init)
        self.replace(trainer, "save_model", save_model)
        self.replace(trainer, "_save_checkpoint", save_checkpoint)
        self.replace(module, "os", _NoFolders(self))  # Trainer.__init__ creates output_dir


class _NoFolders:
    """`os` for the Hugging Face trainer module: `makedirs` is skipped and reported."""

    def __init__(self, guards: Guards) -> None:
        self._guards = guards

    def makedirs(self, name: Any, *args: Any, **kwargs: Any) -> None:
        if not os.path.isdir(name):
            self._guards.skipped(f"os.makedirs({_name(name)!r})")

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


PATCHES: dict[str, str] = {  # module -> the Guards method that patches it once imported
    "lightning.pytorch.trainer.trainer": "lightning",
    "pytorch_lightning.trainer.trainer": "lightning",
    "transformers.modeling_utils": "pretrained",
    "transformers.configuration_utils": "pretrained",
    "transformers.trainer": "hf_trainer",
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches a module of `PATCHES` right after it is imported."""

    def __init__(self, guards: Guards) -> None:
        self.guards = guards

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, self.guards, PATCHES[name])
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, guards: Guards, method: str) -> None:
        self.loader = loader
        self.guards = guards
        self.method = method

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        getattr(self.guards, self.method)(module)


@contextlib.contextmanager
def installed(emit: Callable[[dict], None]) -> Iterator[Guards]:
    """Every guard, for the duration of the script's run."""
    guards = Guards(emit)
    saved_env = {key: os.environ.get(key) for key in OFFLINE}
    os.environ.update(OFFLINE)
    guards.torch()
    guards.network()
    for name, method in PATCHES.items():
        if name in sys.modules:
            getattr(guards, method)(sys.modules[name])
    finder = _AfterImport(guards)
    sys.meta_path.insert(0, finder)
    try:
        yield guards
    finally:
        guards.report()
        sys.meta_path.remove(finder)
        for undo in reversed(guards.undo):
            undo()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _local(address: Any) -> bool:
    """A loopback address (as for a local process group), or one that is not an IP."""
    try:
        return ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
    except ValueError:
        return str(address[0]) == "localhost"


DOWNLOAD_ERRORS = {  # by name: the network errors of requests, urllib3 and huggingface_hub
    "ConnectionError",
    "ConnectTimeout",
    "MaxRetryError",
    "NewConnectionError",
    "OfflineModeIsEnabled",
    "LocalEntryNotFoundError",
}


def failed_download(error: BaseException) -> BaseException | None:
    """The network error behind `error` (its cause or context included), or None."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, socket.gaierror, TimeoutError)) or any(
            cls.__name__ in DOWNLOAD_ERRORS or cls.__name__ == "URLError"
            for cls in type(seen).__mro__
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _name(f: Any) -> str:
    """A file written to, relative to where nnlint started; an open file by its type."""
    if isinstance(f, (str, os.PathLike)):
        return display(os.path.abspath(os.fspath(f)))
    return type(f).__name__
