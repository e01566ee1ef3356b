"""Sweep building blocks: grids, point configs, the progress board and the report's statistics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import optuna
import pytest

from energan.config import TrainConfig, resolve
from energan.errors import ConfigError
from energan.plugins import load_plugins
from energan.sweep.families import SweepSpec, load_family, validate
from energan.sweep.grids import NAMED_GRIDS, Grid, grid_from_dict, knob_overrides, load_grid
from energan.sweep.report_files import extremes
from energan.sweep.results import (
    FamilyResults,
    PointResult,
    bootstrap_median_interval,
    holm,
    paired_comparison,
    pooled,
    reliability,
    sign_test,
    summarize,
)
from energan.sweep.study import fail_unstarted, is_surplus, open_storage, points_to_queue, read_board

State = optuna.trial.TrialState


def test_paper_grids_have_the_papers_sizes() -> None:
    grid = NAMED_GRIDS["paper-mnist"]
    assert grid.size("ebgan") == 512 and grid.size("ebgan-pt") == 512
    assert grid.size("gan") == 6144
    assert NAMED_GRIDS["paper-mnist-32"].size("gan") == 32 and NAMED_GRIDS["paper-mnist-32"].size("began") == 32
    assert NAMED_GRIDS["paper-optim"].size("gan") == 12
    points = list(grid.points("ebgan"))
    assert len({tuple(p.items()) for p in points}) == 512


@pytest.mark.parametrize(
    ("knob", "value", "expected"),
    [
        ("nLayerG", 3, ["generator.n_layers=3"]),
        ("sizeD", 512, ["energy.size=512"]),
        ("dropoutD", True, ["energy.dropout=0.5"]),
        ("dropoutD", False, ["energy.dropout=0.0"]),
        ("lr", 0.01, ["lr_d=0.01", "lr_g=0.01"]),
        ("optimG", "sgd", ["optimizer_g=sgd"]),
        ("reg.pullaway.weight", 0.3, ["reg.pullaway.weight=0.3"]),
        ("ema", True, ["ema=true"]),
    ],
)
def test_knobs_become_config_overrides(knob: str, value: object, expected: list[str]) -> None:
    assert knob_overrides(knob, value) == expected


def test_point_config_of_a_gan_point() -> None:
    plugins = load_plugins()
    spec = SweepSpec(NAMED_GRIDS["paper-mnist"], load_family("gan"), steps=50, overrides=("batch_size=32",))
    point = {"nLayerG": 4, "nLayerD": 2, "sizeG": 800, "sizeD": 256, "dropoutD": True, "optimD": "sgd", "optimG": "adam", "lr": 1e-4}
    config = resolve(spec.config(point, "somewhere", "p0007"), plugins.registries)
    settings = config.settings
    assert (config.energy.name, config.loss.name, config.reg) == ("logit", "logistic", {})
    assert (config.generator.values["n_layers"], config.generator.values["size"]) == (4, 800)
    assert (config.energy.values["n_layers"], config.energy.values["size"], config.energy.values["dropout"]) == (2, 256, 0.5)
    assert (settings.optimizer_d, settings.optimizer_g, settings.lr_d, settings.lr_g) == ("sgd", "adam", 1e-4, 1e-4)
    assert (settings.steps, settings.batch_size, settings.runs_dir, settings.name, settings.eval_every) == (50, 32, "somewhere", "p0007", 0)
    assert list(config.metrics) == ["inception_score"]


def test_a_grid_or_set_can_turn_evaluations_on_but_not_rename_the_point(tmp_path: Path) -> None:
    """The sweep's defaults (no evaluation before the end) give way to a grid's [set] and to --set;
    its own settings (steps, name) are not a grid's to fix."""
    registries = load_plugins().registries
    path = tmp_path / "curves.toml"
    path.write_text("[knobs]\nseed = [0, 1]\n\n[set]\neval_every = 300\n")
    spec = SweepSpec(load_grid(str(path)), load_family("ebgan"), steps=900)
    config = resolve(spec.config({"seed": 1}, "r", "p0001"), registries)
    assert (config.settings.eval_every, config.settings.checkpoint_every, config.settings.steps, config.settings.name) == (
        300,
        900,
        900,
        "p0001",
    )
    overridden = SweepSpec(load_grid(str(path)), load_family("ebgan"), steps=900, overrides=("eval_every=450",))
    assert resolve(overridden.config({"seed": 1}, "r", "p"), registries).settings.eval_every == 450
    path.write_text("[knobs]\nseed = [0, 1]\n\n[set]\nsteps = 7\n")
    with pytest.raises(ConfigError, match=r"^grid .*curves.toml: \[set\] steps is the sweep's setting; set it with --steps$"):
        load_grid(str(path))


