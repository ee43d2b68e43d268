"""A run on monthly closes, end to end, as a user with a monthly CSV would make it: the calendar, the
annualisation and every sentence about the worlds are in months."""

import json

import pytest

from stressgen import data, pipeline
from stressgen.report import write_outputs
from stressgen.spec import parse_spec


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monthly")
    daily = data.load("sp500-20", start="2000-01-01", assets=["AAPL", "JPM", "XOM"]).to_frame()
    monthly = daily.resample("ME").last()
    monthly.index.name = "Date"
    monthly.to_csv(tmp / "monthly.csv")
    spec = parse_spec({"data": {"file": str(tmp / "monthly.csv")},
                       "generator": {"family": "bootstrap"},
                       "simulation": {"worlds": 64, "horizon": 12, "seed": 1},
                       # the second sets its window in months: only the first is named as a daily default
                       "strategies": [{"plugin": "equal_weight"},
                                      {"plugin": "equal_weight", "name": "monthly_rebalance", "params": {"every": 1}}],
                       "report": {"n_boot": 20, "out": str(tmp / "out")}})
    result = pipeline.run(spec)
    write_outputs(result, tmp / "out")
    return result, monthly, tmp / "out"


def test_the_calendar_and_annualisation_are_monthly(run):
    result, monthly, _ = run
    assert result.data.freq == "M"
    assert result.conventions["periods_per_year"].startswith("12 ")
    assert result.conventions["horizon"] == "12 months (1 year)"  # set in the spec: nothing was assumed
    dates = result.world_dates()  # the history's last close, then the horizon's months
    assert len(dates) == 13 and dates[0] == monthly.index[-1] and all(d.is_month_end for d in dates)


def test_every_sentence_about_the_worlds_says_months(run):
    result, _, out = run
    # the strategy windows' note is about defaults counted in business days (the next test)
    about_worlds = [v for k, v in result.conventions.items() if k != "business_day_defaults"]
    text = " ".join([*about_worlds, *(c.message for c in result.plausibility.checks)])
    assert "monthly log returns" in text and "12-month" in text
    assert "daily" not in text and "-day" not in text and " days" not in text
    summary = json.loads((out / "summary.json").read_text())
    assert "a monthly |log r|" in summary["plausibility"]["checks"][1]["message"]
    html = (out / "report.html").read_text()
    assert "a monthly |log r| above" in html and "a daily |log r|" not in html



def test_a_window_left_at_its_business_day_default_is_named_with_its_span_in_months(run):
    result, _, out = run
    note = result.conventions["business_day_defaults"]
    generator, strategy = note.split(" | ")
    # the worlds' warm-up prefix: 504 closes are two years of business days and 42 years of months
    assert generator.startswith("[generator] bootstrap: ")
    assert generator.endswith("history_days = 504 spans 42 years of months, history_days = 24 the 2 it spans on "
                              "business days")
    assert strategy.startswith("equal_weight: ") and "monthly_rebalance" not in note
    # every = 21 closes: 21 months, 1.75 years, where 1 month is the 21 business days the default meant
    assert strategy.endswith("every = 21 spans 1.75 years of months, every = 1 the 0.0833 it spans on business days")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conventions"]["business_day_defaults"] == note
    assert "every = 21 spans 1.75 years of months" in (out / "report.html").read_text()
