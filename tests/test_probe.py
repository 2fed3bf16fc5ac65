"""`nnlint --probe`: the reference models' verdicts, leave-no-trace, the CLI, errors, the
time budget, the report folder, and the torch-free parts (LR suggestion, PNG, targets)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from nnlint.probe import lrfind
from nnlint.probe.plot import PlotData, _draw
from nnlint.probe.target import split_target
from nnlint.rules import rule_by_code
from tests.conftest import ROOT, nnlint_command

PROBE_FIXTURES = ROOT / "fixtures" / "probe"
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_LIGHTNING = importlib.util.find_spec("lightning") is not None
needs_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="torch is not installed (pip install 'nnlint[probe]')"
)
EXPECTED = re.compile(r"#.*\bprobe: (clean|NN\d{3}(?:, NN\d{3})*)")


def expectations() -> list[tuple[str, str, frozenset[str], int]]:
    """(file, target, expected codes, line of the annotation) per reference model."""
    found = []
    for path in sorted(PROBE_FIXTURES.glob("*.py")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            match = EXPECTED.search(line)
            if match:
                codes = frozenset() if match[1] == "clean" else frozenset(match[1].split(", "))
                text = path.read_text("utf-8")
                name = re.search(r"class (\w+)", line)
                factory = "make_probe" if "def make_probe" in text or not name else name[1]
                target = f"{path.name}:{factory}"
                if path.name == "clean_lightning.py":
                    target = path.name
                found.append((path.name, target, codes, number))
    return found


NO_BUDGET = ("--probe-timeout", "3600")  # far above any run: verdicts never meet the clock


def probe_cli(cwd: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess[str]:
    """The CLI in `cwd`; a probe without `--probe-timeout` gets an hour, so that a busy
    machine cannot change a test's outcome (the budget's own tests use a fake clock)."""
    if "--probe" in args and "--probe-timeout" not in args:
        args = (*NO_BUDGET, *args)  # before any `--` and the script's own arguments
    return subprocess.run(
        [*nnlint_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- torch-free parts ------------------------------------------------------------------------


def test_every_reference_model_has_an_expectation() -> None:
    files = {p.name for p in PROBE_FIXTURES.glob("*.py")} - {"synthetic.py"}
    assert files == {e[0] for e in expectations()}
    assert sum(1 for e in expectations() if not e[2]) >= 6  # the clean models
    for _, _, codes, _ in expectations():
        assert all(rule_by_code(c) and rule_by_code(c).runtime for c in codes), codes


def test_split_target() -> None:
    assert split_target("pkg.mod:make") == ("pkg.mod", "make")
    assert split_target("dir/train.py:make") == ("dir/train.py", "make")
    assert split_target("train.py") == ("train.py", None)
    assert split_target("C:\\work\\train.py") == ("C:\\work\\train.py", None)


def test_schedule_is_exponential() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    assert len(lrs) == 100 and lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10)
    ratios = {round(b / a, 9) for a, b in itertools.pairwise(lrs)}
    assert len(ratios) == 1


def _curve(lrs: list[float], best: float) -> list[float]:
    """A textbook sweep: flat, a fall centred a decade below `best`, then divergence."""
    return [
        2.0
        - 1.5 / (1 + math.exp(-3 * (math.log10(lr) - math.log10(best) + 1)))
        + (50 * (lr / best - 1) if lr > best else 0.0)
        for lr in lrs
    ]


def test_suggestion_is_the_geometric_mean_of_minimum_and_valley() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    smoothed = lrfind.smooth(_curve(lrs, 1e-2))
    suggestion = lrfind.suggest(lrs, smoothed)
    assert suggestion.lr is not None and suggestion.valley is not None
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    first, last, middle = lrfind.valley(smoothed)
    assert (first, last) == suggestion.valley and last == lowest and first < middle < last
    assert suggestion.lr == pytest.approx(math.sqrt(lrs[lowest] / 10 * lrs[middle]))
    assert 1e-4 < suggestion.lr < 1e-2


def test_valley_is_the_longest_descending_run() -> None:
    noisy_plateau = [1.0 + 0.01 * (-1) ** i for i in range(40)]
    fall = [1.0 - 0.02 * i for i in range(1, 31)]
    rise = [0.4 + 0.1 * i for i in range(1, 21)]
    first, last, middle = lrfind.valley(noisy_plateau + fall + rise)
    assert last == 69  # the bottom of the fall
    assert 37 <= first <= 40  # the noise adds a point or two, not the whole plateau
    assert middle == pytest.approx((first + last) / 2, abs=1)


def test_minimum_at_the_end_of_a_floor_pulls_the_suggestion_down() -> None:
    """A recurrent model's curve: a fall, then a noisy floor whose lowest point comes late;
    minimum/10 alone would follow the late minimum."""
    lrs = lrfind.schedule(1e-7, 10, 100)
    curve = (
        [0.7 + 0.005 * (-1) ** i for i in range(60)]
        + [0.7 - 0.02 * i for i in range(1, 11)]
        + [0.5 + 0.01 * (-1) ** i - 0.0005 * i for i in range(20)]
        + [0.6 + 0.1 * i for i in range(10)]
    )
    smoothed = lrfind.smooth(curve)
    suggestion = lrfind.suggest(lrs, smoothed)
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    assert lowest > 75 and suggestion.lr is not None
    assert lrs[60] / 10 < suggestion.lr < lrs[lowest] / 10


def test_rising_curve_has_no_valley() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    rising = [1.0 + i / 100 for i in range(100)]
    suggestion = lrfind.suggest(lrs, lrfind.smooth(rising))
    assert suggestion.lr is None and "only rises" in suggestion.reason


def test_flat_curve_has_no_valley() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    flat = [1.0 + 0.01 * math.sin(i) for i in range(100)]
    suggestion = lrfind.suggest(lrs, lrfind.smooth(flat))
    assert suggestion.lr is None and "falls by only" in suggestion.reason


def test_still_falling_at_the_end_has_no_valley() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    falling = [2.0 - i / 100 for i in range(100)]
    assert lrfind.suggest(lrs, falling, diverged=False).lr is None
    assert lrfind.suggest(lrs, falling[:8]).lr is None  # too short


def test_nan_counts_as_divergence() -> None:
    assert lrfind.diverged([1.0, 1.0], math.nan)
    assert lrfind.diverged([1.0, math.inf], 1.0)
    assert not lrfind.diverged([1.0, 0.9, 0.8], 0.8)
    assert lrfind.diverged([1.0, 0.5, 0.5, 0.6, 1.0, 2.0, 2.5], 2.5)


def test_compare_thresholds() -> None:
    assert lrfind.compare(1.0, 0.05) == "high"
    assert lrfind.compare(1e-3, 1e-3) is None
    assert lrfind.compare(1e-3, 0.02) is None
    assert lrfind.compare(1e-4, 0.02) == "low"


def _png_chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        crc = int.from_bytes(data[at + 8 + length : at + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc
        chunks[kind] = body
        at += 12 + length
    return chunks


def test_pure_python_png_is_valid_and_marks_the_lrs() -> None:
    lrs = lrfind.schedule(1e-7, 10, 100)
    curves = [(lrs, lrfind.smooth(_curve(lrs, 1e-2 * k))) for k in (1, 2)]
    png = _draw(PlotData(curves, 1e-3, 1e-5, {"configured": [2.0, 1.9], "suggested": [2.0, 1.0]}))
    chunks = _png_chunks(png)
    width, height = (
        int.from_bytes(chunks[b"IHDR"][:4], "big"),
        int.from_bytes(chunks[b"IHDR"][4:8], "big"),
    )
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    assert bytes((44, 160, 44)) in raw and bytes((214, 39, 40)) in raw  # suggested, configured


def test_cli_without_torch_says_how_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from nnlint.cli import main\n"
        "sys.exit(main(['--probe', 'train.py:make']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "`python -m pip install torch`" in result.stderr


def test_static_runs_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from nnlint.cli import main\n"
        "import nnlint.probe\n"
        "main(['--list-rules'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_probe_without_target_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    result = probe_cli(tmp_path, "--probe")
    assert result.returncode == 2 and "needs a target" in result.stderr


def test_probe_settings_are_validated(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.nnlint.probe]\ntimout = 5\n")
    result = probe_cli(tmp_path, "--probe", "x.py:f")
    assert result.returncode == 2
    assert "$.tool.nnlint.probe.timout: unknown key; did you mean `timeout`?" in result.stderr


# -- the reference models ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def in_process():
    """Load a fixture target and run every check in this process (no child start-up)."""
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (pip install 'nnlint[probe]')"
    )
    torch.set_num_threads(1)  # as the probe's child: small batches, a shared machine
    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415
    from nnlint.probe.target import load  # noqa: PLC0415

    def run(target: str):
        cwd = os.getcwd()
        os.chdir(PROBE_FIXTURES)
        try:
            return Probe(load(target), Options(device="cpu")).run()  # no budget: no clock
        finally:
            os.chdir(cwd)

    return run


@pytest.mark.parametrize(
    ("name", "target", "codes", "line"), expectations(), ids=[e[0] for e in expectations()]
)
def test_reference_model_verdict(in_process, name: str, target: str, codes, line: int) -> None:
    """Each expected code is found; no error-level finding beyond those expected (a clean
    model has none); every check finishes in time."""
    if name == "clean_lightning.py" and not HAS_LIGHTNING:
        pytest.skip("lightning is not installed")
    results = in_process(target)
    found = {f.code for r in results for f in r.findings}
    errors = {c for c in found if rule_by_code(c).severity == "error"}
    assert codes <= found, f"missing {sorted(codes - found)}; found {sorted(found)}"
    assert errors <= codes | _ALSO_ERRORS.get(name, set()), f"unexpected {sorted(errors - codes)}"
    assert all(r.status in ("done", "skipped") for r in results), [r.status for r in results]


# Error-level findings that are right but secondary for a reference model: a model that
# ignores its inputs, saturates or clips its logits also cannot over-fit one batch.
_ALSO_ERRORS = {
    "broken_ignores_input.py": {"NN903"},
    "broken_sigmoid_deep.py": {"NN903"},
    "broken_relu_logits.py": {"NN903"},
    "broken_sigmoid_bce_logits.py": {"NN903"},  # the squashed logits cannot reach the targets
    "broken_nan_inputs.py": {"NN905"},
}


# -- leave no trace ----------------------------------------------------------------------------


@needs_torch
def test_probe_leaves_no_trace() -> None:
    import random  # noqa: PLC0415

    import numpy  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415
    from torch.utils.data import DataLoader, TensorDataset  # noqa: PLC0415

    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415
    from nnlint.probe.target import Bundle  # noqa: PLC0415

    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)
    )
    model[0].bias.requires_grad_(False)
    model[1].eval()
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    nn.CrossEntropyLoss()(model(x[:16]), y[:16]).backward()
    optimizer.step()  # optimizer state and gradients exist before the probe
    data = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)

    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    training = {n: m.training for n, m in model.named_modules()}
    opt_state = {
        i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
        for i, s in optimizer.state_dict()["state"].items()
    }
    groups = json.dumps(optimizer.state_dict()["param_groups"])
    rng = (torch.get_rng_state(), numpy.random.get_state()[1].copy(), random.getstate())

    options = Options(device="cpu", lr_steps=30, overfit_steps=20)
    Probe(Bundle(model, nn.CrossEntropyLoss(), data, optimizer), options).run()

    after = model.state_dict()
    assert state.keys() == after.keys()
    assert all(torch.equal(state[k], after[k]) for k in state), "state dict changed"
    assert "1.running_mean" in after and "1.num_batches_tracked" in after
    for name, param in model.named_parameters():
        assert param.requires_grad == flags[name]
        if name in grads:
            assert torch.equal(param.grad, grads[name])
        else:
            assert param.grad is None
    assert {n: m.training for n, m in model.named_modules()} == training
    now = optimizer.state_dict()
    assert json.dumps(now["param_groups"]) == groups
    for i, saved in opt_state.items():
        for key, value in saved.items():
            assert (
                torch.equal(now["state"][i][key], value)
                if torch.is_tensor(value)
                else (now["state"][i][key] == value)
            )
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert (numpy.random.get_state()[1] == rng[1]).all()
    assert random.getstate() == rng[2]
    assert all(not m._forward_hooks for m in model.modules()), "hooks left behind"


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the reference models, to check that the probe writes nothing there."""
    target = tmp_path / "probe"
    shutil.copytree(PROBE_FIXTURES, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return target


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@needs_torch
def test_cli_clean_model_exits_0_and_writes_only_the_report(workdir: Path) -> None:
    before = _tree(workdir)
    report = workdir.parent / "report"
    result = probe_cli(
        workdir, "--probe", "clean_mlp_classifier.py:make_probe", "--probe-report", str(report)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stderr
    assert _tree(workdir) == before, "the probe wrote into the project"
    document = json.loads((report / "probe.json").read_text("utf-8"), parse_constant=_no_nan)
    assert {c["name"] for c in document["checks"]} == {
        "data",
        "init",
        "gradients",
        "overfit",
        "lr-finder",
    }
    sweep = next(c for c in document["checks"] if c["name"] == "lr-finder")["metrics"]
    assert sweep["suggested_lr"] and sweep["configured_lr"] == 1e-3
    assert document["plot"] == "lr_finder.png"
    assert (report / "lr_finder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _no_nan(value: str) -> None:
    raise AssertionError(f"{value} in the JSON report")


@needs_torch
def test_cli_finding_at_the_unused_layer_line(workdir: Path) -> None:
    result = probe_cli(workdir, "--probe", "broken_unused_layer.py:make_probe")
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(e[3] for e in expectations() if e[0] == "broken_unused_layer.py")
    assert f"broken_unused_layer.py:{line}:1: NN904 layer `extra`" in result.stdout
    ignored = probe_cli(workdir, "--probe", "broken_unused_layer.py:make_probe", "--ignore", "NN9")
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr


@needs_torch
def test_cli_json_and_sarif_formats(workdir: Path) -> None:
    target = "broken_labels_out_of_range.py:make_probe"
    result = probe_cli(workdir, "--probe", target, "--output-format", "json")
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert [i["code"] for i in items] == ["NN914"]
    assert items[0]["name"] == "label-out-of-range" and items[0]["severity"] == "error"
    sarif = probe_cli(workdir, "--probe", target, "--output-format", "sarif")
    run = json.loads(sarif.stdout)["runs"][0]
    assert run["results"][0]["ruleId"] == "NN914"


@needs_torch
def test_cli_target_from_pyproject_and_dotted_module(workdir: Path) -> None:
    (workdir / "pyproject.toml").write_text(
        '[tool.nnlint.probe]\ntarget = "broken_frozen:make_probe"\nlr-steps = 20\n'
    )
    result = probe_cli(workdir, "--probe")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NN904 all 4 parameter tensors are frozen" in result.stdout


@needs_torch
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py:make", "missing.py: no such file"),
        ("clean_cnn.py:nothing", "has no attribute 'nothing'"),
        ("no_such_package.module:make", "no module named 'no_such_package'"),
        ("bad.py:returns_list", "returned a list"),
        ("bad.py:needs_argument", "must take no arguments"),
        ("bad.py:no_loss", "returned no `loss`"),
        ("bad.py:raises", "bad.py:18: in helper: ValueError: the data folder is empty"),
    ],
)
def test_cli_cannot_probe_exits_2(workdir: Path, target: str, message: str) -> None:
    (workdir / "bad.py").write_text(BAD_TARGETS, encoding="utf-8")
    result = probe_cli(workdir, "--probe", target)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "nnlint/probe" not in result.stderr.replace("\\", "/")  # the user's frames only


BAD_TARGETS = """\
import torch
from torch import nn


def returns_list():
    return [nn.Linear(2, 2)]


def needs_argument(path):
    return {}


def no_loss():
    return {"model": nn.Linear(2, 2), "data": []}


def helper():
    raise ValueError("the data folder is empty")


def raises():
    helper()
"""


@needs_torch
def test_cli_device_cuda_without_gpu_exits_2(workdir: Path) -> None:
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = probe_cli(workdir, "--probe", "clean_cnn.py:make_probe", "--device", "cuda")
    assert result.returncode == 2
    assert "torch.cuda.is_available() is False" in result.stderr


def _cuda() -> bool:
    if not HAS_TORCH:
        return False
    import torch  # noqa: PLC0415

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="no CUDA GPU here: the GPU path is tested only with one")
@pytest.mark.parametrize("name", ["clean_cnn.py", "broken_softmax_ce.py", "broken_frozen.py"])
def test_cpu_and_gpu_verdicts_agree(name: str) -> None:
    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415
    from nnlint.probe.target import load  # noqa: PLC0415

    cwd = os.getcwd()
    os.chdir(PROBE_FIXTURES)
    try:
        verdicts = [
            {
                f.code
                for r in Probe(load(f"{name}:make_probe"), Options(device=d)).run()
                for f in r.findings
                if rule_by_code(f.code).severity == "error"
            }
            for d in ("cpu", "cuda")
        ]
    finally:
        os.chdir(cwd)
    assert verdicts[0] == verdicts[1]


