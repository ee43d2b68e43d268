"""Strategy defaults counted in business days, on data of another frequency (stressgen.day_defaults): the
expected values are worked by hand from each built-in's documented defaults."""

import dataclasses

import pytest

from stressgen import generators
from stressgen.day_defaults import day_defaults, day_defaults_note
from stressgen.strategy import StepStrategy, business_days, grid
from strategies import BUILTIN


def _found(strategy, ppy, **kw):
    return {d.path: (d.value, d.kind, d.same) for d in day_defaults(strategy, ppy, **kw)}


def test_business_daily_data_has_nothing_to_say():
    for cls in BUILTIN.values():
        assert day_defaults(cls(), 252) == ()


@pytest.mark.parametrize("ppy, same", [(12, (12, 1, 1)), (52, (52, 4, 4)), (365, (365, 30, 30))])
def test_momentum_windows_in_the_data_periods(ppy, same):
    # 252 closes are a year: 12 months, 52 weeks, 365 calendar days; 21 closes a twelfth of it (4.33 weeks,
    # 30.4 calendar days, rounded)
    found = _found(BUILTIN["ts_momentum"](), ppy)
    assert found == {"lookback": (252, "span", same[0]), "skip": (21, "span", same[1]),
                     "every": (21, "span", same[2])}


def test_a_span_never_shrinks_below_one_close():
    assert _found(BUILTIN["ma_crossover"](), 12) == {"fast": (10, "span", 1), "slow": (50, "span", 2)}


def test_nested_defaults():
    found = _found(BUILTIN["vol_target"](), 12)
    # every = 1 counts closes at any frequency, and periods_per_year follows the data: neither is named
    assert found == {"inner.every": (21, "span", 1), "span": (40, "span", 2)}


def test_fields_the_user_set_are_theirs_even_at_the_default_value():
    ts = BUILTIN["ts_momentum"]
    assert set(_found(ts(lookback=12), 12)) == {"skip", "every"}  # a value other than the default
    assert set(_found(ts(), 12, set_fields=("lookback", "every"))) == {"skip"}
    gridded = grid(ts(), lookback=[6, 12])
    assert set(_found(gridded, 12, set_fields=("lookback",))) == {"skip", "every"}
    assert set(_found(grid(ts(), lookback=[6, 252]), 12)) == {"skip", "every"}  # not every row at 252


@dataclasses.dataclass(frozen=True)
class Plugin(StepStrategy):
    window: int = business_days(63)
    per_year: int = business_days(252, per_year=True, static_field=True)
    n: int = 63  # not declared: not checked

    def init(self, n_assets):
        return ()


def test_a_plugin_declares_its_own_fields():
    assert _found(Plugin(), 52) == {"window": (63, "span", 13), "per_year": (252, "per_year", 52)}


def test_the_note_names_each_span_in_years_of_the_data():
    text = day_defaults_note("mom", day_defaults(BUILTIN["ts_momentum"](), 12), 12)
    assert text.startswith("mom: defaults counted in business days, left as they are on this monthly data: ")
    assert "lookback = 252 spans 21 years of months, lookback = 12 the 1 it spans on business days" in text
    text = day_defaults_note("plugin", day_defaults(Plugin(), 52), 52)
    assert "per_year = 252 annualises as if a year held 252 weeks; it holds 52 (set per_year = 52)" in text


@pytest.mark.parametrize("family", sorted(generators.available()))
def test_every_generator_names_its_warm_up_prefix(family):
    config = generators.get(family).config_type()
    assert day_defaults(config, 252) == ()
    # 504 closes: two years of business days, 104 weeks
    assert _found(config, 52)["history_days"] == (504, "span", 104)
    assert "history_days" not in _found(dataclasses.replace(config, history_days=104), 52)
