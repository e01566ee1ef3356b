"""Fault injection: energan's recovery end to end, through the real CLI in subprocesses (issue 14).

    python benchmarks/fault_injection.py [--trials N] [--seed S] [--workdir DIR] [--scenario NAME]

Six scenarios, each repeated over N trials at moments drawn from a seeded RNG: kill -9 (at a
random step, or while a checkpoint is being written) then resume; SIGINT, and SIGTERM (exit 143),
then resume (with dropout and a metric evaluated at the stop); two resumes of one run at once; a full disk (a small
tmpfs: needs root, else skipped); a torn last.pt. Every resumed run must end with the weights,
EMA, optimizer states and RNG streams of an uninterrupted reference run, bit for bit, and a
metrics.jsonl with every step once. Prints a markdown table, writes DIR/results.json, and exits
0 only if every trial passed. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # runnable from a source checkout, like the CLI it starts

from benchmarks.quick_config import QUICK_CONFIG  # noqa: E402
from energan.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from energan.errors import CheckpointError  # noqa: E402
from energan.records import SPEED  # noqa: E402

STEPS = 200
CHECKPOINT_EVERY = ("--set", "checkpoint_every=2")  # the tests' config, with a checkpoint every other step to kill
CPU = ("--set", "device=cpu")
PLAIN: tuple[str, ...] = ()
EVALUATED = (
    *("--set", "energy.dropout=0.3", "--metric", "inception_score"),
    *("--set", "metrics.inception_score.samples=100", "--set", "metrics.inception_score.training_samples=100"),
    *("--set", "metrics.inception_score.splits=2"),
)
VOLATILE = ("time", *SPEED)  # metrics.jsonl fields that differ between equal runs
COMMAND_TIMEOUT_S = 1800  # the first evaluated run trains the Inception Score's classifier
POLL_S = 0.005
JITTER_S = 0.1  # a signal lands up to this long after the drawn step's log line: within the next steps or their checkpoint
WRITE_POLL_S = 0.0002
WAIT_FOR_WRITE_S = 10.0


class TrialFailure(Exception):
    """A check that failed; its message is the trial's reason."""


class MountError(Exception):
    """A tmpfs could not be mounted (not root, no mount permission, no mount command)."""


@dataclasses.dataclass
class Finished:
    """A finished CLI command: its exit code, output and wall time."""

    label: str
    pid: int
    code: int
    out: str
    err: str
    seconds: float

    def last_line(self) -> str:
        lines = [line for line in (self.err + self.out).splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"


@dataclasses.dataclass
class Process:
    """A running CLI command whose stdout and stderr go to ``logs/LABEL.out`` and ``.err``."""

    label: str
    popen: subprocess.Popen
    started: float
    out: Path
    err: Path

    def finish(self) -> Finished:
        return finish_all([self])[0]


def kill(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        popen.kill()
        popen.wait()


def finish_all(processes: list[Process]) -> list[Finished]:
    """Wait for every process, each timed to its own exit; on a timeout or Ctrl-C, kill them first."""
    ended: dict[int, float] = {}
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    try:
        while len(ended) < len(processes):
            for index, process in enumerate(processes):
                if index not in ended and process.popen.poll() is not None:
                    ended[index] = time.monotonic()
            if time.monotonic() > deadline:
                raise TrialFailure(f"timed out after {COMMAND_TIMEOUT_S} s: {', '.join(p.label for p in processes)}")
            time.sleep(POLL_S)
    except BaseException:
        for process in processes:
            kill(process.popen)
        raise
    return [
        Finished(p.label, p.popen.pid, p.popen.returncode, p.out.read_text(), p.err.read_text(), ended[i] - p.started)
        for i, p in enumerate(processes)
    ]


@dataclasses.dataclass
class Energan:
    """Starts ``python -m energan.cli`` in subprocesses with the session's environment."""

    env: dict[str, str]
    cwd: Path
    logs: Path
    started: list[subprocess.Popen] = dataclasses.field(default_factory=list)

    def start(self, label: str, *args: str | Path) -> Process:
        out, err = self.logs / f"{label}.out", self.logs / f"{label}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-m", "energan.cli", *map(str, args)], stdout=stdout, stderr=stderr, env=self.env, cwd=self.cwd
            )
        self.started.append(popen)
        return Process(label, popen, time.monotonic(), out, err)

    def run(self, label: str, *args: str | Path) -> Finished:
        return self.start(label, *args).finish()

    def kill_running(self) -> None:
        """Kill what a failed trial left running."""
        for popen in self.started:
            kill(popen)
        self.started.clear()


