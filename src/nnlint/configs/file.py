"""One config file: its documents, whether it is a training config, and its family."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from nnlint.configs import keys
from nnlint.configs.load import ConfigSyntaxError, load
from nnlint.configs.tree import Node

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# Folder files larger than this are data, not configs, and are not read.
MAX_CONFIG_BYTES = 1024 * 1024
_SIGNAL_TEXT = re.compile(
    r"""["']?\b("""
    + "|".join(sorted(keys.TRAINING_SIGNALS, key=len, reverse=True))
    + r""")\b["']?\s*:""",
    re.IGNORECASE,
)
_LIGHTNING_TOP = frozenset(
    {
        "trainer",
        "model",
        "data",
        "optimizer",
        "lr_scheduler",
        "seed_everything",
        "ckpt_path",
        "config",
        "print_config",
    }
)
_LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")
# Hydra `_target_` / Lightning `class_path` prefixes that make a file part of a training setup.
_TRAINING_TARGETS = ("torch.optim.", "lightning.", "pytorch_lightning.", "transformers.")
_TARGET_TEXT = re.compile(
    r"""\b(?:_target_|class_path)["']?\s*:\s*["']?(?:"""
    + "|".join(re.escape(t) for t in _TRAINING_TARGETS)
    + ")"
)
_HF_SIGNALS = frozenset(
    {
        "output_dir",
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "num_train_epochs",
        "eval_strategy",
        "evaluation_strategy",
        "save_strategy",
        "logging_steps",
        "gradient_accumulation_steps",
        "load_best_model_at_end",
        "metric_for_best_model",
        "warmup_ratio",
        "lr_scheduler_type",
        "max_grad_norm",
        "label_smoothing_factor",
    }
)


def is_config_path(path: Path) -> bool:
    return path.suffix.lower() in CONFIG_SUFFIXES


def config_key(path: Path) -> str:
    """The name a config file is known by in a run (as a module name is for Python): code
    that reads it asks for this name, so the two are analysed together."""
    return f"config:{path.resolve().as_posix()}"


def unrelated_by_name(path: Path) -> bool:
    """Files whose name or folder says they configure something else (CI, packaging...)."""
    name = path.name.lower()
    return (
        name in keys.UNRELATED_NAMES
        or name.startswith(keys.UNRELATED_PREFIXES)
        or any(part in keys.UNRELATED_FOLDERS for part in path.parts[:-1])
    )


def looks_like_training_text(text: str) -> bool:
    """A cheap test before parsing: two different training keys (`lr:`, `"epochs":`), or
    a Hydra/Lightning class path into a training library."""
    if _TARGET_TEXT.search(text):
        return True
    found = set()
    for match in _SIGNAL_TEXT.finditer(text):
        found.add(match.group(1).lower())
        if len(found) >= 2:
            return True
    return False


@dataclass(eq=False)
class ConfigFile:
    """A YAML or JSON file of a run, parsed, with what nnlint knows about it.

    `training` is True for a training config (recognised by content, or named by
    `config-files`); rules on configs look only at those. `forced` marks files named by
    `config-files`, whose parse errors are always reported.
    """

    path: Path
    display: str
    text: str
    docs: list[Node] = field(default_factory=list)
    error: ConfigSyntaxError | None = None
    forced: bool = False
    training: bool = False
    user_schemas: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return config_key(self.path)

    @cached_property
    def root(self) -> Node | None:
        """The first document, when it is a mapping (a training config always is)."""
        return self.docs[0] if self.docs and self.docs[0].kind == "map" else None

    @cached_property
    def lightning(self) -> Node | None:
        """The Lightning CLI config (`trainer:`, `model:`, `data:` ... or under `fit:`)."""
        root = self.root
        if root is None:
            return None
        for candidate in (root, *(root.get(s) for s in _LIGHTNING_SUBCOMMANDS)):
            if (
                candidate is not None
                and candidate.kind == "map"
                and isinstance(candidate.get("trainer"), Node)
                and candidate.children["trainer"].kind == "map"
                and set(candidate.children) <= _LIGHTNING_TOP
            ):
                return candidate
        return None

    @cached_property
    def hf_arguments(self) -> Node | None:
        """The mapping that holds Hugging Face `TrainingArguments`, at the top or one
        level down (`training_args:`)."""
        root = self.root
        if root is None or self.lightning is not None:
            return None
        for candidate in (root, *root.children.values()):
            if candidate.kind == "map" and len(_HF_SIGNALS & set(candidate.children)) >= 3:
                return candidate
        return None

    @cached_property
    def trainers(self) -> list[Node]:
        """Lightning `Trainer` settings: the CLI's `trainer:` section, or a Hydra node whose
        `_target_` is a Lightning Trainer (the whole file in `trainer/default.yaml`)."""
        found = []
        if self.lightning is not None:
            found.append(self.lightning.children["trainer"])
        if self.root is not None:
            for node in self.root.walk():
                target = node.get("_target_") if node.kind == "map" else None
                name = target.text if target is not None else None
                if name and name.endswith("Trainer") and "lightning" in name:
                    found.append(node)
        return found

    @cached_property
    def hydra_defaults(self) -> Node | None:
        root = self.root
        node = root.get("defaults") if root is not None else None
        return node if node is not None and node.kind == "seq" else None

    def nodes(self) -> list[Node]:
        """Every node of the first document, in document order."""
        return list(self.root.walk()) if self.root is not None else []

    def keyed(self, names: frozenset[str]) -> list[Node]:
        """Nodes whose key is one of `names` (lower-cased)."""
        return [n for n in self.nodes() if n.key in names]

    def mentions(self, words: tuple[str, ...]) -> bool:
        """True when a key, or a string value (a callback's class path), contains one of
        `words`, ignoring case."""
        for node in self.nodes():
            text = (node.text or "").lower()
            if any(w in node.key or w in text for w in words):
                return True
        return False


def read_config(path: Path, display: str, text: str, forced: bool = False) -> ConfigFile:
    """Parse a config and decide whether it is a training config."""
    config = ConfigFile(path, display, text, forced=forced)
    try:
        config.docs = load(text, path.suffix.lower())
    except ConfigSyntaxError as error:
        config.error = error
        config.training = forced or (not unrelated_by_name(path) and looks_like_training_text(text))
        return config
    config.training = forced or (not unrelated_by_name(path) and _training_content(config))
    return config


def _training_content(config: ConfigFile) -> bool:
    root = config.root
    if root is None:
        return False
    top = set(root.children)
    if any(shape <= top for shape in keys.UNRELATED_SHAPES):
        return False
    if "properties" in top and "type" in top:  # a JSON Schema without `$schema`
        return False
    if config.lightning is not None or config.hf_arguments is not None or config.trainers:
        return True
    signals = set()
    for node in root.walk():
        if node.key in keys.TRAINING_SIGNALS and len(node.path) <= 5:
            signals.add(node.key)
        elif node.key in {"_target_", "class_path"} and (node.text or "").startswith(
            _TRAINING_TARGETS
        ):
            return True
    return len(signals) >= 2
