"""The `energan` commands, their outputs, and their one-line errors."""

from __future__ import annotations

import codecs
import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from energan.checkpoint import load_checkpoint
from energan.cli import main
from energan.default_plugins.autoencoder import AutoEncoderParams
from energan.plugins import load_plugins


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("energan: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_help_and_plugins_do_not_import_torch_or_timm() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from energan.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plugins', '--all', '--json']) == 0\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'torchvision', 'triton', 'matplotlib') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_plugins_lists_builtins_with_components_and_parameters(cli) -> None:
    code, out, _ = cli("plugins", "--all", "--json")
    assert code == 0
    listing = json.loads(out)
    plugins = {row["name"]: row for row in listing["plugins"]}
    assert plugins["margin"]["distribution"] == "energan"
    assert plugins["margin"]["hooks"] == ["register_losses"]
    assert "on_log" in plugins["progress"]["hooks"]
    losses = {row["name"]: row for row in listing["components"]["losses"]}
    assert set(losses) >= {"margin", "logistic", "lsif"}
    margin_params = {p["name"]: p for p in losses["margin"]["params"]}
    assert margin_params["margin"]["default"] == 0.5 and margin_params["margin"]["help"]
    pullaway = next(row for row in listing["components"]["regularizers"] if row["name"] == "pullaway")
    impl = next(p for p in pullaway["params"] if p["name"] == "impl")
    assert impl["choices"] == ["auto", "fused", "triton", "reference"]


def test_plugins_without_all_hides_builtins(cli) -> None:
    code, out, _ = cli("plugins")
    assert code == 0
    assert "No third-party plugins" in out
    code, out, _ = cli("plugins", "--all")
    assert code == 0 and "autoencoder" in out and "pullaway" in out


def test_plugins_all_prints_square_brackets_and_whole_first_paragraphs(cli, monkeypatch) -> None:
    """Descriptions are text, not rich markup ([m − D(G(z))]⁺ survives), and a first sentence that
    wraps in its docstring is not cut at the line end."""
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = cli("plugins", "--all")
    assert code == 0
    assert "f_D = D(x) + [m − D(G(z))]⁺, f_G = D(G(z))." in out
    assert "with the real test images' score, the classes present and the protocol (N, splits, classifier accuracy)." in out


def test_plugins_all_lists_the_training_settings(cli) -> None:
    code, out, _ = cli("plugins", "--all", "--json")
    settings = {param["name"]: param for param in json.loads(out)["settings"]}
    assert code == 0 and {"steps", "batch_size", "lr_d", "warmup_steps", "augment", "ema_decay"} <= settings.keys()
    assert settings["augment"]["choices"] == ["auto", "translation", "none"] and settings["batch_size"]["default"] == 64
    assert "settings" not in json.loads(cli("plugins", "--json")[1])  # third-party plugins only: no settings


def test_unknown_plugin_name_lists_valid_choices(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(), "--energy", "autoencodr")
    line = one_line_error(err)
    assert code == 1
    assert "unknown energy 'autoencodr'" in line and "did you mean 'autoencoder'" in line and "valid:" in line


def test_unknown_regularizer_name(cli, quick_config) -> None:
    code, _, err = cli("train", "--config", quick_config(), "--reg", "pulaway")
    assert code == 1 and "unknown regularizer 'pulaway'" in one_line_error(err)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("loss.margin=abc", "loss 'margin'.margin: expected a number, got 'abc'"),
        ("loss.margin=-1", "outside the valid range"),
        ("energy.body=transformer", "'transformer' is not one of mlp, conv"),
        ("energy.n_layer=3", "did you mean 'n_layers'"),
        ("steps=0", "config.steps: 0 is outside the valid range"),
        ("optimizer=adamz", "unknown optimizer 'adamz'"),
        ("nonsense", "expected key=value"),
    ],
)
def test_bad_parameter_values(cli, quick_config, override: str, expected: str) -> None:
    code, _, err = cli("train", "--config", quick_config(), "--set", override)
    assert code == 1
    assert expected in one_line_error(err)