@dataclasses.dataclass
class Reference:
    """An uninterrupted run: its final checkpoint and its logged training scalars by step."""

    checkpoint: Checkpoint
    log: dict[int, dict[str, Any]]
    seconds: float


@dataclasses.dataclass
class Session:
    """One invocation: its directory, the CLI, the config file and the reference runs."""

    root: Path
    energan: Energan
    references: dict[str, Reference] = dataclasses.field(default_factory=dict)

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def config(self) -> Path:
        return self.root / "quick.toml"

    def new_run(self, name: str, extra: tuple[str, ...]) -> tuple[str | Path, ...]:
        return ("train", "--config", self.config, "--name", name, *CPU, *CHECKPOINT_EVERY, *extra)

    def resume(self, label: str, run: Path) -> Finished:
        return self.energan.run(label, "train", "--resume", run, *CPU)

    def reference(self, extra: tuple[str, ...]) -> Reference:
        """The uninterrupted run of the config plus ``extra``, trained once."""
        name = "reference-evaluated" if extra else "reference-plain"
        if name not in self.references:
            classifier = " (the first evaluated run also trains the Inception Score's classifier: minutes)" if extra else ""
            print(f"training {name}{classifier}", flush=True)
            finished = self.energan.run(name, *self.new_run(name, extra))
            if finished.code != 0:
                raise TrialFailure(f"reference run {name} failed (exit {finished.code}): {finished.last_line()}")
            checkpoint = load_checkpoint(self.runs / name)
            log = {record["step"]: record for record in train_records(self.runs / name)}
            self.references[name] = Reference(checkpoint, log, finished.seconds)
            print(f"  {name}: {finished.seconds:.1f} s", flush=True)
        return self.references[name]


# ---- observing a run -----------------------------------------------------------------------


def train_records(run: Path) -> list[dict[str, Any]]:
    """The ``kind: train`` lines of the run's metrics.jsonl (an incomplete last line is skipped)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return [record for record in records if record.get("kind") == "train"]


def logged_step(run: Path) -> int:
    records = train_records(run)
    return records[-1]["step"] if records else 0


def partial_writes(run: Path) -> list[str]:
    """Names of the temporary files of unfinished atomic writes under the run."""
    return sorted(path.name for path in run.rglob(".*.tmp"))


def wait_for_step(process: Process, run: Path, step: int) -> None:
    """Block until the run has logged ``step``; a process that exits first, or a timeout, fails the trial."""
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while logged_step(run) < step:
        if process.popen.poll() is not None:
            finished = process.finish()
            raise TrialFailure(f"{process.label} exited with {finished.code} before step {step}: {finished.last_line()}")
        if time.monotonic() > deadline:
            raise TrialFailure(f"{process.label} did not log step {step} within {COMMAND_TIMEOUT_S} s")
        time.sleep(POLL_S)


def wait_for_partial_write(process: Process, run: Path) -> bool:
    """Block until a checkpoint's temporary file exists (True), or give up after a while (False)."""
    directory = run / "checkpoints"
    deadline = time.monotonic() + WAIT_FOR_WRITE_S
    while time.monotonic() < deadline and process.popen.poll() is None:
        with os.scandir(directory) as entries:
            if any(entry.name.startswith(".") and entry.name.endswith(".tmp") for entry in entries):
                return True
        time.sleep(WRITE_POLL_S)
    return False


EXIT_CODES = {signal.SIGINT: 0, signal.SIGTERM: 128 + signal.SIGTERM}  # a stop that saved: Ctrl-C 0, SIGTERM 143


