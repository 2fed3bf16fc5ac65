"""Training configs: safe parsing with positions, recognition by content, schemas,
settings, and the join with the code that reads a config."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from nnlint.configs.file import read_config
from nnlint.configs.load import ConfigSyntaxError, load
from tests.conftest import ROOT
from tests.test_cli import run, write


def codes(report) -> list[tuple[str, int, str]]:
    return sorted((f.path, f.line, f.code) for f in report.findings)


# -- parsing -----------------------------------------------------------------------------
def test_yaml_nodes_carry_key_positions_and_merge_keys() -> None:
    root = load("base: &b\n  lr: 0.1\n  wd: 0\ntrain:\n  <<: *b\n  wd: 0.5\n", ".yaml")[0]
    train = root.get("train")
    assert train is not None
    assert (train.get("wd").value, train.get("wd").line) == (0.5, 6)  # explicit key wins
    assert (train.get("lr").value, train.get("lr").line, train.get("lr").col) == (0.1, 2, 2)
    assert train.get("lr").dotted == "train.lr"


def test_yaml_python_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f'lr: 0.1\nx: !!python/object/apply:os.system ["touch {marker}"]\n'
    root = load(text, ".yaml")[0]
    assert root.get("x").kind == "seq"
    assert not marker.exists()


def test_yaml_1_1_exponents_read_as_numbers() -> None:
    assert load("lr: 1e-3\n", ".yaml")[0].get("lr").number == pytest.approx(0.001)


def test_alias_bomb_is_a_syntax_error_not_a_hang() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    with pytest.raises(ConfigSyntaxError, match="aliases"):
        load("\n".join(lines), ".yaml")
    assert time.perf_counter() - start < 2


def test_deep_nesting_is_a_syntax_error() -> None:
    with pytest.raises(ConfigSyntaxError):
        load("[" * 5000 + "]" * 5000, ".json")
    with pytest.raises(ConfigSyntaxError):
        load(
            "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)) + "  " * 200 + "x",
            ".yaml",
        )


def test_json_positions_match_the_text() -> None:
    text = '{\n  "a": {"b": [1, 2.5, true, null, "s"]},\n  "lr": 0.1\n}\n'
    root = load(text, ".json")[0]
    assert json.loads(text) == root.plain()
    lr = root.get("lr")
    assert (lr.line, lr.col) == (3, 2)
    items = root.get("a", "b").items
    assert [(n.line, n.col) for n in items] == [(2, 14), (2, 17), (2, 22), (2, 28), (2, 34)]


def test_json_error_has_its_position() -> None:
    with pytest.raises(ConfigSyntaxError) as caught:
        load('{\n  "lr": 0.1,\n}', ".json")
    assert (caught.value.line, caught.value.col) == (3, 0)


# -- recognition -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "training"),
    [
        ("train.yaml", "lr: 0.1\nepochs: 10\n", True),
        ("trainer.yaml", "_target_: lightning.pytorch.Trainer\nmax_epochs: 3\n", True),
        ("args.json", '{"output_dir": "o", "num_train_epochs": 3, "logging_steps": 5}', True),
        ("notes.yaml", "lr: 0.1\n", False),
        ("job.yaml", "apiVersion: v1\nkind: Pod\nspec: {lr: 1, epochs: 2}\n", False),
        ("ci.yml", "on: push\njobs: {lr: 1, epochs: 2}\n", False),
        ("compose.yaml", "services: {lr: 1, epochs: 2}\n", False),
        ("package.json", '{"lr": 1, "epochs": 2}', False),
        ("schema.json", '{"type": "object", "properties": {"lr": 1, "epochs": 2}}', False),
    ],
)
def test_training_configs_are_recognised_by_content(name: str, text: str, training: bool) -> None:
    suffix = Path(name).suffix
    config = read_config(Path(name), name, text)
    assert config.training is training, (suffix, config.docs)


# -- whole runs --------------------------------------------------------------------------
BAD_CONFIG = "seed: 1\nepochs: 20\noptimizer: adam\nlr: 0.5\n"


def test_a_bad_config_file_is_one_finding(lint_text) -> None:
    report = lint_text({"conf.yaml": "lr: 0.1\nepochs: [1, 2\nseed: 3\n"})
    assert [(f.code, f.line) for f in report.findings] == [("NN700", 3)]
    assert not report.errors


def test_noqa_on_a_yaml_line_and_for_a_yaml_file(lint_text) -> None:
    report = lint_text({"a.yaml": BAD_CONFIG.replace("lr: 0.5", "lr: 0.5  # noqa: NN702")})
    assert not report.findings
    report = lint_text({"b.yaml": "# nnlint: noqa\n" + BAD_CONFIG})
    assert not report.findings


def test_config_files_replace_recognition_by_content(lint_text) -> None:
    files = {"conf/opt.yaml": "lr: 50\n", "other.yaml": BAD_CONFIG}
    report = lint_text(files, config_files=["conf/*.yaml"])
    assert codes(report) == [("conf/opt.yaml", 1, "NN702")]


def test_user_schema_applies_to_matching_files(lint_text, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"lr": {"type": "number"}, "epochs": {"type": "integer"}},
    }
    (tmp_path / "train.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    report = lint_text(
        {"exp/a.yaml": "lr: 0.001\nepoch: 10\n"},
        config_schemas={"exp/*.yaml": tmp_path / "train.schema.json"},
    )
    [finding] = [f for f in report.findings if f.code == "NN701"]
    assert finding.line == 2
    assert "did you mean `epochs`" in finding.message


def test_join_reports_at_the_config_line_naming_the_code_line(lint_text) -> None:
    code = (
        "import torch, yaml\n"
        "from torch.utils.data import DataLoader\n"
        "cfg = yaml.safe_load(open('cfg.yaml'))\n"
        "train_loader = DataLoader(ds, batch_size=8, shuffle=cfg['data']['shuffle'])\n"
        "opt = torch.optim.Adam(model.parameters(), lr=cfg['lr'])\n"
        "for epoch in range(3):\n"
        "    for x, y in train_loader:\n"
        "        loss(model(x), y).backward()\n"
    )
    config = "seed: 1\nepochs: 3\nlr: 0.2\ndata:\n  shuffle: false\n"
    report = lint_text({"train.py": code, "cfg.yaml": config})
    found = {(f.path, f.line, f.code): f.message for f in report.findings}
    assert "train.py:4" in found["cfg.yaml", 5, "NN202"]
    assert "train.py:5" in found["cfg.yaml", 3, "NN702"]


def test_join_is_the_same_with_a_warm_cache(tmp_path: Path) -> None:
    files = {
        "train.py": "import torch, json\ncfg = json.load(open('p.json'))\n"
        "opt = torch.optim.Adam(m.parameters(), lr=cfg['lr'])\n",
        "p.json": '{"seed": 1, "epochs": 3, "lr": 0.3}',
    }
    write(tmp_path, files)
    first = run(tmp_path, ".")
    second = run(tmp_path, ".")
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout
    assert first.stdout.startswith("p.json:1:26: NN702 ")


def test_unrelated_yaml_and_json_are_never_reported() -> None:
    result = run(ROOT / "fixtures" / "configs" / "unrelated", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout


def test_cli_json_output_for_a_config(tmp_path: Path) -> None:
    write(tmp_path, {"c.yaml": BAD_CONFIG})
    result = run(tmp_path, "--output-format", "json", "c.yaml")
    [item] = json.loads(result.stdout)
    assert (item["code"], item["location"]) == ("NN702", {"row": 4, "column": 1})
    assert result.returncode == 1


def test_missing_user_schema_is_a_configuration_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"pyproject.toml": '[tool.nnlint.config-schemas]\n"*.yaml" = "nope.json"\n'},
    )
    result = run(tmp_path, ".")
    assert result.returncode == 2
    assert "config-schemas" in result.stderr


def test_config_hook_is_declared_for_yaml_and_json() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    hook = next(h for h in hooks if h["id"] == "nnlint-config")
    assert set(hook["types_or"]) == {"yaml", "json"}
    assert hook["entry"].split()[0] == "nnlint"
