"""What a check reports: its findings (before they have a file and line) and figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Found:
    """A finding before it has a file and line: `anchor` says where it belongs ("model",
    "factory", "data", or "module:<qualified name>")."""

    code: str
    message: str
    help: str
    anchor: str = "model"


@dataclass
class CheckResult:
    name: str
    status: str  # done, partial (ran out of time), skipped
    seconds: float = 0.0
    findings: list[Found] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: float) -> str:
    return f"{value:.3g}"