def stop_with_signal(
    session: Session, rng: random.Random, name: str, extra: tuple[str, ...], latest: int, stop: signal.Signals = signal.SIGINT
) -> int:
    """Start a run, send ``stop`` at a random moment after a random step up to ``latest``; the step it stopped at."""
    run = session.runs / name
    process = session.energan.start(f"{name}-train", *session.new_run(name, extra))
    wait_for_step(process, run, rng.randint(4, latest))
    time.sleep(rng.uniform(0, JITTER_S))
    process.popen.send_signal(stop)
    stopped = process.finish()
    match = re.match(r"stopped: .* at step (\d+)$", stopped.out.strip())
    if stopped.code != EXIT_CODES[stop] or match is None:
        raise TrialFailure(
            f"{stop.name}: exit {stopped.code}, expected {EXIT_CODES[stop]} and 'stopped: … at step N': {stopped.last_line()}"
        )
    step = int(match.group(1))
    saved = load_or_fail(run, f"after {stop.name}")
    if saved.step != step:
        raise TrialFailure(f"{stop.name}: stopped at step {step} but last.pt holds step {saved.step}")
    return step


def load_or_fail(run: Path, when: str) -> Checkpoint:
    try:
        return load_checkpoint(run / "checkpoints" / "last.pt")
    except CheckpointError as error:
        raise TrialFailure(f"last.pt unreadable {when}: {error}") from None


# ---- checks --------------------------------------------------------------------------------


def first_difference(left: Any, right: Any, where: str) -> str | None:
    """The path of the first value that differs (tensors bit for bit), or None."""
    if isinstance(left, torch.Tensor) or isinstance(right, torch.Tensor):
        same = isinstance(left, torch.Tensor) and isinstance(right, torch.Tensor) and left.dtype == right.dtype
        return None if same and left.shape == right.shape and torch.equal(left, right) else where
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return f"{where} (keys {sorted(map(str, left.keys() ^ right.keys()))})"
        return next((d for key in left if (d := first_difference(left[key], right[key], f"{where}.{key}"))), None)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple) and len(left) == len(right):
        return next((d for i, (a, b) in enumerate(zip(left, right, strict=True)) if (d := first_difference(a, b, f"{where}[{i}]"))), None)
    return None if left == right else where


def check_finished(result: Finished) -> None:
    if result.code != 0 or not result.out.startswith("finished: ") or not result.out.strip().endswith(f"at step {STEPS}"):
        raise TrialFailure(f"{result.label}: exit {result.code}, expected 0 and 'finished: … at step {STEPS}': {result.last_line()}")


def check_same_as_reference(run: Path, reference: Reference) -> None:
    """Weights, EMA, optimizer states and RNG streams of last.pt equal the reference's, bit for bit."""
    final = load_or_fail(run, "after the resume")
    if final.step != STEPS:
        raise TrialFailure(f"last.pt is at step {final.step}, not {STEPS}")
    for part in ("model", "training"):
        where = first_difference(getattr(final, part), getattr(reference.checkpoint, part), part)
        if where:
            raise TrialFailure(f"{where} differs from the uninterrupted run")


def check_log(run: Path, reference: Reference) -> None:
    """Every logged training step once, in order, with the reference's values (a stop may log one step more)."""
    records = train_records(run)
    steps = [record["step"] for record in records]
    twice = sorted({step for step in steps if steps.count(step) > 1})
    if twice:
        raise TrialFailure(f"metrics.jsonl logs step(s) {twice[:5]} more than once")
    if steps != sorted(steps):
        raise TrialFailure("metrics.jsonl's training steps are out of order")
    missing = sorted(reference.log.keys() - set(steps))
    if missing:
        raise TrialFailure(f"metrics.jsonl lacks step(s) {missing[:5]}")
    for record in records:
        theirs = reference.log.get(record["step"], {})
        differ = [key for key in theirs if key not in VOLATILE and record.get(key) != theirs[key]]
        if differ:
            raise TrialFailure(
                f"metrics.jsonl step {record['step']}: {differ[0]} {record.get(differ[0])} ≠ {theirs[differ[0]]} (reference)"
            )


def check_resumed_run(run: Path, reference: Reference) -> None:
    check_same_as_reference(run, reference)
    check_log(run, reference)
    left = partial_writes(run)
    if left:
        raise TrialFailure(f"temporary files left after the resume: {', '.join(left)}")


