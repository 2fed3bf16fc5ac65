"""The facts pass: a small model of the training program, extracted once per module."""

from nnlint.facts.module import ModuleFacts, extract

__all__ = ["ModuleFacts", "extract"]
