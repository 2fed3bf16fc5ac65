"""The code <-> config join: which config file a value in the code comes from, and where.

Code loads a config (`yaml.safe_load(open("train.yaml"))`, `json.load(f)`,
`OmegaConf.load(path)`, `@hydra.main(config_path=..., config_name=...)`) and passes its
values on (`DataLoader(ds, shuffle=cfg.shuffle)`, `Adam(params, lr=cfg["lr"])`). Given
such an argument, `config_value` names the config node it reads, so code rules can judge
the value and report it at the config's own line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.configs.file import MAX_CONFIG_BYTES, ConfigFile, read_config
from nnlint.configs.tree import Node
from nnlint.facts.scope import Binding, Scope
from nnlint.facts.values import keyword, position

if TYPE_CHECKING:
    from nnlint.facts import ModuleFacts
    from nnlint.project import Project

_MAX_DEPTH = 8
_READERS = frozenset(
    {
        "yaml.safe_load",
        "yaml.load",
        "yaml.full_load",
        "yaml.unsafe_load",
        "json.load",
        "json.loads",
        "omegaconf.OmegaConf.load",
        "omegaconf.omegaconf.OmegaConf.load",
    }
)
_HYDRA_MAIN = frozenset({"hydra.main"})
_OPENERS = frozenset({"open", "io.open", "builtins.open"})
_PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PurePath"})


@dataclass(frozen=True)
class ConfigValue:
    """A config node that a code expression reads."""

    config: ConfigFile
    node: Node


def config_value(
    project: Project, module: ModuleFacts, expr: ast.expr | None, scope: Scope
) -> ConfigValue | None:
    """The config node `expr` reads (`cfg.train.lr`, `cfg["lr"]`, `cfg.get("lr")`), when
    the config is a file of this run; None when it cannot be told."""
    if expr is None:
        return None
    found = _source(module, expr, scope, [], 0)
    if found is None:
        return None
    path, keys = found
    return _lookup(project, module, path, keys)


def _source(
    module: ModuleFacts, expr: ast.expr, scope: Scope, keys: list[str], depth: int
) -> tuple[Path, list[str]] | None:
    """The config file and the key path an expression reads."""
    if depth > _MAX_DEPTH:
        return None
    while True:
        if isinstance(expr, ast.Attribute):
            keys = [expr.attr, *keys]
            expr = expr.value
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
            if not isinstance(expr.slice.value, str):
                return None
            keys = [expr.slice.value, *keys]
            expr = expr.value
        elif (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "get"
            and expr.args
            and isinstance(expr.args[0], ast.Constant)
            and isinstance(expr.args[0].value, str)
        ):
            keys = [expr.args[0].value, *keys]
            expr = expr.func.value
        else:
            break
    if isinstance(expr, ast.Call):
        path = _read_call(module, expr, scope)
        return (path, keys) if path is not None else None
    if not isinstance(expr, ast.Name):
        return None
    hydra = _hydra_parameter(module, expr.id, scope)
    if hydra is not None:
        return hydra, keys
    for origin in module.resolver.origins(expr, scope):
        if origin.expr is not expr and origin.index is None:
            found = _source(module, origin.expr, origin.scope, keys, depth + 1)
            if found is not None:
                return found
    return None


def _read_call(module: ModuleFacts, call: ast.Call, scope: Scope) -> Path | None:
    """The file a config-reading call loads (`yaml.safe_load(open(p))`, `OmegaConf.load(p)`,
    `json.loads(Path(p).read_text())`)."""
    if module.resolver.call_name(call, scope) not in _READERS or not call.args:
        return None
    return _file_of(module, call.args[0], scope, 0)


def _file_of(module: ModuleFacts, expr: ast.expr, scope: Scope, depth: int) -> Path | None:
    """The path a file object or a text comes from."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, ast.Name):
        binding = _binding(expr.id, scope, position(expr))
        if binding is not None and binding.kind in {"with", "assign"} and binding.value:
            return _file_of(module, binding.value, scope, depth + 1)
        return _path_of(module, expr, scope)
    if not isinstance(expr, ast.Call):
        return _path_of(module, expr, scope)
    name = module.resolver.call_name(expr, scope)
    if isinstance(expr.func, ast.Name) and expr.func.id == "open":
        name = "open"
    if name in _OPENERS and expr.args:
        return _path_of(module, expr.args[0], scope)
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr in {"read", "read_text", "open"}:
        inner = func.value
        if func.attr == "read":
            return _file_of(module, inner, scope, depth + 1)
        return _path_of(module, inner, scope)
    return None


def _path_of(module: ModuleFacts, expr: ast.expr, scope: Scope) -> Path | None:
    """A path written as a constant, `Path(constant)`, `here / "name"`, or
    `os.path.join(here, "name")`, resolved against the code's folder."""
    here = Path(module.source.path).parent
    parts = _path_parts(module, expr, scope, here, 0)
    if parts is None:
        return None
    base, relative = parts
    if base is not None:
        return base / relative
    for folder in (here, Path.cwd(), *list(here.parents)[:3]):
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None