def test_missing_data_dir(cli, quick_config, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    code, _, err = cli("train", "--config", quick_config(), "--data-dir", missing)
    assert code == 1
    assert f"data directory {missing} does not exist" in one_line_error(err)


def test_a_config_saved_with_a_byte_order_mark_trains(cli, quick_config, tmp_path: Path) -> None:
    """Some Windows editors save UTF-8 with a byte-order mark, which TOML itself refuses."""
    config = quick_config(steps=2)
    config.write_bytes(codecs.BOM_UTF8 + config.read_bytes())
    code, _, err = cli("train", "--config", config, "--name", "bom")
    assert code == 0, err
    assert tomllib.loads((tmp_path / "runs" / "bom" / "config.toml").read_text())["steps"] == 2
    garbled = tmp_path / "garbled.toml"
    garbled.write_bytes(codecs.BOM_UTF8 + b"steps = 2\n\xff")
    code, _, err = cli("train", "--config", garbled)
    assert code == 1 and "is not UTF-8 text (byte 0xff at offset 13)" in one_line_error(err)


def test_missing_and_invalid_config_files(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", tmp_path / "absent.toml")
    assert code == 1 and "does not exist" in one_line_error(err)
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    code, _, err = cli("train", "--config", bad)
    assert code == 1 and "is not valid TOML" in one_line_error(err)


def test_train_writes_config_metrics_samples_and_checkpoints(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=8, extra="[reg.pullaway]\nweight = 0.2\n")
    code, out, err = cli("train", "--config", config, "--name", "full", "--set", "eval_every=4", "--set", "loss.margin=0.5")
    assert code == 0, out
    status_lines = [line for line in err.splitlines() if line.startswith("full ")]
    assert [line.split()[1] for line in status_lines] == ["2/8", "4/8", "6/8", "8/8"]  # plain lines off a terminal
    assert all("E real" in line and "it/s" in line and "ETA" in line for line in status_lines)
    run = tmp_path / "runs" / "full"
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["loss"] == {"name": "margin", "margin": 0.5}
    assert saved["reg"]["pullaway"] == {"weight": 0.2, "impl": "auto", "eps": 1e-8, "scope": "global"}
    assert saved["energy"]["size"] == 32 and saved["energy"]["n_layers"] == AutoEncoderParams().n_layers  # resolved defaults
    assert saved["plugins"]["margin"] == saved["plugins"]["pullaway"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == [2, 4, 6, 8]
    assert all(r["reg_pullaway"] >= 0 for r in records if r["kind"] == "train")
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000004.png", "step-0000008.png"]
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"last.pt", "step-0000004.png".replace("png", "pt")}
    assert load_checkpoint(run).step == 8


def test_existing_run_directory_is_not_overwritten(cli, quick_config) -> None:
    config = quick_config(steps=2)
    assert cli("train", "--config", config, "--name", "twice")[0] == 0
    code, _, err = cli("train", "--config", config, "--name", "twice")
    assert code == 1 and "already exists; continue it with --resume" in one_line_error(err)


def test_sample_and_evaluate(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=4, extra="[metrics.inception_score]\nsamples = 1000\ntraining_samples = 50\n")  # 100 per split
    assert cli("train", "--config", config, "--name", "scored", "--set", "eval_every=2")[0] == 0
    run = tmp_path / "runs" / "scored"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [e["inception_samples"] for e in evals] == [50, 1000]  # fewer during training, all at the end
    grid = tmp_path / "grid.png"
    code, out, _ = cli("sample", run, "-n", 16, "-o", grid)
    assert code == 0 and grid.stat().st_size > 0 and "wrote 16 samples" in out
    code, out, _ = cli("evaluate", run)
    assert code == 0 and "inception_score" in out
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "evaluate" and 1.0 <= last["inception_score"] <= 10.0
    assert last["inception_score_real"] > 8.5 and last["classifier_test_accuracy"] >= 0.95


def test_corrupt_checkpoint(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=4), "--name", "corrupt")[0] == 0
    run = tmp_path / "runs" / "corrupt"
    (run / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint at all")
    for command in (("sample", run), ("evaluate", run)):
        code, _, err = cli(*command)
        assert code == 1
        assert "is corrupt or not an energan checkpoint (truncated or garbled)" in one_line_error(err)
    (run / "checkpoints" / "step-0000004.pt").unlink()  # no intact checkpoint left to fall back on
    code, _, err = cli("train", "--resume", run)
    assert code == 1 and "is corrupt or not an energan checkpoint" in one_line_error(err)


def test_resume_of_a_missing_run(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", "--resume", tmp_path / "nothing")
    assert code == 1 and "not a run directory" in one_line_error(err)


def test_nan_loss_stops_with_last_good_checkpoint(cli, quick_config, tmp_path: Path) -> None:
    config = quick_config(steps=40)
    code, _, err = cli(
        "-p", "plugin_fixtures", "train", "--config", config, "--name", "nan", "--loss", "exploding", "--set", "loss.after=10"
    )
    assert code == 1
    assert "loss became NaN or infinite between steps 10 and 12" in one_line_error(err)
    state = load_checkpoint(tmp_path / "runs" / "nan")
    assert state.step == 8  # the last checkpoint before the NaN, intact and finite
    assert all(torch.isfinite(t).all() for t in state.model["generator"].values() if t.is_floating_point())


def test_example_plugin_file_trains(cli, quick_config) -> None:
    example = Path(__file__).parents[1] / "examples" / "norm_energy.py"
    code, _out, err = cli("-p", example, "train", "--config", quick_config(steps=4), "--energy", "norm", "--name", "norm")
    assert code == 0, err
    code, _, err = cli("-p", example, "train", "--config", quick_config(steps=4), "--energy", "norm", "--reg", "pullaway")
    assert code == 1 and "exposes none" in one_line_error(err)


def test_a_batch_larger_than_the_training_set_is_refused_in_one_line_and_leaves_no_directory(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "big", "--set", "batch_size=5000")
    assert code == 1
    assert err == "energan: error: batch_size 5000 is larger than the training set of digits-8 (1437 images); valid: 1 to 1437\n"
    assert not (tmp_path / "runs" / "big").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("steps=inf", "config.steps: expected an integer, got 'inf'"),
        ("lr_g=inf", "config.lr_g: inf is not a finite number"),
        ("loss.margin=inf", "loss 'margin'.margin: inf is not a finite number"),
        ("reg.pullaway.eps=inf", "regularizer 'pullaway'.eps: inf is not a finite number"),
        ("reg.pullaway.weight=nan", "regularizer 'pullaway'.weight: nan is not a finite number"),
        (
            "warmup_steps=5",
            "config: warmup_steps 5 exceeds steps 4; valid: 0 to 4 (4: the energy alone, on real data, the whole run), or -1 (auto)",
        ),
    ],
)
def test_nonsense_is_refused_when_the_config_is_resolved(cli, quick_config, tmp_path: Path, setting: str, message: str) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=4), "--name", "bad", "--reg", "pullaway", "--set", setting)
    assert (code, err) == (1, f"energan: error: {message}\n")
    assert not (tmp_path / "runs" / "bad").exists()