def one_error_line(result: Finished) -> str:
    """The command's single ``energan: error:`` line; a traceback or several lines fail the trial."""
    if "Traceback" in result.err:
        raise TrialFailure(f"{result.label}: a Python traceback in stderr ending {result.last_line()!r}")
    lines = [line for line in result.err.splitlines() if line.startswith("energan: error:")]
    if len(lines) != 1:
        raise TrialFailure(f"{result.label}: {len(lines)} 'energan: error:' lines in stderr: {result.last_line()!r}")
    return lines[0]


# ---- scenarios -----------------------------------------------------------------------------


def kill_and_resume(session: Session, rng: random.Random, trial: int) -> str:
    """kill -9 after a random step (even trials: exactly while a checkpoint's temporary file exists), then resume."""
    reference = session.reference(PLAIN)
    name, during_write = f"kill-{trial}", trial % 2 == 0
    run = session.runs / name
    process = session.energan.start(f"{name}-train", *session.new_run(name, PLAIN))
    wait_for_step(process, run, rng.randint(4, STEPS - 10))
    jitter = rng.uniform(0, JITTER_S)  # drawn in every trial, so a trial's moments do not depend on the others' kinds
    caught = during_write and wait_for_partial_write(process, run)
    if not during_write:
        time.sleep(jitter)
    process.popen.send_signal(signal.SIGKILL)
    killed = process.finish()
    if killed.code != -signal.SIGKILL:
        raise TrialFailure(f"the run was not killed (exit {killed.code}): {killed.last_line()}")
    left, step = partial_writes(run), logged_step(run)
    saved = load_or_fail(run, "after kill -9")
    resumed = session.resume(f"{name}-resume", run)
    check_finished(resumed)
    if "is corrupt" in resumed.err:
        raise TrialFailure(f"the resume fell back from last.pt: {resumed.err.strip().splitlines()[0]}")
    check_resumed_run(run, reference)
    moment = f"during a write (left {', '.join(left) or 'nothing'})" if during_write else "at a random moment"
    return f"killed after step {step} {moment}{'' if caught or not during_write else ' (no write caught)'}; resumed from step {saved.step}"


def interrupt_and_resume(session: Session, rng: random.Random, trial: int, stop: signal.Signals = signal.SIGINT) -> str:
    """SIGINT (or SIGTERM) at a random moment of a run with dropout and an Inception Score at the stop, then resume."""
    reference = session.reference(EVALUATED)
    name = f"{stop.name.lower()}-{trial}"
    run = session.runs / name
    step = stop_with_signal(session, rng, name, EVALUATED, STEPS - 10, stop)
    check_finished(session.resume(f"{name}-resume", run))
    check_resumed_run(run, reference)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    at_stop = [record for record in records if record["kind"] == "eval" and record["step"] == step]
    if not at_stop:
        raise TrialFailure(
            f"resumed exactly, but the stop at step {step} logged no evaluation (metrics.jsonl has no eval line at that step)"
        )
    return f"stopped at step {step} with inception_score {at_stop[0]['inception_score']:.4f}; resumed"


def terminate_and_resume(session: Session, rng: random.Random, trial: int) -> str:
    """SIGTERM, as a scheduler sends before it preempts a job: exit 143, then the same as SIGINT."""
    return interrupt_and_resume(session, rng, trial, signal.SIGTERM)