@pytest.mark.skipif(not HAS_LIGHTNING, reason="lightning is not installed")
def test_cli_lightning_module_without_factory(workdir: Path) -> None:
    result = probe_cli(workdir, "--probe", "clean_lightning.py")
    assert result.returncode == 0, result.stdout + result.stderr


UNPACK_TARGET = """\
from dataclasses import dataclass

import torch
from torch import nn


class Batch:
    def __init__(self, features, label):
        self.features, self.label = features, label


@dataclass
class Probe:
    model: nn.Module
    loss: nn.Module
    data: list
    unpack: object


def make_probe():
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    y = (x[:, 0] > 0).long()
    data = [Batch(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    return Probe(model, nn.CrossEntropyLoss(), data, lambda b: (b.features, b.label))
"""


@needs_torch
def test_dataclass_result_and_unpack_hook(tmp_path: Path) -> None:
    from nnlint.probe.checks import Options, Probe  # noqa: PLC0415
    from nnlint.probe.target import load  # noqa: PLC0415

    (tmp_path / "custom_batches.py").write_text(UNPACK_TARGET, encoding="utf-8")
    bundle = load(f"{tmp_path / 'custom_batches.py'}:make_probe")
    results = {r.name: r for r in Probe(bundle, Options(device="cpu", lr_steps=30)).run()}
    assert all(r.status == "done" for r in results.values())
    assert results["overfit"].metrics["run"]["passed"]
    assert results["data"].metrics["inputs"]["inputs"]["features"] == 6


