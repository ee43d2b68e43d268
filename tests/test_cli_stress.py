"""`stressgen run` on a spec with [[stress]] cases: the terminal's stress table and low-ESS line, the report
section and summary.json 1.3, and `stressgen report` re-rendering the same results."""

import json
from pathlib import Path

from typer.testing import CliRunner

from stressgen.cli import app

SPEC = Path(__file__).parent / "data" / "specs" / "stress_small.toml"
runner = CliRunner()


def test_run_with_stress_cases(tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", str(SPEC), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("stress case"))
    assert "ES 95% equal_weight" in lines[head]
    cases = [line.split()[0] for line in lines[head + 2:head + 6]]
    assert cases == ["base", "covid", "crash", "tail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema_version"] == "1.4"
    stress = {c["name"]: c for c in summary["stress"]}
    assert list(stress) == ["base", "covid", "crash", "tail"]
    assert stress["base"]["strategies"]["equal_weight"]["shift"] is None
    shift = stress["covid"]["strategies"]["equal_weight"]["shift"]["es"]
    es = {n: stress[n]["strategies"]["equal_weight"]["es"]["value"] for n in ("base", "covid")}
    assert abs(shift - (es["covid"] - es["base"])) < 1e-12
    assert stress["crash"]["start"].split()[0] >= "2016-01-01"  # a day of the data, with a year before it
    # the tilt at z = 2.5 over 40 days concentrates the weights: flagged in the summary and on stderr
    flagged = [n for n, c in stress.items() if c["low_ess"]]
    assert "tail" in flagged and "base" not in flagged
    for name in flagged:
        assert f"stress: {name}: effective number of worlds" in result.stderr
    html = (out / "report.html").read_text()
    assert "Stress scenarios" in html and "Low effective size: tail" in html
    before = (out / "summary.json").read_text()
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.stderr
    assert (out / "summary.json").read_text() == before