def concurrent_resumes(session: Session, rng: random.Random, trial: int) -> str:
    """Two resumes of one stopped run at once: one refused in one line, the other finishes."""
    reference = session.reference(PLAIN)
    name = f"concurrent-{trial}"
    run = session.runs / name
    step = stop_with_signal(session, rng, name, PLAIN, STEPS // 2)  # leave the winner work to do while the other starts
    both = [session.energan.start(f"{name}-resume-{which}", "train", "--resume", run, *CPU) for which in "ab"]
    results = finish_all(both)
    refused = [result for result in results if result.code != 0]
    if len(refused) != 1:
        raise TrialFailure(f"exit codes {[r.code for r in results]}: expected exactly one refused: {results[-1].last_line()}")
    loser, winner = refused[0], next(result for result in results if result.code == 0)
    expected = f"energan: error: run {run} is in use by process {winner.pid}; wait for it to finish or stop it first"
    line = one_error_line(loser)
    if loser.code != 1 or line != expected:
        raise TrialFailure(f"the refused process exited {loser.code} with {line!r}, expected 1 and {expected!r}")
    if loser.seconds >= winner.seconds:
        raise TrialFailure(f"the refused process took {loser.seconds:.1f} s, not less than the resume ({winner.seconds:.1f} s)")
    check_finished(winner)
    check_resumed_run(run, reference)
    return f"stopped at step {step}; one refused after {loser.seconds:.1f} s, the other finished in {winner.seconds:.1f} s"


@contextlib.contextmanager
def tmpfs(path: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at ``path`` for the ``with`` block."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], capture_output=True, text=True)
    except OSError as error:
        raise MountError(f"mount: {error.strerror}") from None
    if mounted.returncode != 0:
        raise MountError(mounted.stderr.strip() or f"mount exited {mounted.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def can_mount(session: Session) -> str | None:
    """None when a tmpfs can be mounted here, else why not."""
    try:
        with tmpfs(session.root / "mount-probe", 64):
            return None
    except MountError as error:
        return f"cannot mount a tmpfs ({error}); run as root with mount permission"


def full_disk(session: Session, rng: random.Random, trial: int) -> str:
    """Train on a tmpfs too small for the checkpoint history: one-line error, last.pt intact, resumable elsewhere."""
    reference = session.reference(PLAIN)
    name, size_kib = f"full-disk-{trial}", rng.randint(600, 2400)  # 3 to 15 checkpoints of about 155 KiB
    with tmpfs(session.root / name, size_kib) as disk:
        failed = session.energan.run(
            f"{name}-train", *session.new_run(name, PLAIN), "--set", f"runs_dir={disk}", "--set", "keep_checkpoints=1000"
        )
        line = one_error_line(failed)
        if failed.code != 1:
            raise TrialFailure(f"exit {failed.code} on a full disk, expected 1: {line}")
        saved = load_or_fail(disk / name, "after the disk filled")
        left = partial_writes(disk / name)
        if left:
            raise TrialFailure(f"temporary files left on the full disk: {', '.join(left)}")
        shutil.copytree(disk / name, session.runs / name)
    check_finished(session.resume(f"{name}-resume", session.runs / name))
    check_resumed_run(session.runs / name, reference)
    return f"{size_kib} KiB disk: {line!r}; last.pt (step {saved.step}) loads and resumes elsewhere"


def torn_last_checkpoint(session: Session, rng: random.Random, trial: int) -> str:
    """last.pt cut to a random length: the resume warns it falls back to the newest numbered checkpoint."""
    reference = session.reference(PLAIN)
    name = f"torn-{trial}"
    run = session.runs / name
    step = stop_with_signal(session, rng, name, PLAIN, STEPS - 10)
    last = run / "checkpoints" / "last.pt"
    size = last.stat().st_size
    kept = rng.randrange(size)
    os.truncate(last, kept)
    resumed = session.resume(f"{name}-resume", run)
    check_finished(resumed)
    expected = f"; resuming from step-{step:07d}.pt (step {step}) instead"
    warned = [line for line in resumed.err.splitlines() if line.startswith("energan: warning:") and "last.pt" in line]
    if len(warned) != 1 or not warned[0].endswith(expected):
        raise TrialFailure(f"expected one warning ending {expected!r}, got {warned}")
    check_resumed_run(run, reference)
    return f"stopped at step {step}, last.pt cut to {kept} of {size} bytes; warned and resumed from step-{step:07d}.pt"


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Session, random.Random, int], str]
    skip: Callable[[Session], str | None] = lambda session: None


SCENARIOS = (
    Scenario("kill-9", kill_and_resume),
    Scenario("sigint", interrupt_and_resume),
    Scenario("sigterm", terminate_and_resume),
    Scenario("concurrent-resume", concurrent_resumes),
    Scenario("full-disk", full_disk, can_mount),
    Scenario("torn-last-pt", torn_last_checkpoint),
)


# ---- running and reporting -----------------------------------------------------------------


@dataclasses.dataclass
class Summary:
    """One scenario's outcome over its trials."""

    scenario: str
    trials: int = 0
    passed: int = 0
    failed: int = 0
    seconds: float = 0.0
    first_failure: str = ""
    skipped: str = ""
    details: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def run_scenario(session: Session, scenario: Scenario, trials: int, seed: int) -> Summary:
    """All trials of one scenario, with its own RNG (seeded from ``seed`` and its name)."""
    summary = Summary(scenario.name)
    summary.skipped = scenario.skip(session) or ""
    if summary.skipped:
        print(f"[{scenario.name}] skipped: {summary.skipped}", flush=True)
        return summary
    rng = random.Random(f"{seed}-{scenario.name}")
    for trial in range(1, trials + 1):
        started = time.monotonic()
        try:
            note, passed = scenario.run(session, rng, trial), True
        except Exception as error:  # a failed check, or anything else that went wrong: the trial's reason
            note, passed = (str(error) if isinstance(error, TrialFailure) else f"{type(error).__name__}: {error}"), False
        finally:
            session.energan.kill_running()
        seconds = time.monotonic() - started
        summary.trials += 1
        summary.passed += passed
        summary.failed += not passed
        summary.seconds += seconds
        summary.first_failure = summary.first_failure or ("" if passed else f"trial {trial}: {note}")
        summary.details.append({"trial": trial, "passed": passed, "note": note, "seconds": round(seconds, 1)})
        print(f"[{scenario.name}] trial {trial}/{trials}: {'pass' if passed else 'FAIL'} ({seconds:.1f} s): {note}", flush=True)
    return summary


def table(summaries: list[Summary]) -> str:
    """The results as a markdown table."""
    rows = ["| scenario | trials | passed | failed | seconds | first failure |", "|---|---:|---:|---:|---:|---|"]
    for s in summaries:
        reason = f"skipped: {s.skipped}" if s.skipped else s.first_failure.replace("|", "\\|")
        rows.append(f"| {s.scenario} | {s.trials} | {s.passed} | {s.failed} | {s.seconds:.1f} | {reason} |")
    return "\n".join(rows)


def make_session(workdir: Path) -> Session:
    """A fresh directory for this invocation's runs and logs; the classifier cache is shared across invocations."""
    root = workdir / datetime.now().strftime("session-%Y%m%d-%H%M%S")
    (root / "logs").mkdir(parents=True)
    (root / "quick.toml").write_text(QUICK_CONFIG.format(steps=STEPS, runs=root / "runs"))
    env = {**os.environ, "ENERGAN_CACHE_DIR": str(workdir / "cache")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return Session(root, Energan(env, root, root / "logs"))


def source_fingerprint() -> str:
    """A hash of energan's sources, to catch a tree edited while the script runs (mixed versions)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "energan").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5, help="trials per scenario (default 5)")
    parser.add_argument("--seed", type=int, help="seed of the random moments (default: drawn, and printed)")
    parser.add_argument(
        "--workdir", type=Path, help="where runs, logs, the classifier cache and results.json go (default: a new temporary directory)"
    )
    parser.add_argument(
        "--scenario", action="append", choices=[s.name for s in SCENARIOS], help="run only this scenario; repeatable (default: all)"
    )
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="energan-faults-"))).resolve()
    session = make_session(workdir)
    fingerprint = source_fingerprint()
    print(f"seed {seed}, {args.trials} trial(s) per scenario, session {session.root}", flush=True)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    summaries = [run_scenario(session, scenario, args.trials, seed) for scenario in chosen]
    changed = source_fingerprint() != fingerprint
    report = table(summaries)
    print(f"\n{report}\n\nreference runs: " + ", ".join(f"{n} {r.seconds:.1f} s" for n, r in session.references.items()))
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seed": seed,
        "trials": args.trials,
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(), "torch": torch.__version__},
        "session": str(session.root),
        "energan_sources": fingerprint,
        "energan_sources_changed": changed,
        "references_seconds": {name: round(r.seconds, 1) for name, r in session.references.items()},
        "scenarios": [dataclasses.asdict(summary) for summary in summaries],
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {workdir / 'results.json'}")
    if changed:
        print(f"energan's sources under {REPO} changed while the script ran: these results mix versions", file=sys.stderr)
        return 1
    return 0 if all(summary.failed == 0 for summary in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
