"""Import aliases and canonical qualified names.

`import torch.nn as nn` makes `nn.Linear` mean `torch.nn.Linear`; `tf.keras.layers.Dense`,
`tensorflow.keras.layers.Dense` and Keras 3's `keras.layers.Dense` all become
`keras.layers.Dense`, so rules match one spelling.
"""

from __future__ import annotations

import ast

from nnlint import tables

# Longest prefix first: the first match wins.
_CANONICAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tensorflow.python.keras", "keras"),
    ("tensorflow.keras", "keras"),
    ("tensorflow.optimizers", "keras.optimizers"),  # TF 2's alias of tf.keras.optimizers
    ("tf_keras", "keras"),
    ("keras.src", "keras"),
    ("keras.api", "keras"),
    ("pytorch_lightning", "lightning.pytorch"),
    ("lightning.pytorch", "lightning.pytorch"),
    ("lightning.fabric", "lightning.fabric"),
    ("lightning", "lightning.pytorch"),
)


def canonical(name: str) -> str:
    """Return the one spelling rules match for a fully-qualified name."""
    for prefix, replacement in _CANONICAL_PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return replacement + name[len(prefix) :]
    return name


def add_import(table: dict[str, str], node: ast.Import | ast.ImportFrom, module_name: str) -> None:
    """Record the local names an import statement binds, with their qualified names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                table[alias.asname] = canonical(alias.name)
            else:
                top = alias.name.partition(".")[0]
                table[top] = canonical(top)
        return
    base = node.module or ""
    if node.level:
        parts = module_name.split(".")[:-1]
        keep = len(parts) - (node.level - 1)
        prefix = ".".join(parts[: max(keep, 0)])
        base = f"{prefix}.{base}".strip(".") if base else prefix
    for alias in node.names:
        if alias.name != "*":
            full = f"{base}.{alias.name}" if base else alias.name
            table[alias.asname or alias.name] = canonical(full)
            continue
        module = canonical(base)
        for name in tables.STAR_EXPORTS.get(module, ()):
            table.setdefault(name, f"{module}.{name}")


def dotted(expr: ast.expr) -> str | None:
    """`a.b.c` as a string, or None when the expression is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def name_tokens(name: str) -> list[str]:
    """Split an identifier into lower-case words: `trainLoader2` -> ['train', 'loader']."""
    words: list[str] = []
    current = ""
    for ch in name:
        if ch == "_" or ch.isdigit():
            if current:
                words.append(current)
            current = ""
        elif ch.isupper() and current and not current[-1].isupper():
            words.append(current)
            current = ch
        else:
            current += ch
    if current:
        words.append(current)
    return [w.lower() for w in words]


def iterated(expr: ast.expr) -> ast.expr:
    """The data `expr` iterates (or, through `next(iter(...))`, takes a batch of), through
    `tqdm(...)`, `enumerate(...)`, `iter(...)`."""
    while isinstance(expr, ast.Call) and expr.args:
        if (dotted(expr.func) or "").rpartition(".")[2] not in tables.LOADER_WRAPPERS:
            break
        expr = expr.args[0]
    return expr


def root_name(expr: ast.expr) -> str | None:
    """The variable an expression reads its data from: `df` for `df.iloc[:, :8].values`."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            expr = expr.func.value
        else:
            return None
