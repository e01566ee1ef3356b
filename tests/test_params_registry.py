"""Parameter coercion and validation, the typed registries, and the training configuration."""

from __future__ import annotations

import dataclasses
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energan.commands.plugins_list import _describe
from energan.config import ComponentChoice, Resolved, TrainConfig, TrainSettings, apply_overrides, read_toml, resolve, save_config
from energan.default_plugins.autoencoder import AutoEncoderParams
from energan.default_plugins.generators import MLPGeneratorParams
from energan.default_plugins.inception import InceptionParams
from energan.default_plugins.margin import MarginParams
from energan.default_plugins.mnist5k import Mnist5kParams
from energan.default_plugins.pullaway import PullAwayParams
from energan.errors import ConfigError, PluginError
from energan.hookspecs import hookimpl
from energan.kinds import LOSS, REGULARIZER, ComponentKind
from energan.params import applying_dict, build_params, describe_params, param, params_dict
from energan.plugins import load_plugins
from energan.registry import Registry


@dataclasses.dataclass(frozen=True)
class Example:
    count: int = param(3, "an int", low=1, high=10)
    rate: float = param(0.5, "a float", low=0.0, high=1.0)
    flag: bool = param(False, "a bool")
    limit: int | None = param(None, "an optional int", low=0)
    mode: str = param("fast", "a choice", choices=("fast", "slow"))
    sizes: tuple[int, ...] = param((1, 2), "a tuple of ints")


@pytest.fixture(scope="module")
def registries():
    return load_plugins().registries


# ---------------------------------------------------------------- build_params: coercion


