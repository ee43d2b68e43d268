"""The plausibility gate end to end (issue 14 point 5): a tiny run whose generator draws implausible worlds
(a test-only family, registered for the test, that scales the bootstrap's returns 25-fold) gets a red box in
report.html and one line on stderr; with ``[report] strict = true`` it exits 1 with one line and writes
nothing. Re-rendering the results directory keeps the box."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stressgen.cli import app
from stressgen.generators import _registry
from stressgen.generators._base import AbstractGenerator
from stressgen.generators.bootstrap import StationaryBootstrap

runner = CliRunner()

SPEC = """
[data]
dataset = "sp500-20"
start = 2015-01-01
assets = ["AAPL", "JPM", "XOM"]

[generator]
family = "explosive_test"
scale = {scale}

[simulation]
worlds = 64
horizon = 20
seed = 3
chunk_size = 32

[[strategies]]
plugin = "equal_weight"

[report]
worst_worlds = 1
sample_paths = 2
n_boot = 0
strict = {strict}
"""


@dataclasses.dataclass(frozen=True)
class ExplosiveConfig:
    scale: float = 25.0


@dataclasses.dataclass(frozen=True)
class _Fitted:
    inner: Any
    scale: float
    config: ExplosiveConfig
    digest: str = "explosive"


class Explosive(AbstractGenerator):
    """Test only: the stationary bootstrap with every log return multiplied by `scale`."""

    name = "explosive_test"
    config_type = ExplosiveConfig

    def fit(self, market, *, key, config=None):
        cfg = self._config(config)
        return _Fitted(StationaryBootstrap().fit(market, key=key), float(cfg.scale), cfg)

    def sample(self, fitted, *, key, n_worlds, horizon, condition=None, first_world=0):
        worlds = StationaryBootstrap().sample(fitted.inner, key=key, n_worlds=n_worlds, horizon=horizon,
                                              condition=condition, first_world=first_world)
        return worlds.replace(log_returns=worlds.log_returns * fitted.scale)


@pytest.fixture
def explosive(monkeypatch):
    monkeypatch.setitem(_registry.BUILTIN, Explosive.name, Explosive)


def _spec(tmp_path: Path, *, scale: float = 25.0, strict: bool = False) -> Path:
    path = tmp_path / "explosive.toml"
    path.write_text(SPEC.format(scale=scale, strict=str(strict).lower()))
    return path


def _alert_box(html: str) -> str | None:
    start = html.find('<div class="box alerts" role="alert">')
    return None if start < 0 else html[start:html.index("</div>", start)]


def test_implausible_worlds_warn_in_the_report_and_on_stderr(explosive, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(_spec(tmp_path)), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plausibility: ") and " checks failed: " in lines[0]
    assert "volatility AAPL" in lines[0] and "worst world" in lines[0]
    html = (out / "report.html").read_text()
    box = _alert_box(html)
    assert box is not None and "Implausible worlds" in box
    assert html.index('class="box alerts"') < html.index("<section")  # at the top
    assert "volatility: AAPL: the 99.9% quantile" in box and "beyond sampling error" in box
    assert "big_moves: " in box and "worst world " in box
    summary = json.loads((out / "summary.json").read_text())
    gate = summary["plausibility"]
    assert gate["passed"] is False
    failed = {(c["check"], c["asset"]) for c in gate["checks"] if not c["passed"]}
    assert {("volatility", a) for a in ("AAPL", "JPM", "XOM")} <= failed
    assert isinstance(summary["data"]["suspects"], list)
    # re-rendered from the results directory: the same checks, the same box
    before = (out / "summary.json").read_text()
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.stderr
    assert (out / "summary.json").read_text() == before
    assert _alert_box((out / "report.html").read_text()) == box


def test_strict_turns_the_warning_into_an_error(explosive, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(_spec(tmp_path, strict=True)), "--out", str(out), "--quiet"])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stressgen: error: plausibility: "), result.stderr
    assert "volatility AAPL" in lines[0] and "strict = true" in lines[0] and "Traceback" not in result.stderr
    assert not (out / "report.html").exists() and not out.exists()


def test_plausible_worlds_pass_strict(explosive, tmp_path):
    """Scale 1 is the plain bootstrap: strict passes, no box, no line."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(_spec(tmp_path, scale=1.0, strict=True)), "--out", str(out),
                                 "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert "plausibility" not in result.stderr
    html = (out / "report.html").read_text()
    assert _alert_box(html) is None and "all passed" in html
