"""The strict run-spec loader: every bad file raises ConfigError naming the file, the dotted key and the
valid choices; good files (and the shipped scenarios) load, with paths resolved relative to the spec."""

import dataclasses
from pathlib import Path

import pytest

from stressgen.errors import ConfigError
from stressgen.generators import BootstrapConfig, GarchConfig
from stressgen.generators._base import config_from_dict, config_to_dict
from stressgen.spec import load_spec, parse_spec
from stressgen.strategy import ParamGrid

SPECS = Path(__file__).parent / "data" / "specs"
SCENARIOS = Path(__file__).parents[1] / "scenarios"
BAD = sorted((SPECS / "bad").glob("*.toml"))


def _expected(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: a | b'"
    return [part.strip() for part in first[len("# expect: "):].split("|")]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_names_file_and_key(path):
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message, message
    for part in _expected(path):
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message


def test_bad_specs_cover_every_section():
    text = " ".join(" ".join(_expected(p)) for p in BAD)
    for section in ("data.", "generator.", "simulation.", "strategies[0].", "costs.", "report."):
        assert section in text


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path):
    spec = load_spec(path)
    assert spec.strategies and spec.simulation.worlds >= 1000
    assert spec.data.load().n_assets == len(spec.data.assets or spec.data.load().assets)  # assets exist
    assert spec.out_dir.is_absolute() and "results" in spec.out_dir.parts


def test_quickstart_meets_the_default_run_size():
    spec = load_spec(SCENARIOS / "quickstart.toml")
    assert spec.data.dataset == "sp500-20" and spec.data.assets is None  # all 20 assets
    assert spec.simulation.worlds >= 10_000 and spec.simulation.horizon == 252
    assert len(spec.strategies) >= 5 and all(":" not in s.plugin for s in spec.strategies)  # built-ins


def test_user_csv_path_resolves_relative_to_the_spec():
    spec = load_spec(SCENARIOS / "user_csv.toml")
    assert Path(spec.data.file) == (SCENARIOS / "data" / "five_stocks.csv").resolve()
    assert spec.data.load().n_assets == 5


def test_good_spec_types_and_grid():
    spec = load_spec(SPECS / "small.toml")
    assert spec.generator.config == BootstrapConfig(mean_block=10, history_days=300)
    assert spec.data.start == "2015-01-01" and spec.data.assets == ("AAPL", "JPM", "XOM")
    eq, ma = spec.strategies
    assert eq.build().every == 5
    grid = ma.build()
    assert isinstance(grid, ParamGrid) and grid.size == 2
    assert [n for n, _ in ma.parameter_sets(grid)] == ["ma_crossover[fast=5]", "ma_crossover[fast=10]"]
    assert spec.costs.cost_rate == pytest.approx(7e-4)


def test_int_for_float_strategy_field_becomes_float():
    # float fields of strategies are traced parameters; an int would silently make them static
    spec = parse_spec({"data": {"dataset": "sp500-20"}, "generator": {"family": "bootstrap"},
                       "strategies": [{"plugin": "equal_weight", "params": {"gross": 1}}]})
    assert isinstance(spec.strategies[0].build().gross, float)


def test_overrides_are_validated():
    spec = load_spec(SPECS / "small.toml")
    new = spec.with_overrides(seed=9, worlds=50, out="elsewhere")
    assert (new.simulation.seed, new.simulation.worlds) == (9, 50)
    assert new.out_dir == Path("elsewhere").absolute()
    with pytest.raises(ConfigError, match="command line: simulation.worlds"):
        spec.with_overrides(worlds=0)


def _minimal(simulation: dict) -> dict:
    return {"data": {"dataset": "sp500-20"}, "generator": {"family": "bootstrap"},
            "strategies": [{"plugin": "equal_weight"}], "simulation": simulation}


