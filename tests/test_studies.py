"""`stressgen evaluate` and `stressgen anomalies` through the CLI, on small specs."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from stressgen import data, persist, rng
from stressgen.cli import app
from stressgen.generators.vae import TemporalVae, VaeConfig

SPECS = Path(__file__).parent / "data" / "specs"
runner = CliRunner()


def test_evaluate_writes_the_scorecard_for_the_listed_generators(tmp_path):
    res = runner.invoke(app, ["evaluate", str(SPECS / "evaluate_small.toml"), "--out", str(tmp_path)])
    assert res.exit_code == 0, (res.stdout, res.stderr)
    doc = json.loads((tmp_path / "fidelity.json").read_text())
    assert {row["generator"] for row in doc["table"]} >= {"bootstrap", "garch"}
    assert (tmp_path / "fidelity.html").stat().st_size > 0 and (tmp_path / "fidelity.parquet").exists()
    assert "bootstrap" in res.stdout and "garch" in res.stdout  # the ranking


def test_evaluate_refuses_an_unknown_generator_in_one_line(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text((SPECS / "evaluate_small.toml").read_text().replace('"garch"]', '"garhc"]'))
    res = runner.invoke(app, ["evaluate", str(spec)])
    assert res.exit_code == 1
    line = res.stderr.strip()
    assert "\n" not in line and "evaluate.generators" in line and "did you mean 'garch'" in line


def test_anomalies_lists_windows_of_a_saved_vae(tmp_path):
    market = data.load("sp500-20", start="2019-01-01", assets=["AAPL", "JPM", "XOM"])
    gen = TemporalVae()
    fitted = gen.fit(market, key=rng.root(0), config=VaeConfig.preset("tiny"))
    persist.save_model(tmp_path / "vae", gen, fitted)
    spec = tmp_path / "anom.toml"
    spec.write_text('[data]\ndataset = "sp500-20"\nstart = 2019-01-01\nassets = ["AAPL", "JPM", "XOM"]\n'
                    f'[generator]\nmodel = "{tmp_path / "vae"}"\n[[strategies]]\nplugin = "equal_weight"\n')
    res = runner.invoke(app, ["anomalies", str(spec), "--top", "3"])
    assert res.exit_code == 0, (res.stdout, res.stderr)
    rows = [line.split() for line in res.stdout.strip().splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(r[1] <= r[2] and r[1] >= "2019" for r in rows)  # start <= end, inside the data
    scores = [float(r[3]) for r in rows]
    assert np.all(np.diff(scores) <= 0)  # most anomalous first


def test_evaluate_runs_the_calibration_section(tmp_path):
    spec = tmp_path / "cal.toml"
    spec.write_text((SPECS / "evaluate_small.toml").read_text()
                    + "\n[evaluate.calibration]\nevery_months = 12\nstart = 2019-01-01\nend = 2020-12-31\n"
                      "horizon = 21\nn_worlds = 32\nmin_history = 252\n")
    out = tmp_path / "out"
    res = runner.invoke(app, ["evaluate", str(spec), "--out", str(out)])
    assert res.exit_code == 0, (res.stdout, res.stderr)
    table = pd.read_csv(out / "calibration.csv")
    assert set(table["generator"]) == {"bootstrap", "garch"}
    assert set(table["outcome"]) == {"ew:total_return", "ew:max_drawdown", "equal_weight:total_return",
                                     "equal_weight:max_drawdown"}
    assert (table["n"] == 2).all() and table["ks_pvalue"].between(0, 1).all()
    doc = json.loads((out / "calibration.json").read_text())
    assert doc["meta"]["origins"] == ["2018-12-31", "2019-12-31"]
    assert len(list((out / "calibration-cache").glob("*.npz"))) == 4  # one per (generator, origin)
    html = (out / "fidelity.html").read_text()
    assert "Calibration (rolling origin)" in html and 'id="pit"' in html
    assert "ew:max_drawdown" in res.stdout and "calibration.csv" in res.stdout


def test_evaluate_reports_progress_per_generator_and_replicate():
    from stressgen.spec import load_spec
    from stressgen.studies import evaluate_spec

    seen = []
    evaluate_spec(load_spec(SPECS / "evaluate_small.toml"), progress=lambda *event: seen.append(event))
    for name in ("bootstrap", "garch"):  # one replicate: fitted, sampled, scored
        assert [(d, t) for s, d, t in seen if s == f"evaluate: {name}"] == [(0, 3), (1, 3), (2, 3), (3, 3)]
