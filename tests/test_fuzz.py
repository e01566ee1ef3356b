"""Fuzzing the CLI's entry point in-process: generated ``--set`` values, config documents,
metrics lines, checkpoint contents and MNIST IDX files. Each call ends in exit 0 or one ``energan: error:`` line
(argparse's usage errors: exit 2), never a traceback.

``make test`` runs the bounded profile below; ``make fuzz`` runs it with many more examples
(``ENERGAN_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch
from checks import one_line, trained_quick_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mnist_files import idx_bytes, write_mnist

from energan.benchmarks.quick_config import QUICK_CONFIG
from energan.cli import main
from energan.config import TrainSettings
from energan.data.idx import DTYPES
from energan.data.mnist import FILES

EXAMPLES = int(os.environ.get("ENERGAN_FUZZ_EXAMPLES", "15"))
LONG = "ENERGAN_FUZZ_EXAMPLES" in os.environ  # make fuzz: fresh random examples; make test: the same ones on every run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, suppress_health_check=[HealthCheck.function_scoped_fixture])

SETTINGS = [field.name for field in dataclasses.fields(TrainSettings) if field.name not in ("runs_dir", "name", "steps", "device")]
COMPONENT_KEYS = [
    "energy.size", "energy.n_layers", "energy.distance", "energy.dropout", "energy.body", "loss.name", "loss.margin",
    "generator.size", "generator.latent_dim", "generator.name", "reg.pullaway.weight", "reg.pullaway.eps", "data.name",
]  # fmt: skip
KEYS = st.sampled_from([*SETTINGS, *COMPONENT_KEYS]) | st.text(min_size=1, max_size=12)
SCALARS = (
    st.integers(min_value=-(2**70), max_value=2**70).filter(lambda n: not 64 < abs(n) < 2**20)  # no network too wide to build fast
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=12)
)


def outcome(capsys: pytest.CaptureFixture[str], *argv: object) -> None:
    """Run ``energan ARGV``; the run ends in 0, or 1 with one error line, or argparse's 2."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse: usage and one error line
        code = exit_.code
        assert code == 2
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("energan: warning:")]
    if code != 0:
        assert code == 1 and lines[-1].startswith("energan: error: "), err


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(key=KEYS, value=SCALARS)
def test_generated_set_values(capsys: pytest.CaptureFixture[str], workdir: Path, key: str, value: object) -> None:
    config = workdir / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=2, runs=workdir / "runs"))
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    outcome(capsys, "train", "--config", config, "--name", "fuzz", "--steps", "2", "--set", f"{key}={value}")


TOML_VALUES = st.recursive(
    SCALARS.filter(lambda v: not (isinstance(v, float) and math.isnan(v))),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "size", "margin", "x"]), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(
    document=st.dictionaries(st.sampled_from([*SETTINGS[:12], "energy", "loss", "reg", "metrics", "data", "oops"]), TOML_VALUES, max_size=4)
)
def test_generated_config_documents(capsys: pytest.CaptureFixture[str], workdir: Path, document: dict) -> None:
    base = tomllib_loads(QUICK_CONFIG.format(steps=2, runs=workdir / "runs"))
    config = workdir / "doc.toml"
    config.write_text(tomli_w.dumps({**base, **document}))
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    outcome(capsys, "train", "--config", config, "--name", "fuzz", "--steps", "2")