@pytest.mark.parametrize("ppy,day", [(12, "month"), (52, "week"), (365, "day")])
def test_a_horizon_left_at_its_default_is_said_to_be_assumed_on_other_than_business_days(ppy, day):
    from stressgen.pipeline import horizon_assumed, horizon_note

    unset = parse_spec(_minimal({"worlds": 10}))
    assert unset.horizon_default and unset.simulation.horizon == 252
    assert horizon_assumed(unset, ppy)
    assert horizon_note(unset, ppy) == (
        f"252 {day}s ({252 / ppy:.3g} years): [simulation] horizon was not set, and its default of 252 periods "
        f"is a year of business days; a year of this data is {ppy} {day}s (set horizon = {ppy})")
    # on business days the default is a year, and the note only says so
    assert not horizon_assumed(unset, 252) and horizon_note(unset, 252) == "252 days (1 year)"
    # a horizon the spec or the command line sets is a choice, whatever its value
    for chosen in (parse_spec(_minimal({"horizon": 252})), unset.with_overrides(horizon=ppy)):
        assert not chosen.horizon_default and not horizon_assumed(chosen, ppy)
        assert "not set" not in horizon_note(chosen, ppy)
    assert horizon_note(unset.with_overrides(horizon=ppy), ppy) == f"{ppy} {day}s (1 year)"
    # other overrides keep what the spec left unset
    assert unset.with_overrides(worlds=20).horizon_default


def test_plugin_file_resolves_relative_to_spec(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "mine.py").write_text(
        "import dataclasses\nimport jax.numpy as jnp\nfrom stressgen.strategy import StepStrategy\n"
        "@dataclasses.dataclass(frozen=True)\nclass Half(StepStrategy):\n    level: float = 0.5\n"
        "    def init(self, n_assets):\n        return ()\n"
        "    def step(self, state, obs):\n        return state, jnp.full(obs.log_return.shape, self.level / "
        "obs.log_return.shape[0])\n")
    (tmp_path / "s.toml").write_text('[data]\ndataset = "sp500-20"\n[generator]\nfamily = "bootstrap"\n'
                                     '[[strategies]]\nplugin = "plugins/mine.py:Half"\nparams = { level = 1 }\n')
    spec = load_spec(tmp_path / "s.toml")
    (s,) = spec.strategies
    # users read file.py:Class (report, summary, errors); the absolute file is kept to load it
    assert s.name == "Half" and s.plugin == "mine.py:Half"
    assert s.file == str(tmp_path / "plugins" / "mine.py") and s.ref == f"{s.file}:Half"
    assert s.build().level == 1.0
    assert spec.to_dict()["strategies"][0]["plugin"] == "mine.py:Half"


def test_plugin_errors_name_the_file_not_the_loaders_module(tmp_path):
    (tmp_path / "broken.py").write_text("import dataclasses\n@dataclasses.dataclass(frozen=True)\n"
                                        "class NotAStrategy:\n    x: int = 1\n")
    (tmp_path / "s.toml").write_text('[data]\ndataset = "sp500-20"\n[generator]\nfamily = "bootstrap"\n'
                                     '[[strategies]]\nplugin = "broken.py:NotAStrategy"\n')
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path / "s.toml")
    assert "broken.py:NotAStrategy" in str(info.value) and "_stressgen_plugin_" not in str(info.value)


def test_default_out_is_next_to_the_spec_not_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    text = '[data]\ndataset = "sp500-20"\n[generator]\nfamily = "bootstrap"\n[[strategies]]\nplugin = "equal_weight"\n'
    (tmp_path / "specs" / "mine.toml").write_text(text)
    (tmp_path / "specs" / "out.toml").write_text(text + '[report]\nout = "here"\n')
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_spec("../specs/mine.toml").out_dir == tmp_path / "specs" / "results" / "mine"
    assert load_spec("../specs/out.toml").out_dir == tmp_path / "specs" / "here"  # the same rule
    # only the command line's --out is relative to the current directory
    assert load_spec("../specs/mine.toml").with_overrides(out="o").out_dir == tmp_path / "elsewhere" / "o"


