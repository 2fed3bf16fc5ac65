"""No input ends the run: each odd file is a finding or a note, and the other files'
findings are still reported."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

import pytest

from nnlint.cache import Cache
from nnlint.config import Settings
from nnlint.configs.load import MAX_NODES, ConfigSyntaxError, load, load_json, load_yaml
from nnlint.engine import lint
from tests.test_cli import BAD, run, write

# BAD has one NN101 (a sigmoid hidden layer) on line 5.
BAD_FINDING = ("bad.py", 5, "NN101")


def _lint(folder: Path) -> tuple[list[tuple[str, int, str]], object]:
    report = lint([folder], Settings(root=folder, respect_gitignore=False), jobs=1)
    found = [(Path(f.path).name, f.line, f.code) for f in report.findings]
    return found, report


def test_json_with_nan_and_infinity_is_read(tmp_path: Path) -> None:
    text = '{"best_metric": NaN, "loss": [Infinity, -Infinity, 1.5], "learning_rate": 1e-3}'
    node = load_json(text)
    values = [c.value for c in node.children["loss"].items]
    assert values == [float("inf"), float("-inf"), 1.5]
    assert node.children["best_metric"].value != node.children["best_metric"].value  # NaN
    write(tmp_path, {"bad.py": BAD, "trainer_state.json": text})
    found, report = _lint(tmp_path)
    assert BAD_FINDING in found
    assert not report.errors


def _notebook(cells: object) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.ipynb", '{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("numbers.ipynb", _notebook([{"cell_type": "code", "source": [1, 2]}])),
        ("dict_source.ipynb", _notebook([{"cell_type": "code", "source": {"a": 1}}])),
        ("list.ipynb", "[1, 2, 3]"),
        ("cells_string.ipynb", '{"cells": "import torch"}'),
    ],
)
def test_a_notebook_of_any_shape_is_a_finding_and_the_rest_is_still_checked(
    tmp_path: Path, name: str, text: str
) -> None:
    write(tmp_path, {"bad.py": BAD, name: text})
    found, report = _lint(tmp_path)
    assert BAD_FINDING in found
    assert (name, 1, "NN000") in found
    assert not report.errors


def test_a_notebook_with_a_bom_and_crlf_is_read(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "source": BAD.splitlines(keepends=True)}
    text = _notebook([cell]).replace("\n", "\r\n")
    (tmp_path / "nb.ipynb").write_bytes(codecs.BOM_UTF8 + text.encode())
    found, _ = _lint(tmp_path)
    assert found == [("nb.ipynb", 5, "NN101")]


@pytest.mark.parametrize(
    "cache",
    [
        [],
        {"written_ns": 1, "entries": []},
        {"written_ns": "1", "entries": {}},
        {"written_ns": 1, "entries": {"x": []}},
        {"written_ns": 1, "entries": {"x": {"stat": [1, 2], "digest": 5}}},
        {
            "written_ns": 1,
            "entries": {
                "x": {
                    "stat": [1, 2],
                    "digest": "d",
                    "module": "m",
                    "alone": [{"path": "p", "line": "1", "col": 0, "code": "NN101", "message": ""}],
                    "wanted": [],
                    "final": [],
                    "group": [],
                    "analysed": True,
                    "imports": [],
                    "provides": [],
                }
            },
        },
    ],
)
def test_a_cache_of_the_wrong_shape_is_ignored(tmp_path: Path, cache: object) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    store = Cache(folder, "key")
    store.file.write_text(json.dumps(cache), encoding="utf-8")
    store.load()
    assert store.entries == {}
    write(tmp_path, {"bad.py": BAD})
    report = lint([tmp_path / "bad.py"], Settings(root=tmp_path), cache_dir=folder)
    assert [(f.line, f.code) for f in report.findings] == [(5, "NN101")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_and_devices_are_skipped_with_a_note_and_never_read(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    os.mkfifo(tmp_path / "train.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "noise.ipynb").symlink_to("/dev/urandom")
    (tmp_path / "fifo_link.py").symlink_to(tmp_path / "train.py")
    result = run(tmp_path, "--no-cache", "--no-respect-gitignore", ".")  # times out if it hangs
    assert result.returncode == 1
    assert "bad.py:5:" in result.stdout
    for name in ("train.py", "zero.py", "noise.ipynb", "fifo_link.py"):
        assert f"note: {name}: skipped, not a regular file" in result.stderr
    named = run(tmp_path, "--no-cache", "train.py", "zero.py")
    assert named.returncode == 0
    assert "note: zero.py: skipped, not a regular file" in named.stderr


def test_a_yaml_merge_key_bomb_is_one_error_not_an_exhausted_memory() -> None:
    keys = ", ".join(f"k{i}: 0" for i in range(40_000))
    merges = ", ".join(["*base"] * 45_000)
    text = f"base: &base {{{keys}}}\nbomb: {{<<: [{merges}]}}\n"
    with pytest.raises(ConfigSyntaxError, match="merge keys expand too far"):
        load_yaml(text)


def test_yaml_alias_expansion_is_bounded_over_all_documents_of_a_file() -> None:
    one = "a: &a [" + ", ".join(["0"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 10) + "]\n"
    assert len(load(one, ".yaml")) == 1  # about 11k values: within the budget
    documents = "---\n".join([one] * (MAX_NODES // 10_000 + 1))
    with pytest.raises(ConfigSyntaxError, match="expands to more than"):
        load(documents, ".yaml")


def test_a_module_too_deep_to_analyse_is_nn002_and_exit_2(tmp_path: Path) -> None:
    deep = "import torch\nx = 1" + " + 1" * 1500 + "\n"
    write(tmp_path, {"bad.py": BAD, "deep.py": deep})
    result = run(tmp_path, "--no-cache", ".")
    assert result.returncode == 2
    assert "deep.py:1:1: NN002 cannot analyse this file: too deeply nested" in result.stdout
    assert "bad.py:5:" in result.stdout