def tomllib_loads(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished 2-step run whose files the examples below garble."""
    return trained_quick_run(tmp_path_factory.mktemp("trained"), steps=2, name="run")


@FUZZ
@given(lines=st.lists(st.binary(max_size=40) | st.text(max_size=40).map(str.encode), max_size=5))
def test_generated_metrics_lines(capsys: pytest.CaptureFixture[str], trained: Path, workdir: Path, lines: list[bytes]) -> None:
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run)
    (run / "metrics.jsonl").write_bytes((trained / "metrics.jsonl").read_bytes() + b"\n".join(lines))
    outcome(capsys, "plot", run, "-o", workdir / "curves.png")


CHECKPOINT_VALUES = st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=8) | st.just(torch.zeros(2)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(["format", "step", "best", "data", "model", "training"]), CHECKPOINT_VALUES, max_size=3))
def test_generated_checkpoint_contents(capsys: pytest.CaptureFixture[str], trained: Path, workdir: Path, changes: dict) -> None:
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run)
    path = run / "checkpoints" / "last.pt"
    torch.save({**torch.load(path, weights_only=True), **changes}, path)
    outcome(capsys, "sample", run, "-n", "4", "-o", workdir / "samples.png")


@st.composite
def idx_files(draw: st.DrawFn) -> bytes:
    """An IDX file whose header is whole but may say anything: a magic that is or is not IDX's,
    any type byte, 0 to 5 dimensions of any int32 size (small ones mostly), then as many bytes as
    the header says (so that reading succeeds and what follows sees the odd shape) or any number."""
    magic = draw(st.just(b"\x00\x00") | st.binary(min_size=2, max_size=2))
    code = draw(st.sampled_from(sorted(DTYPES)) | st.integers(0, 255))
    dims = draw(st.lists(st.integers(0, 40) | st.integers(-(2**31), 2**31 - 1), max_size=5))
    header = magic + bytes([code, len(dims)]) + struct.pack(f">{len(dims)}i", *dims)
    itemsize = int(DTYPES[code][-1]) if code in DTYPES else 1
    size = math.prod(dims) * itemsize if all(0 <= dim <= 40 for dim in dims) else -1
    exact = 0 <= size <= 2**16 and draw(st.booleans())
    return header + (draw(st.binary(min_size=size, max_size=size)) if exact else draw(st.binary(max_size=64)))


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real (random-pixel) MNIST IDX files the examples below replace one of."""
    directory = tmp_path_factory.mktemp("mnist")
    write_mnist(directory, train=20, test=8, gz=False)
    return directory


@FUZZ
@given(file=st.sampled_from(sorted(FILES)), content=idx_files(), gz=st.booleans())
def test_generated_idx_files(
    capsys: pytest.CaptureFixture[str], mnist_dir: Path, workdir: Path, file: str, content: bytes, gz: bool
) -> None:
    """A malformed MNIST file trains or ends in one line (a DataError), never a traceback."""
    data = workdir / "mnist"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(mnist_dir, data)
    (data / FILES[file]).unlink()
    (data / (FILES[file] + (".gz" if gz else ""))).write_bytes(gzip.compress(content) if gz else content)
    config = workdir / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=1, runs=workdir / "runs"))
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    outcome(
        capsys, "-p", "no:curves", "-p", "no:samples", "train", "--config", config, "--name", "fuzz", "--data", "mnist", "--data-dir", data
    )


def test_an_empty_test_split_is_one_line(cli, tmp_path: Path, quick_config) -> None:
    data = tmp_path / "mnist"
    write_mnist(data, train=20, test=0, gz=False)
    code, _, err = cli("train", "--config", quick_config(steps=2), "--data", "mnist", "--data-dir", data)
    assert code == 1 and "its test split holds no images" in one_line(err)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\x00\x08\x03\x00\x00\x00", id="header-cut-short"),
        pytest.param(b"\x00\x00\x08\x02\x00\x00\x00\x00\xff\xff\xff\xff", id="negative-size"),
        pytest.param(b"\x00\x00\x08\x03" + b"\x7f\xff\xff\xff" * 3, id="huge-sizes"),
        pytest.param(b"\x00\x00\x2a\x01\x00\x00\x00\x01\x00", id="unknown-type"),
    ],
)
def test_malformed_idx_headers_are_one_line_data_errors(cli, tmp_path: Path, quick_config, content: bytes) -> None:
    """Examples the fuzzing above found or should find, kept as fixed cases."""
    data = tmp_path / "mnist"
    write_mnist(data, train=20, test=8, gz=False)
    (data / FILES["train_images"]).write_bytes(content)
    code, _, err = cli("train", "--config", quick_config(steps=2), "--data", "mnist", "--data-dir", data)
    assert code == 1 and str(data / FILES["train_images"]) in one_line(err)


@pytest.mark.parametrize("test_side", [20, 32])
def test_test_images_of_another_size_are_one_line(cli, tmp_path: Path, quick_config, test_side: int) -> None:
    data = tmp_path / "mnist"
    write_mnist(data, train=20, test=8, gz=False)
    rng = np.random.default_rng(0)
    (data / FILES["test_images"]).write_bytes(idx_bytes(rng.integers(0, 256, (8, test_side, test_side), dtype=np.uint8)))
    code, _, err = cli("train", "--config", quick_config(steps=2), "--data", "mnist", "--data-dir", data)
    assert code == 1
    assert f"test images of shape (1, {test_side}, {test_side}) differ from the training images' (1, 28, 28)" in one_line(err)
