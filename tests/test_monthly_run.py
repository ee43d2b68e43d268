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
                       "strategies": [{"plugin": "equal_weight"}],
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
    text = " ".join([*result.conventions.values(), *(c.message for c in result.plausibility.checks)])
    assert "monthly log returns" in text and "12-month" in text
    assert "daily" not in text and "-day" not in text and " days" not in text
    summary = json.loads((out / "summary.json").read_text())
    assert "a monthly |log r|" in summary["plausibility"]["checks"][1]["message"]
    html = (out / "report.html").read_text()
    assert "a monthly |log r| above" in html and "a daily |log r|" not in html

