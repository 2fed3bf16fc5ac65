"""Questions about the settings a training config makes, shared by the config rules and
by the code rules that also look at configs (NN202, NN203, NN301)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from nnlint import tables
from nnlint.configs import keys
from nnlint.configs.file import ConfigFile
from nnlint.configs.tree import Node
from nnlint.facts.names import name_tokens

_CLASS_KEYS = ("_target_", "class_path", "name", "type", "optimizer", "optim", "opt")
_VAL_TOKENS = frozenset({"val", "valid", "validation", "dev", "eval", "evaluation"})
_WORD = re.compile(r"[a-z0-9]+")


def class_name(node: Node | None) -> str | None:
    """`torch.optim.AdamW` or `adamw_torch` -> `adamw`: the lower-cased class named by a
    string, or by a mapping's `class_path` / `_target_` / `name` / `type`."""
    if node is None:
        return None
    if node.kind == "map":
        for key in ("class_path", "_target_", "name", "type"):
            found = class_name(node.get(key))
            if found:
                return found
        return None
    text = node.text
    if not text or node.is_interpolation:
        return None
    return text.rsplit(".", 1)[-1].lower()


def optimizer_family(name: str | None) -> str | None:
    """The `LR_RANGES` family of an optimizer name (`adamw_torch_fused` -> `adamw`)."""
    if not name:
        return None
    name = name.lower().replace("-", "_")
    for family in sorted(tables.LR_RANGES, key=len, reverse=True):
        if name == family or name.startswith(family + "_") or name.startswith(family):
            return family
    return None


def optimizer_of(config: ConfigFile, node: Node) -> tuple[str | None, Node | None]:
    """The optimizer a hyper-parameter node belongs to: named next to it (`_target_`,
    `class_path`, `name`, `optimizer`), by the `class_path` above its `init_args`, by a
    top-level `optimizer:`, or Hugging Face's `optim` (AdamW by default)."""
    parents = _parents(config, node)
    for parent in parents[:2]:
        for key in _CLASS_KEYS:
            found = parent.get(key)
            if found is not None and found is not node:
                name = class_name(found)
                if name:
                    return name, found
    if config.hf_arguments is not None and parents and parents[0] is config.hf_arguments:
        optim = config.hf_arguments.get("optim")
        return (class_name(optim) if optim is not None else "adamw"), optim
    root = config.lightning or config.root
    for key in ("optimizer", "optim", "optimiser"):
        found = root.get(key) if root is not None else None
        name = class_name(found)
        if name:
            return name, found
    return None, None


def _parents(config: ConfigFile, node: Node) -> list[Node]:
    """The mappings above a node, nearest first."""
    parents = []
    current = config.root
    for part in node.path[:-1]:
        if current is None:
            break
        current = (
            current.children.get(part)
            if current.kind == "map"
            else (current.items[part] if isinstance(part, int) else None)
        )
        if current is not None and current.kind == "map":
            parents.append(current)
    root = [config.root] if config.root is not None else []
    return [*reversed(parents), *root]


def under_scheduler(node: Node) -> bool:
    return any(isinstance(p, str) and "scheduler" in p.lower() for p in node.path)


def mentions_early_stopping(config: ConfigFile) -> bool:
    return config.mentions(keys.EARLY_STOPPING_WORDS)


def has_step_limit(config: ConfigFile) -> bool:
    return any(
        n.key in keys.STEP_LIMITS and ((n.number or 0) > 0 or (n.text and not n.number))
        for n in config.nodes()
    )


def sets_up_training(config: ConfigFile) -> bool:
    """A config that runs training itself (epochs or steps, and an optimizer or a learning
    rate), rather than a fragment composed into one (a Hydra group file)."""
    if config.hydra_defaults is not None:
        return False
    names = {n.key for n in config.nodes()}
    runs = bool(names & (keys.EPOCHS | keys.STEP_LIMITS)) or bool(config.trainers)
    tuned = bool(names & (keys.LEARNING_RATE | keys.OPTIMIZER))
    return runs and tuned


def split_role(key: str) -> str | None:
    """'val' or 'test' when a key names a split's data (`val_path`, `test_file`)."""
    tokens = set(name_tokens(key))
    if tokens & {"train", "training"}:
        return None
    if tokens & {"test", "testing"}:
        return "test"
    if tokens & _VAL_TOKENS:
        return "val"
    return None


def names_test_split(text: str) -> bool:
    """`test`, `data/test.csv`, `splits/test_set.jsonl`: the value names the test split."""
    last = text.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    stem = last.rsplit(".", 1)[0] if "." in last else last
    return bool({"test", "testing"} & set(_WORD.findall(stem.replace("_", " "))))


def lightning_unstopped(trainer: Node, many: int) -> Node | None:
    """The node to report when a Lightning Trainer runs many epochs with a callbacks list
    that holds neither EarlyStopping nor a monitored ModelCheckpoint."""
    callbacks = trainer.get("callbacks")
    if callbacks is None or callbacks.kind != "seq":
        return None
    limit = trainer.get("limit_val_batches")
    if limit is not None and limit.number == 0:
        return None
    epochs = trainer.get("max_epochs")
    if epochs is None:
        if trainer.get("max_steps") is not None or trainer.get("max_time") is not None:
            return None
        count: float | None = tables.LIGHTNING_DEFAULT_MAX_EPOCHS
    else:
        count = epochs.number
    if count is None or (0 <= count < many):
        return None
    for item in callbacks.items:
        name = class_name(item) or ""
        if "earlystopping" in name:
            return None
        if "checkpoint" in name and any(n.key == "monitor" and n.text for n in item.walk()):
            return None
    return epochs or callbacks


def hf_unstopped(config: ConfigFile, many: int) -> Node | None:
    """The node to report when `TrainingArguments` evaluate during many epochs but neither
    load the best model at the end nor stop early."""
    args = config.hf_arguments
    if args is None or args.get("max_steps") is not None:
        return None
    epochs = args.get("num_train_epochs")
    count = epochs.number if epochs is not None else tables.HF_DEFAULT_EPOCHS
    strategy = args.get("eval_strategy") or args.get("evaluation_strategy")
    if count is None or count < many or strategy is None or strategy.text not in {"steps", "epoch"}:
        return None
    best = args.get("load_best_model_at_end")
    if (best is not None and best.value is True) or config.mentions(("early_stop", "patience")):
        return None
    return epochs or strategy


def unstopped(config: ConfigFile, many: int) -> Iterator[tuple[Node, str]]:
    """Where a config runs long with validation but nothing stops it (NN301), and why."""
    for trainer in config.trainers:
        found = lightning_unstopped(trainer, many)
        if found is not None:
            epochs = found.number if found.key == "max_epochs" else None
            limit = (
                "no epoch limit"
                if epochs == -1
                else f"up to {int(epochs or tables.LIGHTNING_DEFAULT_MAX_EPOCHS)} epochs"
            )
            yield (
                found,
                f"the Trainer runs {limit} but its callbacks hold no EarlyStopping "
                "or monitored ModelCheckpoint",
            )
    found = hf_unstopped(config, many)
    if found is not None:
        epochs = found.number if found.key == "num_train_epochs" else tables.HF_DEFAULT_EPOCHS
        yield (
            found,
            f"{int(epochs or 0)} epochs evaluated but neither load_best_model_at_end "
            "nor early stopping",
        )