def test_progress_bar_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from nnlint.probe.runner import Progress  # noqa: PLC0415

    Progress(False).show({"check": "overfit", "done": 5, "total": 10})
    assert capsys.readouterr().err == ""
    bar = Progress(True)
    bar.show({"check": "lr-finder", "done": 50, "total": 100})
    bar.clear()
    err = capsys.readouterr().err
    assert "lr-finder" in err and "50/100" in err and "#" * 12 in err


def _screen(text: str) -> str:
    """What a terminal shows of one line rewritten with carriage returns."""
    line: list[str] = []
    column = 0
    for char in text:
        if char == "\r":
            column = 0
            continue
        if column < len(line):
            line[column] = char
        else:
            line.append(char)
        column += 1
    return "".join(line).rstrip()


def test_progress_leaves_no_stale_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """A shorter line overwrites a longer one in full (`48/200`, never `48/2000`), and the
    stages show before any step is counted."""
    from nnlint.probe.runner import Progress  # noqa: PLC0415

    bar = Progress(True)
    bar.stage("loading train.py (starting Python and torch)")
    assert "loading train.py" in _screen(capsys.readouterr().err)
    bar.show({"check": "overfit", "done": 1999, "total": 2000})
    bar.show({"check": "overfit", "done": 48, "total": 200})
    assert _screen(capsys.readouterr().err).endswith(" 48/200")
    bar.show({"check": "gradients: gradient health"})
    shown = _screen(capsys.readouterr().err)
    assert shown.endswith("gradients: gradient health"), shown