def test_data_takes_the_loaders_options(tmp_path):
    (tmp_path / "prices.csv").write_text("day;A;B\n02/01/2020;1;\n03/01/2020;1.1;2\n06/01/2020;;2.1\n"
                                         "07/01/2020;1.3;2.2\n")
    (tmp_path / "s.toml").write_text('[data]\nfile = "prices.csv"\ngaps = "ffill"\nedges = "trim"\n'
                                     'date_format = "%d/%m/%Y"\ndate_column = "day"\n'
                                     '[generator]\nfamily = "bootstrap"\n[[strategies]]\nplugin = "equal_weight"\n')
    spec = load_spec(tmp_path / "s.toml")
    assert (spec.data.gaps, spec.data.edges, spec.data.date_format) == ("ffill", "trim", "%d/%m/%Y")
    market = spec.data.load()
    assert market.n_obs == 3 and str(market.dates[0].date()) == "2020-01-03"
    # the delimiter was guessed, so the guess is listed with the trim and the fill
    assert [r.kind for r in market.repairs] == ["guess_delimiter", "trim_leading", "forward_fill"]
    stated = dataclasses.replace(spec.data, delimiter=";")
    assert [r.kind for r in stated.load().repairs] == ["trim_leading", "forward_fill"]


def test_the_data_window_is_validated_alone(tmp_path):
    """A hole before [data] start (a weekly file with a 3-day spacing, as around an exchange closure) does not
    stop a spec that starts after it, as the loader's error advises ("load a window without it")."""
    from stressgen.errors import FrequencyError

    dates = ["2001-08-24", "2001-08-31", "2001-09-07", "2001-09-10", "2001-09-21", "2001-09-28", "2001-10-05",
             "2001-10-12", "2001-10-19"]
    rows = "".join(f"{d},{100 + i},{50 + i}\n" for i, d in enumerate(dates))
    (tmp_path / "weekly.csv").write_text("Date,A,B\n" + rows)
    text = '[data]\nfile = "weekly.csv"\n{}[generator]\nfamily = "bootstrap"\n[[strategies]]\nplugin = "equal_weight"\n'
    (tmp_path / "all.toml").write_text(text.format(""))
    (tmp_path / "later.toml").write_text(text.format('start = 2001-09-20\nassets = ["B"]\n'))
    with pytest.raises(FrequencyError, match="2001-09-10: this row is 3 days after the previous one"):
        load_spec(tmp_path / "all.toml").data.load()
    market = load_spec(tmp_path / "later.toml").data.load()
    assert market.freq == "W" and market.assets == ("B",) and market.n_obs == 5
    assert str(market.dates[0].date()) == "2001-09-21"


def test_missing_spec_file(tmp_path):
    with pytest.raises(ConfigError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")


def test_config_dict_round_trip_and_strictness():
    cfg = GarchConfig(innovations="t-copula", burn=3)
    assert config_from_dict(GarchConfig, config_to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"where\.burn: expected an integer"):
        config_from_dict(GarchConfig, {"burn": 2.5}, where="where")
    with pytest.raises(ConfigError, match=r"where\.max_persistence: expected a number, got bool"):
        config_from_dict(GarchConfig, {"max_persistence": True}, where="where")
    with pytest.raises(ConfigError, match=r"where\.strat: unknown key \(did you mean 'start'\?\)"):
        config_from_dict(GarchConfig, {"strat": "conditional"}, where="where")


def test_spec_dataclasses_are_frozen():
    spec = load_spec(SPECS / "small.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.simulation.worlds = 3


def test_per_asset_costs_are_checked_against_the_datas_assets_before_any_fit(tmp_path):
    from stressgen import stages

    text = (SPECS / "bad" / "costs_periods.toml").read_text().splitlines()[1:]
    spec_file = tmp_path / "costs.toml"
    spec_file.write_text("\n".join(line for line in text if not line.startswith("periods_per_year"))
                         + "\nfee_bps = [1.0, 2.0, 3.0]\n")
    spec = load_spec(spec_file)
    assert spec.costs.fee_bps == (1.0, 2.0, 3.0)
    with pytest.raises(ConfigError, match=r"costs: BacktestConfig.fee_bps has 3 per-asset values.*AAPL, JPM"):
        stages.load_market(spec)
    spec_file.write_text(spec_file.read_text().replace("[1.0, 2.0, 3.0]", "[1.0, 2.0]"))
    assert stages.load_market(load_spec(spec_file)).n_assets == 2
