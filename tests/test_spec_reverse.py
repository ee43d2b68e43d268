"""The [reverse] section of a run spec (stressgen.spec_reverse): defaults, strategy selection by entry or
parameter-set name, the echo in the resolved spec, and the request it makes per parameter set. The bad files
(tests/data/specs/bad/reverse_*.toml) are checked by tests/test_spec.py."""

import pytest

from stressgen.errors import ConfigError
from stressgen.spec import parse_spec
from stressgen.spec_reverse import ReverseSpec, parameter_set_names

DOC = {
    "data": {"dataset": "sp500-20", "assets": ["AAPL", "JPM"]},
    "generator": {"family": "garch"},
    "strategies": [{"plugin": "buy_and_hold", "name": "hold"},
                   {"plugin": "ma_crossover", "name": "ma", "grid": {"fast": [5, 10]}}],
}


def _spec(reverse):
    return parse_spec({**DOC, "reverse": reverse}, source="s.toml")


def test_defaults_select_every_parameter_set():
    spec = _spec({"loss": 0.25})
    assert spec.reverse == ReverseSpec(loss=0.25)
    sets = parameter_set_names(spec.strategies)
    assert sets == [("hold", "hold"), ("ma", "ma[fast=5]"), ("ma", "ma[fast=10]")]
    assert spec.reverse.select(sets) == ("hold", "ma[fast=5]", "ma[fast=10]")


def test_entry_and_set_names_select_in_run_order():
    spec = _spec({"loss": 0.1, "strategies": ["ma[fast=10]", "hold"], "k": 2, "tilt_z": 0, "worlds": 500})
    sets = parameter_set_names(spec.strategies)
    assert spec.reverse.select(sets) == ("hold", "ma[fast=10]")
    assert _spec({"loss": 0.1, "strategies": "ma"}).reverse.select(sets) == ("ma[fast=5]", "ma[fast=10]")
    config = spec.reverse.config("hold", horizon=20, n_worlds=100)
    assert (config.loss, config.k, config.tilt_z, config.n_worlds, config.horizon) == (0.1, 2, 0, 500, 20)
    assert _spec({"loss": 0.1}).reverse.config("hold", 20, 100).n_worlds == 100


def test_echoed_in_the_resolved_spec_only_when_present():
    assert _spec({"loss": 0.2, "method": "optimised"}).to_dict()["reverse"]["method"] == "optimised"
    assert "reverse" not in parse_spec(DOC, source="s.toml").to_dict()


@pytest.mark.parametrize("raw, key", [({"loss": True}, "reverse.loss"), ({"loss": 0}, "reverse.loss"),
                                      ({"loss": 0.2, "strategies": [1]}, "reverse.strategies"),
                                      ({"loss": 0.2, "tilt_z": float("inf")}, "reverse.tilt_z"), ([1], "reverse")])
def test_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=rf"s\.toml: {key}"):
        _spec(raw)
