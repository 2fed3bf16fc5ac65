"""A cheap text test run before parsing: files that import no ML framework are skipped."""

from __future__ import annotations

import re

ML_FRAMEWORKS = (
    "torch",
    "tensorflow",
    "keras",
    "tf_keras",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "sklearn",
    "optuna",
    "trl",
    "jax",
    "flax",
    "torchvision",
)
_ML_IMPORT = re.compile(
    rf"^[ \t]*(?:from|import)[ \t]+(?:{'|'.join(ML_FRAMEWORKS)})\b", re.MULTILINE
)


def imports_ml_framework(text: str) -> bool:
    """True when the text has an import line for a deep-learning or ML framework."""
    return _ML_IMPORT.search(text) is not None