def test_resume_refuses_what_it_cannot_honour(cli, quick_config, tmp_path: Path) -> None:
    """A resume keeps its run's name and directory and never goes back below its step."""
    run = tmp_path / "runs" / "run"
    assert cli("train", "--config", quick_config(steps=4), "--name", "run")[0] == 0
    code, _, err = cli("train", "--resume", run, "--steps", "2")
    assert (code, err) == (1, "energan: error: --resume: steps 2 is below the run's step 4; valid: 4 or more\n")
    for setting in ("name=other", f"runs_dir={tmp_path / 'elsewhere'}"):
        code, _, err = cli("train", "--resume", run, "--set", setting)
        assert code == 1 and err.startswith(f"energan: error: --resume cannot change {setting.split('=')[0]} ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"steps = 4\n\xff\xfe = 1\n", "is not UTF-8 text (byte 0xff at offset 10)"),
        (b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n", "nests its arrays or tables too deeply to be a config"),
        (b"# " + b"x" * (4 * 2**20) + b"\n", "is larger than 4 MB: not a config"),
    ],
    ids=["not-utf8", "deeply-nested", "too-large"],
)
def test_unreadable_config_files_are_one_line_errors(cli, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    code, _, err = cli("train", "--config", path)
    assert (code, err) == (1, f"energan: error: config file {path} {message}\n")


def test_an_endless_config_file_is_refused_without_reading_it_all(cli) -> None:
    code, _, err = cli("train", "--config", "/dev/zero")
    assert (code, err) == (1, "energan: error: config file /dev/zero is larger than 4 MB: not a config\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seed", "99999999999999999999"), "config.seed: 99999999999999999999 is outside the valid range [0, 4611686018427387904]"),
        (("--set", "beta1=1.0"), "config.beta1: 1.0 is outside the valid range [0.0, 1.0)"),
        (("--name", "a\nb"), "run name 'a\\nb' must be a single directory name inside runs_dir"),
    ],
    ids=["seed-beyond-int64", "beta1-one", "newline-in-name"],
)
def test_bad_settings_are_one_line_errors(cli, quick_config, args: tuple[str, ...], message: str) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), *args)
    assert code == 1 and err.startswith(f"energan: error: {message}") and err.count("\n") == 1