@pytest.mark.parametrize("grid", ["paper-mnist", "paper-mnist-32", "paper-optim"])
@pytest.mark.parametrize("family", ["ebgan", "ebgan-pt", "gan", "began", "magan"])
def test_paper_grids_change_only_the_papers_knobs(grid: str, family: str) -> None:
    """A grid point is the family's shipped recipe with the knob values applied, nothing else."""
    plugins = load_plugins()
    spec = SweepSpec(NAMED_GRIDS[grid], load_family(family))
    point = next(spec.grid.points(family))
    config = resolve(spec.config(point, "r", "p0000"), plugins.registries)
    shipped = resolve(TrainConfig.from_dict(spec.family.config), plugins.registries)
    knob_keys = {item.split("=")[0] for knob, value in point.items() for item in knob_overrides(knob, value)}
    for setting in ("lr_d", "lr_g", "optimizer_d", "optimizer_g", "ema", "warmup_steps", "augment", "augment_shift", "batch_size"):
        if setting not in knob_keys:
            assert getattr(config.settings, setting) == getattr(shipped.settings, setting), setting
    assert (config.loss, config.reg) == (shipped.loss, shipped.reg)


def test_seeds_grid_runs_the_defaults_on_ten_seeds() -> None:
    plugins = load_plugins()
    spec = SweepSpec(NAMED_GRIDS["seeds"], load_family("ebgan"), steps=100)
    configs = [resolve(spec.config(point, "r", f"p{i}"), plugins.registries) for i, point in enumerate(spec.grid.points("ebgan"))]
    assert [config.settings.seed for config in configs] == list(range(10))
    defaults = resolve(spec.config({}, "r", "p"), plugins.registries)
    assert configs[3].energy == defaults.energy and configs[3].generator == defaults.generator and configs[3].data.name == "mnist5k"


def test_ebgan_pt_family_adds_the_pull_away_term() -> None:
    plugins = load_plugins()
    spec = SweepSpec(NAMED_GRIDS["paper-mnist-32"], load_family("ebgan-pt"))
    config = resolve(spec.config(next(spec.grid.points("ebgan-pt")), "r", "p0000"), plugins.registries)
    assert (config.energy.name, config.loss.name, list(config.reg)) == ("autoencoder", "margin", ["pullaway"])


