"""``energan sweep`` end to end: real worker processes, real trainings, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest

from energan.errors import ConfigError
from energan.sweep.study import open_storage

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[1]

TINY_GRID = """
[knobs]
nLayerG = [2, 3]
sizeD = [16, 32]
{extra}
[set]
batch_size = 16
"generator.size" = 32
"metrics.inception_score.samples" = 100
"""


def _grid(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_GRID.format(extra=extra))
    return path


def _sweep_args(tmp_path: Path, grid: Path, storage: str, steps: int, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "energan.cli",
        "sweep",
        "--grid",
        str(grid),
        "--family",
        "ebgan",
        "--steps",
        str(steps),
        "--storage",
        storage,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--data",
        "digits",
        "--heartbeat",
        "1",
        "--threads",
        "1",
        "--study",
        "tiny",
        *more,
    ]


def _sweep(tmp_path: Path, grid: Path, storage: str, steps: int, *more: str) -> subprocess.CompletedProcess:
    result = subprocess.run(_sweep_args(tmp_path, grid, storage, steps, *more), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _trials(storage: str, family: str = "ebgan") -> list[optuna.trial.FrozenTrial]:
    """The family's trials, read through energan's storage opener (it waits out a schema being created)."""
    return optuna.load_study(study_name=f"tiny/{family}", storage=open_storage(storage)).get_trials()


def _assert_each_point_trained_once(trials: list[optuna.trial.FrozenTrial], points: int) -> None:
    complete = [t for t in trials if t.state == State.COMPLETE]
    assert sorted(t.system_attrs["energan_point"] for t in complete) == list(range(points))
    assert len({tuple(sorted(t.params.items())) for t in complete}) == points
    trained = [t for t in trials if "run_dir" in t.user_attrs and t.state != State.FAIL]
    assert Counter(t.system_attrs["energan_point"] for t in trained) == Counter(range(points)), "a point was trained twice"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sweeps.db'}"


def test_tiny_grid_end_to_end_with_report(tmp_path: Path, sqlite_url: str, cli) -> None:
    result = _sweep(tmp_path, _grid(tmp_path), sqlite_url, 20, "--workers", "2")
    assert "ebgan: 4/4 points (done 4, running 0, queued 0, failed 0)" in result.stdout
    trials = _trials(sqlite_url)
    _assert_each_point_trained_once(trials, 4)
    for trial in trials:
        run_dir = Path(trial.user_attrs["run_dir"])
        assert (tmp_path / run_dir / "checkpoints" / "last.pt").exists() and 1.0 <= trial.value <= 10.0
    # the report reads the same storage
    output = tmp_path / "report"
    code, _, err = cli("report", "tiny", "--storage", sqlite_url, "--output", output, "--threshold", "1.0")
    assert code == 0, err
    assert {p.name for p in output.glob("*.png")} == {"hist-all.png", "hist-nLayerG.png", "hist-sizeD.png", "heatmap-nLayerG-sizeD.png"}
    text = (output / "report.md").read_text()
    scores = sorted(t.value for t in trials)
    median = (scores[1] + scores[2]) / 2
    assert f"| ebgan | 4 | 4 | 0 | {median:.2f} |" in text and f"{scores[-1]:.2f} | 100 % |" in text
    assert "\nData: digits.\n" in text  # the dataset the sweep stored with its settings
    # --points: every point with its protocol, and their final samples side by side
    code, _out, err = cli("report", "tiny", "--storage", sqlite_url, "--output", output, "--points")
    assert code == 0, err
    text = (output / "report.md").read_text()
    assert (output / "samples.png").exists() and "![final samples of every point](samples.png)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ebgan | nLayerG=")]
    assert len(rows) == 4 and all(" ± " in row and row.endswith(" s |") for row in rows)
    assert "Protocol: 100 samples in 10 splits, mean ± std over the splits" in text
    # joining the study with other settings is refused, before any worker starts
    clash = subprocess.run(_sweep_args(tmp_path, _grid(tmp_path), sqlite_url, 30), capture_output=True, text=True, cwd=tmp_path)
    assert clash.returncode == 1 and "already exists with other settings (steps): stored steps=20" in clash.stderr


def test_a_point_that_raises_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path: Path, sqlite_url: str) -> None:
    grid = _grid(tmp_path, extra=f'data_dir = ["", "{tmp_path / "no-such-dir"}"]')
    result = _sweep(tmp_path, grid, sqlite_url, 10)
    assert "8/8 points (done 4, running 0, queued 0, failed 4)" in result.stdout
    failed = [t for t in _trials(sqlite_url) if t.state == State.FAIL]
    assert len(failed) == 4  # recorded once each: a point that raises is not retried
    assert all(t.params["data_dir"] and "no-such-dir does not exist" in t.user_attrs["error"] for t in failed)


def test_missing_data_stops_the_sweep_before_any_worker_starts(tmp_path: Path, sqlite_url: str, cli) -> None:
    empty = tmp_path / "mnist"
    empty.mkdir()
    code, _, err = cli(
        "sweep",
        "--grid",
        _grid(tmp_path),
        "--family",
        "ebgan",
        "--data",
        "mnist",
        "--data-dir",
        empty,
        "--storage",
        sqlite_url,
        "--runs-dir",
        tmp_path / "runs",
        "--study",
        "tiny",
    )
    assert code == 1 and err.startswith("energan: error: ") and str(empty) in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # no worker started, no point trained


def _start_and_wait_for_a_training_point(tmp_path: Path, grid: Path, storage: str) -> tuple[subprocess.Popen, list, list]:
    """Start a sweep in its own process group; return once a point finished and another is training."""
    sweep = subprocess.Popen(
        _sweep_args(tmp_path, grid, storage, 600),
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            trials = _trials(storage)
        except (KeyError, ConfigError, optuna.exceptions.StorageInternalError):  # the sweep is still creating it
            continue
        done = [t for t in trials if t.state == State.COMPLETE]
        running = [t for t in trials if t.state == State.RUNNING and "run_dir" in t.user_attrs]
        if done and running and (tmp_path / running[0].user_attrs["run_dir"] / "config.toml").exists():
            return sweep, done, running
    pytest.fail("the sweep never reached a running second point")


def test_ctrl_c_marks_the_point_interrupted_and_the_next_run_trains_it(tmp_path: Path, sqlite_url: str) -> None:
    grid = _grid(tmp_path)
    sweep, _, running = _start_and_wait_for_a_training_point(tmp_path, grid, sqlite_url)
    os.killpg(sweep.pid, signal.SIGINT)  # what Ctrl-C on the terminal does
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130 and "interrupted" in err, err[-3000:]
    by_number = {t.number: t for t in _trials(sqlite_url)}
    for trial in running:
        assert by_number[trial.number].state == State.FAIL and by_number[trial.number].user_attrs["interrupted"] is True
    _sweep(tmp_path, grid, sqlite_url, 600)
    _assert_each_point_trained_once(_trials(sqlite_url), 4)


def test_a_one_point_grid_finishes_with_its_worker_alive(tmp_path: Path, sqlite_url: str) -> None:
    """Optuna's grid sampler stops a study at its last point by a grid id queued trials lack: it
    killed the worker of every grid at its last point (a KeyError in the log) until energan's
    sampler left the ending to the queue."""
    grid = tmp_path / "one.toml"
    grid.write_text('[knobs]\nseed = [0]\n\n[set]\nbatch_size = 16\n"metrics.inception_score.samples" = 100\n')
    result = _sweep(tmp_path, grid, sqlite_url, 5)
    assert "1/1 points (done 1, running 0, queued 0, failed 0)" in result.stdout and "exited" not in result.stderr
    logs = "".join(log.read_text() for log in (tmp_path / "runs" / "sweeps" / "tiny" / "logs").glob("*.log"))
    assert "Traceback" not in logs


def test_a_worker_that_dies_fails_the_sweep_and_names_its_point(tmp_path: Path, sqlite_url: str) -> None:
    grid = _grid(tmp_path)
    sweep, _, running = _start_and_wait_for_a_training_point(tmp_path, grid, sqlite_url)
    worker = running[0].user_attrs["worker"]
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)  # the only worker, mid-point
    _, err = sweep.communicate(timeout=120)
    point = running[0].system_attrs["energan_point"]
    assert sweep.returncode == 1
    assert f"energan-sweep-worker-0 exited with code -9 while training ebgan point {point} {running[0].params}" in err


def test_killed_sweep_resumes_without_losing_or_repeating_a_point(tmp_path: Path, sqlite_url: str) -> None:
    grid = _grid(tmp_path)
    first, done, running = _start_and_wait_for_a_training_point(tmp_path, grid, sqlite_url)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = {t.number: t.system_attrs["energan_point"] for t in running}
    finished_before = {t.number for t in done}

    _sweep(tmp_path, grid, sqlite_url, 600)
    trials = _trials(sqlite_url)
    _assert_each_point_trained_once(trials, 4)
    by_number = {t.number: t for t in trials}
    for number in finished_before:  # nothing that had finished ran again
        assert by_number[number].state == State.COMPLETE
    for number, point in killed.items():  # the killed attempt failed without an error, then its point ran once more
        assert by_number[number].state == State.FAIL and not {"error", "interrupted"} & set(by_number[number].user_attrs)
        later = [t for t in trials if t.system_attrs["energan_point"] == point and t.number > number and "surplus" not in t.user_attrs]
        assert [t.state for t in later] == [State.COMPLETE]
        assert by_number[number].user_attrs["run_dir"] != later[0].user_attrs["run_dir"]


def test_two_sweep_commands_share_one_storage(tmp_path: Path, sqlite_url: str) -> None:
    grid = _grid(tmp_path, extra="dropoutD = [true, false]")
    commands = [
        subprocess.Popen(
            _sweep_args(tmp_path, grid, sqlite_url, 150), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for command in commands:
        out, err = command.communicate(timeout=600)
        assert command.returncode == 0, err[-3000:]
        assert "8/8 points (done 8" in out
    trials = _trials(sqlite_url)
    _assert_each_point_trained_once(trials, 8)
    workers = Counter(t.user_attrs["worker"] for t in trials if t.state == State.COMPLETE)
    assert len(workers) == 2, f"one command trained every point: {workers}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """ENERGAN_TEST_POSTGRES_URL (set by .ci/run), else a server started by .ci/postgres-start."""
    if url := os.environ.get("ENERGAN_TEST_POSTGRES_URL"):
        return url
    started = subprocess.run([str(ROOT / ".ci" / "postgres-start")], capture_output=True, text=True)
    if started.returncode != 0:
        reason = (started.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"PostgreSQL test skipped: {reason}")
        pytest.skip(f"no PostgreSQL server could be started: {reason}")
    return started.stdout.strip()


def test_two_workers_on_postgresql(tmp_path: Path, postgres_url: str, cli) -> None:
    study = f"tiny-{uuid.uuid4().hex[:8]}"
    args = _sweep_args(tmp_path, _grid(tmp_path), postgres_url, 20, "--workers", "2")
    args[args.index("tiny")] = study
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name=f"{study}/ebgan", storage=postgres_url).get_trials()
    _assert_each_point_trained_once(trials, 4)
    code, _out, err = cli("report", study, "--storage", postgres_url, "--output", tmp_path / "report")
    assert code == 0, err
    assert "| ebgan | 4 | 4 | 0 |" in (tmp_path / "report" / "report.md").read_text()