def test_a_component_that_is_not_a_table_is_replaced_by_its_flag(cli, tmp_path: Path, quick_config) -> None:
    config = quick_config(steps=2)
    config.write_text("energy = 5\n" + config.read_text().replace('[energy]\nname = "autoencoder"\nsize = 32\n', ""))
    code, _, err = cli("train", "--config", config)
    assert (code, err) == (1, "energan: error: config: [energy] must be a table, got 5\n")
    assert cli("train", "--config", config, "--energy", "autoencoder", "--name", "switched")[0] == 0


def test_sampling_more_than_memory_holds_is_refused(cli, quick_config, tmp_path: Path) -> None:
    assert cli("train", "--config", quick_config(steps=2), "--name", "run")[0] == 0
    code, _, err = cli("sample", tmp_path / "runs" / "run", "-n", "2000000000000", "-o", tmp_path / "s.png")
    assert code == 1 and err.startswith("energan: error: -n 2000000000000: about ") and "GiB of memory available; at most " in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step": "abc"}, "step 'abc' is not a step number"),
        ({"best": "high"}, "best 'high' is not a number"),
        ({"training": [1, 2]}, "training is a list, not a record"),
        ({"model": {"generator": {"w": 3}, "energy": {}}}, "model.generator is not a set of tensors"),
        ({"data": {"key": "digits"}}, "its data record"),
    ],
    ids=["step", "best", "training", "weights", "data"],
)
def test_a_checkpoint_with_the_right_keys_and_wrong_types_is_one_line(
    cli, quick_config, tmp_path: Path, change: dict, message: str
) -> None:
    assert cli("train", "--config", quick_config(steps=4), "--name", "typed")[0] == 0
    path = tmp_path / "runs" / "typed" / "checkpoints" / "last.pt"
    torch.save({**torch.load(path, weights_only=True), **change}, path)
    code, _, err = cli("sample", tmp_path / "runs" / "typed", "-o", tmp_path / "s.png")
    assert code == 1 and err.startswith(f"energan: error: checkpoint {path} is corrupt (") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_report_thresholds_must_be_finite(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "some-sweep", f"--threshold={value}"])
    assert exit_info.value.code == 2
    assert f"argument --threshold: {value} is not a finite number" in capsys.readouterr().err


def test_a_plugin_energy_of_the_wrong_shape_is_a_one_line_error(cli, quick_config, tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "norm_energy.py"
    plugin = tmp_path / "wrong_shape.py"
    plugin.write_text(example.read_text().replace("self.f(x).square().sum(dim=1)", "self.f(x).square()"))
    code, _, err = cli("-p", plugin, "train", "--config", quick_config(steps=2), "--energy", "norm", "--name", "wrong")
    assert (code, err) == (1, "energan: error: energy NormEnergy returned shape (16, 32); expected [16], one energy per sample\n")
    assert not (tmp_path / "runs" / "wrong").exists()


def test_a_network_too_large_for_memory_is_a_one_line_error(cli, quick_config, tmp_path: Path) -> None:
    code, _, err = cli("train", "--config", quick_config(steps=2), "--name", "huge", "--set", "energy.size=10000000000")
    assert code == 1 and err.startswith("energan: error: energy 'autoencoder' (") and "size=10000000000" in err
    assert "does not fit in memory" in err and err.count("\n") == 1
    assert not (tmp_path / "runs" / "huge").exists()


def test_train_has_a_flag_for_every_training_setting_generated_from_its_declaration() -> None:
    from energan.cli import build_parser
    from energan.commands.train import _flag_overrides
    from energan.config import TrainSettings

    parser = build_parser(load_plugins())
    for field in dataclasses.fields(TrainSettings):  # --NAME VALUE, or --NAME for a switch
        flag, switch = "--" + field.name.replace("_", "-"), isinstance(field.default, bool)
        value = "true" if switch else str(field.default) or "x"
        args = parser.parse_args(["train", flag] if switch else ["train", flag, value])
        assert _flag_overrides(args) == [f"{field.name}={value}"]
    args = parser.parse_args(["train", "--batch-size", "32", "--no-ema", "--lr-decay-start", "0.5", "--log", "tensorboard", "--steps", "9"])
    assert sorted(_flag_overrides(args)) == ["batch_size=32", "ema=false", "log=tensorboard", "lr_decay_start=0.5", "steps=9"]


def test_a_bad_setting_flag_gets_the_same_one_line_error_as_set(cli) -> None:
    _, _, flag_err = cli("train", "--augment", "rotate", "--steps", "2")
    _, _, set_err = cli("train", "--set", "augment=rotate", "--steps", "2")
    assert (
        one_line_error(flag_err)
        == one_line_error(set_err)
        == "energan: error: config.augment: 'rotate' is not one of auto, translation, none"
    )