def _path_parts(
    module: ModuleFacts, expr: ast.expr, scope: Scope, here: Path, depth: int
) -> tuple[Path | None, str] | None:
    """(an anchored folder or None, the path below it)."""
    if depth > _MAX_DEPTH:
        return None
    value = module.resolver.constant(expr, scope)
    if isinstance(value, str):
        return None, value
    if isinstance(expr, ast.Name):
        for origin in module.resolver.origins(expr, scope):
            if origin.expr is not expr:
                return _path_parts(module, origin.expr, origin.scope, here, depth + 1)
        return None
    if _is_file_folder(expr):
        return here, "."
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        left = _path_parts(module, expr.left, scope, here, depth + 1)
        right = module.resolver.constant(expr.right, scope)
        if left is None or not isinstance(right, str):
            return None
        return left[0], f"{left[1]}/{right}"
    if isinstance(expr, ast.Call):
        name = module.resolver.call_name(expr, scope)
        if name in _PATH_CLASSES and len(expr.args) == 1:
            return _path_parts(module, expr.args[0], scope, here, depth + 1)
        if name == "os.path.join" and expr.args:
            first = _path_parts(module, expr.args[0], scope, here, depth + 1)
            rest = [module.resolver.constant(a, scope) for a in expr.args[1:]]
            if first is None or not all(isinstance(r, str) for r in rest):
                return None
            return first[0], "/".join([first[1], *rest])
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in {"resolve", "absolute"}:
            return _path_parts(module, expr.func.value, scope, here, depth + 1)
    return None


def _is_file_folder(expr: ast.expr) -> bool:
    """`Path(__file__).parent`, `Path(__file__).resolve().parent`, `os.path.dirname(__file__)`."""
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(expr.value))
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "dirname"
        and expr.args
    ):
        return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(expr.args[0]))
    return False


def _binding(name: str, scope: Scope, pos: tuple[int, int]) -> Binding | None:
    current: Scope | None = scope
    while current is not None:
        bindings = current.bindings.get(name)
        if bindings:
            before = [b for b in bindings if b.pos <= pos] if current is scope else []
            return (before or bindings)[-1]
        current = current.parent
    return None


def _hydra_parameter(module: ModuleFacts, name: str, scope: Scope) -> Path | None:
    """The primary config of a `@hydra.main` function whose first parameter is `name`."""
    current: Scope | None = scope
    while current is not None:
        node = current.node
        if isinstance(node, ast.FunctionDef) and current.params[:1] == [name]:
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and module.resolver.call_name(deco, module.resolver.module_scope) in _HYDRA_MAIN
                ):
                    return _hydra_config(module, deco)
            return None
        if name in current.bindings:
            return None
        current = current.parent
    return None


def _hydra_config(module: ModuleFacts, deco: ast.Call) -> Path | None:
    scope = module.resolver.module_scope
    folder = module.resolver.constant(keyword(deco, "config_path"), scope)
    name = module.resolver.constant(keyword(deco, "config_name"), scope)
    if not isinstance(folder, str) or not isinstance(name, str):
        return None
    here = Path(module.source.path).parent
    file = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    return here / folder / file


def _lookup(
    project: Project, module: ModuleFacts, path: Path, keys: list[str]
) -> ConfigValue | None:
    """The node at `keys` in the config at `path`, following a Hydra defaults list into
    its config groups (`- optimizer: adam` -> `optimizer/adam.yaml`)."""
    config = project.config_file(path, module)
    if config is None:
        _ask_for_group(project, module, path, keys)
        return None
    if config.root is None:
        return None
    node: Node | None = config.root
    for index, key in enumerate(keys):
        child = node.get(key) if node is not None else None
        if child is None and node is config.root:
            group = _group_file(config, key)
            if group is not None:
                return _lookup(project, module, group, keys[index + 1 :])
        node = child
        if node is None:
            return None
    if node is None or node is config.root:
        return None
    return ConfigValue(config, node)


def _ask_for_group(project: Project, module: ModuleFacts, path: Path, keys: list[str]) -> None:
    """Before the primary config is part of the analysis, read its defaults list from disk
    so the config group file a key lives in is asked for as well."""
    if not keys or not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
        return
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return
    config = read_config(path, str(path), text)
    if config.root is not None and config.root.get(keys[0]) is None:
        group = _group_file(config, keys[0])
        if group is not None:
            project.config_file(group, module)


def _group_file(config: ConfigFile, group: str) -> Path | None:
    defaults = config.hydra_defaults
    if defaults is None:
        return None
    for item in defaults.items:
        option = item.get(group) if item.kind == "map" else None
        if option is not None and option.text:
            return config.path.parent / group / f"{option.text}.yaml"
    return None