def test_defaults_when_no_values() -> None:
    assert build_params(Example, {}, "thing") == Example()


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("count", "7", 7),
        ("count", 7.0, 7),
        ("rate", "0.25", 0.25),
        ("rate", "1e-1", 0.1),
        ("rate", 1, 1.0),
        ("flag", "true", True),
        ("flag", "Yes", True),
        ("flag", "on", True),
        ("flag", "1", True),
        ("flag", "false", False),
        ("flag", "OFF", False),
        ("flag", "0", False),
        ("flag", True, True),
        ("limit", "none", None),
        ("limit", "None", None),
        ("limit", None, None),
        ("limit", "4", 4),
        ("mode", "slow", "slow"),
        ("sizes", "3, 4,5", (3, 4, 5)),
        ("sizes", [6, "7"], (6, 7)),
    ],
)
def test_coercion(key: str, raw: object, expected: object) -> None:
    value = getattr(build_params(Example, {key: raw}, "thing"), key)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("flag", "maybe", "expected true or false"),
        ("flag", 2, "expected true or false"),
        ("count", "abc", "expected an integer"),
        ("count", 2.5, "expected an integer"),
        ("count", True, "expected a number"),
        ("rate", "fast", "expected a number"),
        ("rate", False, "expected a number"),
        ("limit", "lots", "expected an integer"),
        ("sizes", "1,x", "expected an integer"),
    ],
)
def test_bad_values_name_the_key_and_the_value(key: str, raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_params(Example, {key: raw}, "thing")
    text = str(info.value)
    assert f"thing.{key}" in text
    assert message in text
    assert ("x" if key == "sizes" else repr(raw)) in text


@pytest.mark.parametrize(
    ("key", "raw", "bounds"),
    [
        ("count", "0", "[1, 10]"),
        ("count", "11", "[1, 10]"),
        ("rate", "1.5", "[0.0, 1.0]"),
        ("rate", "-0.1", "[0.0, 1.0]"),
        ("limit", "-1", "[0, inf]"),
    ],
)
def test_out_of_range_names_the_range(key: str, raw: str, bounds: str) -> None:
    with pytest.raises(ConfigError, match="outside the valid range") as info:
        build_params(Example, {key: raw}, "thing")
    assert bounds in str(info.value) and f"thing.{key}" in str(info.value)


def test_range_bounds_are_inclusive() -> None:
    built = build_params(Example, {"count": "1", "rate": "1.0"}, "thing")
    assert (built.count, built.rate) == (1, 1.0)
    assert build_params(Example, {"count": "10", "rate": "0"}, "thing").count == 10


def test_real_component_range_error() -> None:
    with pytest.raises(ConfigError, match=r"energy 'autoencoder'\.n_layers: 9 is outside the valid range \[2, 8\]"):
        build_params(AutoEncoderParams, {"n_layers": "9"}, "energy 'autoencoder'")
    with pytest.raises(ConfigError, match=r"loss\.margin: -1\.0 is outside the valid range \[0\.0, inf\]"):
        build_params(MarginParams, {"margin": "-1"}, "loss")


def test_choices_error_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        build_params(Example, {"mode": "medium"}, "thing")
    assert "thing.mode" in str(info.value) and "'medium'" in str(info.value)
    assert "fast, slow" in str(info.value)
    with pytest.raises(ConfigError, match="auto, fused, triton, reference"):
        build_params(PullAwayParams, {"impl": "cuda"}, "regularizer 'pullaway'")


def test_unknown_key_suggests_the_closest_match() -> None:
    with pytest.raises(ConfigError) as info:
        build_params(AutoEncoderParams, {"n_layer": 3}, "energy 'autoencoder'")
    text = str(info.value)
    assert "'n_layer'" in text and "did you mean 'n_layers'?" in text
    assert "valid: body, distance, n_layers" in text
    with pytest.raises(ConfigError) as info:  # nothing close: no suggestion, still the valid list
        build_params(Example, {"zzzzzz": 1}, "thing")
    assert "did you mean" not in str(info.value) and "count, rate, flag" in str(info.value)


def test_no_params_component_rejects_values() -> None:
    assert build_params(None, {}, "loss 'lsif'") is None
    with pytest.raises(ConfigError, match="loss 'lsif' takes no parameters, got alpha, beta"):
        build_params(None, {"beta": 1, "alpha": 2}, "loss 'lsif'")


def test_params_dict_and_describe() -> None:
    assert params_dict(None) == {}
    assert params_dict(Example()) == {"count": 3, "rate": 0.5, "flag": False, "limit": None, "mode": "fast", "sizes": (1, 2)}
    rows = {row["name"]: row for row in describe_params(Example)}
    assert rows["count"]["low"] == 1 and rows["count"]["high"] == 10 and rows["count"]["type"] == "int"
    assert rows["mode"]["choices"] == ["fast", "slow"] and rows["mode"]["default"] == "fast"


# ---------------------------------------------------------------- hypothesis: string forms round-trip

RANGED = [
    (cls, f)
    for cls in (TrainSettings, AutoEncoderParams, MarginParams, PullAwayParams, Example)
    for f in dataclasses.fields(cls)
    if any(f.metadata.get(bound) is not None for bound in ("low", "high", "below"))
]


def choice_for(cls: type, name: str) -> dict:
    """Values of the fields a parameter depends on, chosen so that it applies."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return {control: values[0] for control, values in (field.metadata.get("applies") or {}).items()}


@st.composite
def valid_number(draw):
    cls, field = draw(st.sampled_from(RANGED))
    kind = cls.__annotations__[field.name]
    low, high = field.metadata["low"], field.metadata["high"]
    if "int" in str(kind):
        lo = int(low) if low is not None else -(10**12)
        hi = int(high) if high is not None else 10**12
        value = draw(st.integers(min_value=lo, max_value=hi))
    else:
        exclusive = field.metadata["below"]
        top = exclusive if exclusive is not None else high if high is not None else 1e300
        value = draw(st.floats(min_value=low, max_value=top, exclude_max=exclusive is not None, allow_nan=False, allow_infinity=False))
    return cls, field.name, value


@settings(max_examples=200, deadline=None)
@given(valid_number())
def test_valid_numbers_in_range_are_accepted_from_their_string_form(case) -> None:
    cls, name, value = case
    context = {**choice_for(cls, name), **({"steps": 10**13} if name == "warmup_steps" else {})}  # the warm-up ends before the run
    built = build_params(cls, {**context, name: str(value)}, "owner")
    assert getattr(built, name) == value
    assert type(getattr(built, name)) is type(value)
    assert getattr(build_params(cls, {**context, name: value}, "owner"), name) == value  # the TOML (typed) form too


@st.composite
def out_of_range_number(draw):
    cls, field = draw(st.sampled_from(RANGED))
    kind = cls.__annotations__[field.name]
    low, high, exclusive = field.metadata["low"], field.metadata["high"], field.metadata["below"]
    below = low is not None and ((high is None and exclusive is None) or draw(st.booleans()))
    if "int" in str(kind):
        value = draw(st.integers(max_value=int(low) - 1) if below else st.integers(min_value=int(high) + 1))
    else:
        strategy = (
            st.floats(max_value=low, allow_nan=False, allow_infinity=False).filter(lambda v: v < low)
            if below
            else st.floats(min_value=exclusive, allow_nan=False, allow_infinity=False)
            if exclusive is not None
            else st.floats(min_value=high, allow_nan=False, allow_infinity=False).filter(lambda v: v > high)
        )
        value = draw(strategy)
    return cls, field.name, value


@settings(max_examples=100, deadline=None)
@given(out_of_range_number())
def test_numbers_out_of_range_are_rejected(case) -> None:
    cls, name, value = case
    with pytest.raises(ConfigError, match="outside the valid range"):
        build_params(cls, {**choice_for(cls, name), name: str(value)}, "owner")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("cls", "key"), [(MarginParams, "margin"), (TrainSettings, "beta1"), (TrainSettings, "lr_g")])
def test_nan_and_inf_are_refused_everywhere(cls: type, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: {value} is not a finite number"):
        build_params(cls, {key: value}, "owner")


# ---------------------------------------------------------------- Registry


def factory(params: MarginParams, shape: tuple[int, ...]) -> tuple:
    """Builds a thing.

    More text that is not the summary.
    """
    return (shape, params.margin)


def kind(name: str) -> ComponentKind:
    """A kind whose factories may build anything: these tests are about the registry itself."""
    return ComponentKind(name, f"{name}s", name, name, "builtins:object", (), "things a registry test builds")


def test_register_get_and_build() -> None:
    registry: Registry = Registry(kind("loss"))
    registry.register("hinge", factory, params=MarginParams, plugin="mine")
    component = registry.get("hinge")
    assert (component.kind.name, component.name, component.plugin) == ("loss", "hinge", "mine")
    assert component.description == "Builds a thing."
    assert component.build(component.resolve({"margin": "2.5"}), shape=(1, 8, 8)) == ((1, 8, 8), 2.5)
    assert component.resolve({}) == MarginParams(margin=0.5)
    assert "hinge" in registry and len(registry) == 1 and registry.names() == ["hinge"]


def test_duplicate_name_from_two_plugins_names_both() -> None:
    registry: Registry = Registry(kind("loss"))
    registry.register("hinge", factory, params=MarginParams, plugin="first_plugin")
    with pytest.raises(PluginError) as info:
        registry.register("hinge", factory, plugin="second_plugin")
    text = str(info.value)
    assert "'hinge'" in text and "'first_plugin'" in text and "'second_plugin'" in text
    assert registry.get("hinge").plugin == "first_plugin"  # the first registration stands


def test_unknown_name_lists_valid_names_and_closest() -> None:
    registry: Registry = Registry(kind("loss"))
    for name in ("margin", "logistic", "lsif"):
        registry.register(name, factory, plugin="p")
    with pytest.raises(ConfigError) as info:
        registry.get("margn")
    text = str(info.value)
    assert "unknown loss 'margn'" in text
    assert "did you mean 'margin'?" in text
    assert "valid: logistic, lsif, margin" in text
    with pytest.raises(ConfigError, match="none registered"):
        Registry(kind("metric")).get("anything")


@pytest.mark.parametrize(
    ("name", "fn", "params", "message"),
    [
        ("9lives", factory, None, "names are letters, digits, '_' and '-', not starting with a digit or '-'"),
        ("-dash", factory, None, "not starting with a digit or '-'"),
        ("has space", factory, None, "names are letters, digits"),
        ("fine", 42, None, "non-callable factory"),
        ("fine", factory, dict, "params must be a dataclass"),
    ],
)
def test_invalid_registrations_are_plugin_errors(name, fn, params, message: str) -> None:
    with pytest.raises(PluginError, match=message) as info:
        Registry(kind("loss")).register(name, fn, params=params, plugin="culprit")
    assert "'culprit'" in str(info.value)


def test_real_registry_unknown_name(registries) -> None:
    with pytest.raises(ConfigError) as info:
        registries.losses.get("margn")
    assert "did you mean 'margin'?" in str(info.value)
    for name in registries.losses.names():
        assert name in str(info.value)


def test_plugin_clashing_with_a_builtin_names_both(tmp_path: Path) -> None:
    stem = f"clash_{uuid.uuid4().hex}"
    path = tmp_path / f"{stem}.py"
    path.write_text(
        textwrap.dedent("""
        from energan import hookimpl

        @hookimpl
        def register_losses(register):
            register("margin", lambda: None)
    """)
    )
    plugins = load_plugins([str(path)])
    with pytest.raises(PluginError) as info:
        plugins.registries  # noqa: B018
    assert "'margin'" in str(info.value) and str(path) in str(info.value)


# ---------------------------------------------------------------- TrainConfig


def custom_config() -> TrainConfig:
    return TrainConfig(
        settings=TrainSettings(steps=5, batch_size=16, lr_d=2e-4, ema=True, device="cpu"),
        energy=ComponentChoice("logit", {"n_layers": 4, "dropout": 0.2}),
        loss=ComponentChoice("logistic", {"generator_loss": "saturating"}),
        generator=ComponentChoice("dcgan", {"width": 8}),
        data=ComponentChoice("digits", {"size": 16}),
        reg={"pullaway": {"weight": 0.3}},
        metrics={},
    )


@pytest.mark.parametrize("config", [TrainConfig(), custom_config()], ids=["default", "custom"])
def test_from_dict_to_dict_round_trip(config: TrainConfig) -> None:
    document = config.to_dict()
    assert TrainConfig.from_dict(document) == config
    assert TrainConfig.from_dict(document).to_dict() == document


def test_to_dict_layout() -> None:
    document = custom_config().to_dict()
    assert document["steps"] == 5 and document["ema"] is True
    assert document["energy"] == {"name": "logit", "n_layers": 4, "dropout": 0.2}
    assert document["reg"] == {"pullaway": {"weight": 0.3}}
    assert document["metrics"] == {}
    document["reg"]["pullaway"]["weight"] = 9  # a copy: the config is not aliased
    assert custom_config().reg["pullaway"]["weight"] == 0.3


def test_from_dict_keeps_component_names_when_a_table_omits_name() -> None:
    config = TrainConfig.from_dict({"loss": {"margin": 2}, "plugins": {"energan": "1.0"}})
    assert config.loss == ComponentChoice("margin", {"margin": 2})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"stepz": 5}, "did you mean 'steps'?"),
        ({"steps": 0}, "outside the valid range"),
        ({"loss": "margin"}, "[loss] must be a table"),
        ({"reg": {"pullaway": 0.1}}, "[reg.pullaway] must be a table"),
        ({"device": "tpu"}, "auto, cpu, cuda"),
    ],
)
def test_from_dict_errors(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(raw)
    assert message in str(info.value)


# ---------------------------------------------------------------- apply_overrides


def test_apply_overrides_forms() -> None:
    raw = {"loss": {"name": "margin", "margin": 1.0}}
    out = apply_overrides(raw, ["steps=5", "loss.margin=2", "reg.pullaway.weight=0.3", " energy.size = 32 "])
    assert out == {
        "steps": "5",
        "loss": {"name": "margin", "margin": "2"},
        "reg": {"pullaway": {"weight": "0.3"}},
        "energy": {"size": "32"},
    }
    assert raw == {"loss": {"name": "margin", "margin": 1.0}}  # the input is not modified
    assert apply_overrides({}, ["name=a=b"]) == {"name": "a=b"}  # only the first = splits


def test_apply_overrides_feed_from_dict() -> None:
    config = TrainConfig.from_dict(apply_overrides({}, ["steps=5", "loss.margin=2", "reg.pullaway.weight=0.3"]))
    assert config.settings.steps == 5
    assert config.loss.name == "margin"
    registries = load_plugins().registries
    resolved = resolve(config, registries)
    assert resolved.loss.values == {"margin": 2.0}
    assert resolved.reg["pullaway"].values["weight"] == 0.3


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("noequals", "expected key=value"),
        ("=5", "expected key=value"),
        ("bogus.x=1", "unknown table 'bogus'"),
        ("los.margin=1", "did you mean 'loss'?"),
    ],
)
def test_apply_overrides_bad_forms(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides({}, [item])
    assert message in str(info.value) and repr(item) in str(info.value)


def test_apply_overrides_through_a_non_table_is_a_config_error() -> None:
    # e.g. a TOML file with `loss = "margin"` and `--set loss.margin=2`
    with pytest.raises(ConfigError):
        apply_overrides({"loss": "margin"}, ["loss.margin=2"])


# ---------------------------------------------------------------- resolve


def test_resolve_fills_every_default(registries) -> None:
    config = TrainConfig(reg={"pullaway": {}})
    resolved = resolve(config, registries)
    assert resolved.energy == Resolved("autoencoder", AutoEncoderParams(), applying_dict(AutoEncoderParams()))
    assert resolved.loss == Resolved("margin", MarginParams(), params_dict(MarginParams()))
    assert resolved.reg == {"pullaway": Resolved("pullaway", PullAwayParams(), params_dict(PullAwayParams()))}
    assert resolved.metrics == {"inception_score": Resolved("inception_score", InceptionParams(), params_dict(InceptionParams()))}
    assert resolved.generator == Resolved("mlp", MLPGeneratorParams(), params_dict(MLPGeneratorParams()))
    assert config.reg == {"pullaway": {}}  # the input is not modified
    assert resolve(TrainConfig.from_dict(resolved.to_dict()), registries) == resolved  # what config.toml saves resolves to the same
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.settings = TrainSettings()  # type: ignore[misc]


def test_resolve_coerces_strings(registries) -> None:
    config = TrainConfig(energy=ComponentChoice("autoencoder", {"n_layers": "4", "batch_norm": "yes"}))
    resolved = resolve(config, registries)
    assert resolved.energy.values["n_layers"] == 4 and resolved.energy.values["batch_norm"] is True


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig(loss=ComponentChoice("margin", {"margin": "-1"})), "outside the valid range"),
        (TrainConfig(loss=ComponentChoice("lsif", {"margin": 1})), "takes no parameters"),
        (TrainConfig(energy=ComponentChoice("autoencoder", {"bdy": "conv"})), "did you mean 'body'?"),
        (TrainConfig(energy=ComponentChoice("autoencoder", {"body": "rnn"})), "mlp, conv"),
        (TrainConfig(energy=ComponentChoice("autoencodr")), "did you mean 'autoencoder'?"),
        (TrainConfig(reg={"pullaway": {"weight": "heavy"}}), "expected a number"),
        (TrainConfig(reg={"pulaway": {}}), "did you mean 'pullaway'?"),
        (TrainConfig(metrics={"inception_score": {"samples": 1}}), "outside the valid range"),
    ],
)
def test_resolve_rejects_bad_components(registries, config: TrainConfig, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(config, registries)
    assert message in str(info.value)


# ---------------------------------------------------------------- declared once, resolved once


def test_build_passes_the_resolved_instance_as_is() -> None:
    registry: Registry = Registry(kind("loss"))
    registry.register("hinge", factory, params=MarginParams, plugin="mine")
    received = []
    component = dataclasses.replace(registry.get("hinge"), factory=lambda params, **context: received.append(params))
    instance = MarginParams(margin=3.0)
    component.build(instance)
    assert received[0] is instance  # not validated or rebuilt again
    with pytest.raises(TypeError, match="built from its resolved parameters"):
        component.build({"margin": "1"})  # raw values are resolved first, once, by resolve()


def test_build_without_params_passes_the_context_only() -> None:
    registry: Registry = Registry(kind("dataset"))
    registry.register("fixed", lambda data_dir: ("fixed", data_dir), plugin="mine")
    assert registry.get("fixed").build(None, data_dir="d") == ("fixed", "d")
    with pytest.raises(ConfigError, match="dataset 'fixed' takes no parameters, got size"):
        registry.get("fixed").resolve({"size": 8})


def test_build_checks_the_kinds_protocol() -> None:
    registry: Registry = Registry(LOSS)
    registry.register("broken", lambda: "not a loss", plugin="mine")
    with pytest.raises(PluginError, match=r"loss .broken. built a str, which does not follow energan.components.LossProtocol"):
        registry.get("broken").build(None)


def test_resolve_keeps_the_instances(registries) -> None:
    config = TrainConfig(loss=ComponentChoice("margin", {"margin": "2"}), reg={"pullaway": {"weight": "0.3"}})
    resolved = resolve(config, registries)
    assert resolved.loss.params == MarginParams(margin=2.0)
    assert resolved.energy.params == AutoEncoderParams()
    assert resolved.data.params == Mnist5kParams(pad=False)
    assert {name: chosen.params for name, chosen in resolved.reg.items()} == {"pullaway": PullAwayParams(weight=0.3)}
    assert {name: chosen.params for name, chosen in resolved.metrics.items()} == {"inception_score": InceptionParams()}
    assert config.loss == ComponentChoice("margin", {"margin": "2"})  # the input is not modified


# ---------------------------------------------------------------- parameters that apply to some choices


@dataclasses.dataclass(frozen=True)
class Body:
    kind: str = param("a", "which body", choices=("a", "b", "c"))
    depth: int = param(2, "a only", applies={"kind": ("a",)})
    width: int = param(8, "b and c", applies={"kind": ("b", "c")})


def test_a_parameter_that_does_not_apply_names_the_choice() -> None:
    with pytest.raises(ConfigError) as info:
        build_params(Body, {"kind": "b", "depth": 3}, "thing")
    assert str(info.value) == "thing: depth applies to kind a only, not to kind b (parameters of kind b: kind, width)"
    with pytest.raises(ConfigError, match="width applies to kind b, c only, not to kind a"):
        build_params(Body, {"width": "16"}, "thing")  # the default choice counts


def test_a_parameter_that_does_not_apply_is_refused_even_at_its_default() -> None:
    with pytest.raises(ConfigError, match="thing: depth applies to kind a only, not to kind b"):
        build_params(Body, {"kind": "b", "width": 4, "depth": 2}, "thing")  # a value that cannot act
    built = build_params(Body, {"kind": "b", "width": 4}, "thing")
    assert built == Body(kind="b", depth=2, width=4)  # every field, defaults for those that do not apply
    assert applying_dict(built) == {"kind": "b", "width": 4}
    assert applying_dict(None) == {}


def test_autoencoder_parameters_apply_to_their_bodies() -> None:
    with pytest.raises(ConfigError) as info:
        build_params(AutoEncoderParams, {"body": "conv", "dropout": "0.3"}, "energy 'autoencoder'")
    assert str(info.value) == (
        "energy 'autoencoder': dropout applies to body mlp only, not to body conv "
        "(parameters of body conv: body, distance, batch_norm, width, code_dim, stages, spectral_norm)"
    )
    assert set(applying_dict(AutoEncoderParams(body="timm"))) == {
        "body",
        "distance",
        "batch_norm",
        "width",
        "code_dim",
        "timm_model",
        "spectral_norm",
    }
    assert set(applying_dict(AutoEncoderParams())) == {"body", "distance", "n_layers", "size", "dropout", "batch_norm", "spectral_norm"}


def test_component_build_rejects_a_parameter_that_does_not_apply(registries) -> None:
    with pytest.raises(ConfigError, match=r"energy 'autoencoder': width applies to body conv, timm only, not to body mlp") as info:
        registries.energies.get("autoencoder").resolve({"width": 64})
    assert "\n" not in str(info.value)


def test_set_a_parameter_that_does_not_apply_is_a_one_line_error(registries) -> None:
    raw = apply_overrides({}, ["energy.body=conv", "energy.dropout=0.3"])
    with pytest.raises(ConfigError) as info:
        resolve(TrainConfig.from_dict(raw), registries)
    assert "dropout applies to body mlp only, not to body conv" in str(info.value) and "\n" not in str(info.value)


def test_conv_config_resolves_saves_and_resolves_again(registries, tmp_path: Path) -> None:
    raw = apply_overrides({}, ["energy.body=conv", "energy.width=16", "energy.stages=1"])
    resolved = resolve(TrainConfig.from_dict(raw), registries)
    assert resolved.energy.values == {
        "body": "conv",
        "distance": "mse",
        "batch_norm": False,
        "width": 16,
        "code_dim": 64,
        "stages": 1,
        "spectral_norm": False,
    }
    assert resolved.energy.params == AutoEncoderParams(body="conv", width=16, stages=1)  # every field
    save_config(tmp_path / "config.toml", resolved, {"energan": "0"})
    saved = read_toml(tmp_path / "config.toml")
    assert "dropout" not in saved["energy"] and "timm_model" not in saved["energy"]
    again = resolve(TrainConfig.from_dict(saved), registries)
    assert again == resolved and again.energy.params == resolved.energy.params


def test_a_config_listing_parameters_of_another_body_is_refused(registries) -> None:
    """A config written before parameters were declared where they apply lists every one; those
    runs' format-1 checkpoints are refused anyway, and their configs say which line to delete."""
    legacy = TrainConfig(energy=ComponentChoice("autoencoder", params_dict(AutoEncoderParams())))
    with pytest.raises(ConfigError, match="width applies to body conv, timm only, not to body mlp"):
        resolve(legacy, registries)
    assert resolve(
        TrainConfig(energy=ComponentChoice("autoencoder", applying_dict(AutoEncoderParams()))), registries
    ).energy.values == applying_dict(AutoEncoderParams())


def test_describe_and_list_where_a_parameter_applies() -> None:
    rows = {row["name"]: row for row in describe_params(AutoEncoderParams)}
    assert rows["width"]["applies"] == {"body": ["conv", "timm"]}
    assert rows["stages"]["applies"] == {"body": ["conv"]} and rows["distance"]["applies"] is None
    assert _describe(rows["width"]).startswith("width: int = 32 (body conv, timm)  ")
    assert _describe(rows["distance"]).startswith("distance: str = 'mse' {mse, l1, l2}  ")


@pytest.mark.parametrize(
    ("applies", "message"),
    [
        ({"kynd": ("a",)}, "applies to 'kynd', which is not a parameter"),
        ({"kind": ("z",)}, "applies to kind 'z', which is not one of its choices"),
    ],
)
def test_a_bad_applies_declaration_is_a_registration_error(applies: dict, message: str) -> None:
    fields = [("kind", str, param("a", "k", choices=("a", "b"))), ("x", int, param(1, "x", applies=applies))]
    bad = dataclasses.make_dataclass("Bad", fields, frozen=True)
    with pytest.raises(PluginError, match=message) as info:
        Registry(kind("energy")).register("bad", factory, params=bad, plugin="culprit")
    assert "'culprit'" in str(info.value)


# ---------------------------------------------------------------- names with hyphens


class HyphenPlugin:
    """Registers a regularizer and a loss whose names contain hyphens."""

    @hookimpl
    def register_regularizers(self, register) -> None:
        from energan.regularizers import PullAway

        register("my-reg", lambda params: PullAway(params.weight, params.impl, params.eps), params=PullAwayParams)

    @hookimpl
    def register_losses(self, register) -> None:
        register("my-loss", factory, params=MarginParams)


@pytest.fixture
def hyphen_registries():
    plugins = load_plugins()
    plugins.manager.register(HyphenPlugin(), name="hyphen-plugin")
    return plugins.registries


def test_hyphenated_names_through_set_overrides(hyphen_registries) -> None:
    raw = apply_overrides({}, ["reg.my-reg.weight=0.2", "loss.name=my-loss", "loss.margin=3"])
    assert raw["reg"] == {"my-reg": {"weight": "0.2"}}
    resolved = resolve(TrainConfig.from_dict(raw), hyphen_registries)
    assert resolved.reg["my-reg"].values["weight"] == 0.2 and resolved.loss == Resolved("my-loss", MarginParams(3.0), {"margin": 3.0})
    assert resolved.build_all(REGULARIZER, hyphen_registries)["my-reg"].weight == 0.2


def test_hyphenated_names_in_toml_tables(hyphen_registries, tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[loss]\nname = "my-loss"\n[reg.my-reg]\nweight = 0.4\n')
    resolved = resolve(TrainConfig.from_dict(read_toml(path)), hyphen_registries)
    assert resolved.reg["my-reg"].values["weight"] == 0.4 and resolved.loss.name == "my-loss"
    save_config(tmp_path / "config.toml", resolved, {})
    assert resolve(TrainConfig.from_dict(read_toml(tmp_path / "config.toml")), hyphen_registries) == resolved