def test_bad_grids_and_families_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown grid 'paper-mnst'.*did you mean 'paper-mnist'.*valid: paper-mnist, paper-mnist-32, paper-optim, seeds"
    ):
        load_grid("paper-mnst")
    with pytest.raises(ConfigError, match=r"nLayerG = \[\] must be a non-empty list"):
        grid_from_dict("g", {"knobs": {"nLayerG": []}}, "g.toml")
    with pytest.raises(ConfigError, match="repeats a value"):
        grid_from_dict("g", {"knobs": {"sizeD": [128, 128]}}, "g.toml")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) \['knob'\]"):
        grid_from_dict("g", {"knob": {"sizeD": [128]}}, "g.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_grid(str(tmp_path / "missing.toml"))


def test_a_grid_file_with_a_bad_knob_value_fails_before_any_point_runs(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[knobs]\nnLayerG = [2, 99]\n[family_knobs.gan]\nlr = [1e-3]\n[set]\nbatch_size = 16\n")
    grid = load_grid(str(path))
    assert grid == Grid("bad", {"nLayerG": [2, 99]}, {"gan": {"lr": [0.001]}}, {"batch_size": 16})
    with pytest.raises(ConfigError, match=r"nLayerG=99.*n_layers"):
        validate(SweepSpec(grid, load_family("ebgan")), load_plugins().registries)


def _trial(number: int, state: State, point: int | None, value: float | None = None, **user_attrs: object) -> optuna.trial.FrozenTrial:
    system_attrs = {} if point is None else {"energan_point": point}
    trial = optuna.trial.create_trial(state=state, value=value, user_attrs=user_attrs, system_attrs=system_attrs)
    trial.number = number
    return trial


GRID_SIZE = 6
HISTORY = [
    _trial(0, State.COMPLETE, 0, 5.0),
    _trial(1, State.FAIL, 1),  # its worker died: queued again as trial 6
    _trial(2, State.FAIL, 2, interrupted=True),  # Ctrl-C: to be queued again, not counted as a loss
    _trial(3, State.FAIL, 3, error="DataError: boom"),  # raised: final
    _trial(4, State.WAITING, 4),
    _trial(5, State.PRUNED, 0, surplus=True),
    _trial(6, State.COMPLETE, 1, 7.0),
    _trial(7, State.FAIL, 5),
    _trial(8, State.FAIL, 5),
    _trial(9, State.FAIL, 5),  # lost three times: failed
    _trial(10, State.RUNNING, None),  # asked for while the queue was empty: not a point's attempt
]


def test_board_counts_each_point_once() -> None:
    board = read_board(HISTORY, GRID_SIZE)
    assert (board.done, board.running, board.queued, board.failed, board.pending) == (2, 0, 2, 2, 0)
    assert board.best == 7.0 and board.claimable and not board.finished


def test_points_to_queue_are_the_interrupted_and_the_lost_within_the_retries() -> None:
    assert points_to_queue(HISTORY, GRID_SIZE) == [2]
    assert points_to_queue(HISTORY[:2], GRID_SIZE) == [1, 2, 3, 4, 5]  # point 1 lost once; 2-5 never tried


@pytest.mark.parametrize(
    ("trial", "surplus"),
    [
        (_trial(11, State.RUNNING, 4), True),  # trial 4 holds point 4 (queued, lower number)
        (_trial(11, State.RUNNING, 3), True),  # point 3 failed for good
        (_trial(11, State.RUNNING, 1), True),  # point 1 is complete
        (_trial(11, State.RUNNING, 2), False),  # point 2's attempt was interrupted: this is its retry
        (_trial(11, State.RUNNING, None), True),  # not taken from the queue
        (HISTORY[4], False),  # the first holder of point 4
    ],
)
def test_surplus_trials_repeat_a_held_point(trial: optuna.trial.FrozenTrial, surplus: bool) -> None:
    others = [other for other in HISTORY if other.number != trial.number]
    assert is_surplus(trial, [*others, trial]) is surplus


def test_duplicate_queued_trials_run_once() -> None:
    first, second = _trial(0, State.RUNNING, 7), _trial(1, State.RUNNING, 7)
    assert not is_surplus(first, [first, second]) and is_surplus(second, [first, second])


def test_summary_statistics_by_hand() -> None:
    points = [PointResult("ebgan", {}, score) for score in (1.0, 2.0, 3.0, 4.0, 5.0)] + [PointResult("ebgan", {}, None, "boom")]
    summary = summarize(points, threshold=3.0)
    # inclusive quartiles of 1..5: 2, 3, 4; the failed point counts as finished and below the threshold
    assert (summary.q1, summary.median, summary.q3, summary.iqr, summary.best) == (2.0, 3.0, 4.0, 2.0, 5.0)
    assert (summary.finished, summary.failed) == (6, 1)
    assert summary.share_above == pytest.approx(3 / 6)
    empty = summarize([PointResult("gan", {}, None, "boom")], threshold=3.0)
    assert math.isnan(empty.median) and empty.share_above == 0.0


def test_a_trial_whose_worker_died_before_starting_is_failed_after_the_grace() -> None:
    study = optuna.create_study()
    started, unstarted = study.ask(), study.ask()
    started.set_user_attr("worker", "host:1")
    fail_unstarted(study, study.get_trials(deepcopy=False), grace=3600)
    assert [t.state for t in study.get_trials()] == [State.RUNNING, State.RUNNING]  # still within the grace
    fail_unstarted(study, study.get_trials(deepcopy=False), grace=-1)
    assert [t.state for t in study.get_trials()] == [State.RUNNING, State.FAIL]
    assert unstarted.number == 1


def test_sqlite_transactions_take_the_write_lock_when_they_begin(tmp_path: Path) -> None:
    """SQLite ignores FOR UPDATE: taking a trial off the queue is atomic only if reads lock too."""
    import sqlalchemy.exc

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    with storage.engine.connect() as holder:
        holder.begin()
        holder.exec_driver_sql("SELECT count(*) FROM trials").all()  # a read-only transaction ...
        other = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 's.db'}", connect_args={"timeout": 0.1})
        with pytest.raises(sqlalchemy.exc.OperationalError, match="database is locked"), other.begin() as second:
            second.exec_driver_sql("UPDATE trials SET state = state")  # ... already blocks writers
        holder.rollback()


def test_eta_divides_by_the_points_trained_at_once() -> None:
    from energan.sweep.monitor import eta_seconds
    from energan.sweep.study import Board

    assert eta_seconds(Board(total=10, done=4), workers=2) is None  # nothing timed yet
    board = Board(total=10, done=3, failed=1, running=3, seconds_per_point=10.0)
    assert eta_seconds(board, workers=1) == pytest.approx(2 * 10.0)  # 6 left, 3 at a time (other machines share it)
    assert eta_seconds(board, workers=4) == pytest.approx(2 * 10.0)  # 6 left, 4 at a time: still two rounds
    last = Board(total=10, done=9, running=1, seconds_per_point=10.0)
    assert eta_seconds(last, workers=4) == pytest.approx(10.0)  # a point is not split between workers


def test_report_covers_knobs_the_families_do_not_share(tmp_path: Path) -> None:
    from energan.sweep.report_files import markdown, own_knobs, write_figures
    from energan.sweep.results import FamilyResults

    def family(name: str, knobs: dict, scores: list[float]) -> FamilyResults:
        points = [
            dict(zip(knobs, values, strict=True)) for values in zip(*[v * (len(scores) // len(v)) for v in knobs.values()], strict=True)
        ]
        return FamilyResults(name, knobs, len(scores), [PointResult(name, p, s) for p, s in zip(points, scores, strict=True)])

    ebgan = family("ebgan", {"nLayerG": [2, 3]}, [5.0, 6.0])
    gan = family("gan", {"nLayerG": [2, 3], "lr": [0.01, 0.001]}, [1.0, 2.0, 3.0, 4.0])
    assert [(f.family, knob) for f, knob, _ in own_knobs([ebgan, gan])] == [("gan", "lr")]
    figures = write_figures([ebgan, gan], tmp_path, ceiling=9.0, pairs=[])
    assert {path.name for path in figures} == {"hist-all.png", "hist-nLayerG.png", "hist-gan-lr.png"}
    assert all(path.stat().st_size > 0 for path in figures)
    text = markdown([ebgan, gan], "s", threshold=2.5, figures=figures, ceiling=4.0, fraction=0.85)
    assert "## Reliability per family" in text and "| gan | 4 | 0 | 2.50 [" in text  # median of 1, 2, 3, 4
    assert "| gan | lr | 0.01 | 2.00 [1.50, 2.50] · 50 % |" in text  # scores 1 and 3
    assert "| gan | lr | 0.001 | 3.00 [2.50, 3.50] · 50 % |" in text  # scores 2 and 4
    assert "## Families point by point" not in text  # the GAN's lr points have no EBGAN point to pair with


# ---------------------------------------------------------------- reliability (issue: the paper's grid on real digits)


def scored(score: float | None, classes: float = 10.0, seconds: float = 60.0) -> PointResult:
    details = {"classes_present": classes} if score is not None else {}
    return PointResult("ebgan", {"seed": 0}, score, None if score is not None else "boom", 10.0, details, seconds)


def test_reliability_of_a_hand_made_table() -> None:
    points = [scored(9.0), scored(8.5), scored(8.0), scored(None), scored(3.0, classes=2)]
    r = reliability(points, real_score=10.0, fraction=0.85)
    assert (r.points, r.failed) == (5, 1)
    assert r.median == 8.25  # of the four scores: (8.0 + 8.5) / 2
    assert r.share_good == 2 / 5  # 9.0 and 8.5 reach 8.5; the failed point counts against
    assert r.share_collapsed == 1 / 5  # the 2-class point
    assert r.low <= r.median <= r.high


def test_bootstrap_interval_of_hand_made_scores() -> None:
    assert bootstrap_median_interval([7.0] * 6) == (7.0, 7.0)
    # Three scores: the resampled median is 1 or 3 with probability 7/27 each, so the 2.5th and
    # 97.5th percentiles of 10 000 resamples are the extremes.
    assert bootstrap_median_interval([1.0, 2.0, 3.0]) == (1.0, 3.0)
    many = [float(i) for i in range(40)]
    low, high = bootstrap_median_interval(many)
    assert 12 < low < 19.5 < high < 27  # around the median 19.5, inside the quartiles 9.75 and 29.25
    assert bootstrap_median_interval(many) == (low, high)  # a fixed seed: the report is reproducible
    assert all(math.isnan(v) for v in bootstrap_median_interval([]))


def test_pooled_sweeps_join_each_familys_points() -> None:
    knobs = {"nLayerG": [2, 4]}
    seed0 = [FamilyResults("ebgan", knobs, 2, [scored(8.0), scored(7.0)]), FamilyResults("gan", knobs, 2, [scored(6.0)])]
    seed1 = [FamilyResults("ebgan", knobs, 2, [scored(9.0)])]
    ebgan, gan = pooled([seed0, seed1])
    assert (ebgan.family, ebgan.grid_size, [p.score for p in ebgan.points]) == ("ebgan", 4, [8.0, 7.0, 9.0])
    assert (gan.family, gan.grid_size) == ("gan", 2)
    with pytest.raises(ConfigError, match="sweeps other knobs"):
        pooled([seed0, [FamilyResults("ebgan", {"sizeD": [128]}, 1, [])]])


def test_a_report_names_the_dataset_of_a_hand_made_table() -> None:
    from energan.sweep.report_files import markdown

    knobs = {"nLayerG": [2, 4]}
    ebgan = FamilyResults("ebgan", knobs, 2, [scored(8.0), scored(7.0)], data="mnist5k")
    gan = FamilyResults("gan", knobs, 2, [scored(6.0)], data="mnist5k")
    report = {"sweep": "s", "threshold": 6.5, "figures": [], "ceiling": None, "fraction": 0.85}
    assert "\nData: mnist5k.\n" in markdown([ebgan, gan], **report)
    other = dataclasses.replace(gan, data="mnist")
    assert "\nData: ebgan on mnist5k, gan on mnist.\n" in markdown([ebgan, other], **report)
    assert "\nData: not recorded.\n" in markdown([dataclasses.replace(ebgan, data="")], **report)
    with pytest.raises(ConfigError, match="'ebgan' trained on 'mnist5k' in one sweep and on 'mnist' in another"):
        pooled([[ebgan], [dataclasses.replace(ebgan, data="mnist")]])


def test_extremes_are_the_best_median_and_worst_scored_points() -> None:
    family = FamilyResults("ebgan", {}, 5, [scored(5.0), scored(None), scored(9.0), scored(7.0), scored(6.0)])
    assert {rank: p.score for rank, p in extremes(family).items()} == {"best": 9.0, "median": 6.0, "worst": 5.0}
    assert extremes(FamilyResults("gan", {}, 1, [scored(None)])) == {}


def seeded(family: str, sweep: str, layers: int, score: float | None) -> PointResult:
    return PointResult(family, {"nLayerG": layers}, score, None if score is not None else "boom", 10.0, sweep=sweep)


def test_families_compared_point_by_point_on_a_hand_made_table() -> None:
    knobs = {"nLayerG": [2, 4]}

    def family(name: str, scores: dict[tuple[str, int], float | None]) -> FamilyResults:
        return FamilyResults(name, knobs, 4, [seeded(name, sweep, layers, score) for (sweep, layers), score in scores.items()])

    ebgan = family("ebgan", {("s0", 2): 7.0, ("s0", 4): 5.0, ("s1", 2): 6.0, ("s1", 4): 8.0})
    gan = family("gan", {("s0", 2): 6.0, ("s0", 4): 5.0, ("s1", 2): 3.0, ("s1", 4): None})
    c = paired_comparison(ebgan, gan)
    # Pairs on (sweep, nLayerG): s0/2 → +1, s0/4 → 0 (a tie), s1/2 → +3; s1/4 is left out (the GAN's point failed).
    assert (c.first, c.second, c.pairs) == ("ebgan", "gan", 3)
    assert c.median_difference == 1.0
    assert (c.first_higher, c.second_higher) == (2, 0)
    assert c.p_value == 0.5  # two wins, no loss: 2 × (½)²
    assert c.low <= c.median_difference <= c.high
    mirrored = paired_comparison(gan, ebgan)
    assert (mirrored.median_difference, mirrored.first_higher, mirrored.second_higher) == (-1.0, 0, 2)
    with pytest.raises(ConfigError, match="ebgan and gan sweep other knobs"):
        paired_comparison(ebgan, FamilyResults("gan", {**knobs, "lr": [0.01]}, 2, gan.points))


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [
        (0, 0, math.nan),
        (1, 1, 1.0),
        (3, 0, 0.25),  # 2 × 1/8
        (0, 3, 0.25),
        (8, 2, 2 * (1 + 10 + 45) / 1024),  # P(≤ 2 of 10) = 56/1024, doubled
        (20, 0, 2 / 2**20),
    ],
)
def test_sign_test_by_hand(wins: int, losses: int, expected: float) -> None:
    p = sign_test(wins, losses)
    assert math.isnan(p) if math.isnan(expected) else p == pytest.approx(expected)


def test_holm_adjustment_by_hand() -> None:
    # Sorted 0.01, 0.02, 0.04 (three tests): × 3, × 2, × 1 → 0.03, 0.04, 0.04; the untestable NaN stays.
    adjusted = holm([0.04, 0.01, math.nan, 0.02])
    assert adjusted[:2] == pytest.approx([0.04, 0.03]) and math.isnan(adjusted[2]) and adjusted[3] == pytest.approx(0.04)
    assert holm([0.02, 0.9]) == pytest.approx([0.04, 0.9])  # monotone: 0.9 × 1 stays above 0.04
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # 0.6 × 2 capped at 1; the larger one kept monotone
    assert holm([]) == []


def test_a_pooled_report_compares_families_and_names_each_points_seed(tmp_path: Path) -> None:
    from energan.sweep.report_files import extremes_markdown, markdown, points_markdown

    knobs = {"nLayerG": [2, 4]}
    ebgan = FamilyResults("ebgan", knobs, 4, [seeded("ebgan", s, n, 7.0) for s in ("s0", "s1") for n in (2, 4)])
    gan = FamilyResults("gan", knobs, 4, [seeded("gan", s, n, 6.0) for s in ("s0", "s1") for n in (2, 4)])
    text = markdown([ebgan, gan], "s0 + s1", threshold=6.5, figures=[], ceiling=10.0, fraction=0.85)
    assert "## Families point by point" in text
    assert "| ebgan | gan | 4 | +1.00 [+1.00, +1.00] | 4 | 0 | 0.12 | 0.12 |" in text  # 2 × (½)⁴ = 0.125, one test
    table = points_markdown([ebgan, gan], fraction=0.95, min_share=0.05, montage=None)
    assert "| ebgan | nLayerG=2 (s0) |" in table and "| gan | nLayerG=4 (s1) |" in table
    # the best, median and worst name their seed even when all three come from one sweep
    caption = extremes_markdown([("ebgan", "best", ebgan.points[0], Path("samples-ebgan-best.png"))], with_sweep=True)
    assert "**ebgan, best** (IS 7.00; nLayerG=2 (s0))" in caption
    assert "## Families point by point" not in markdown([gan], "s0", threshold=6.5, figures=[], ceiling=10.0, fraction=0.85)
