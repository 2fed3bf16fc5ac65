"""Training configs (YAML/JSON): safe parsing with positions, recognition by content,
schemas, and the join with the code that reads them."""

from nnlint.configs.file import CONFIG_SUFFIXES, ConfigFile, config_key, is_config_path

__all__ = ["CONFIG_SUFFIXES", "ConfigFile", "config_key", "is_config_path"]
