"""Reverse stress testing (stressgen.studies.reverse): on a small garch spec, every reported world reaches the
loss (re-measured by hand for buy-and-hold), the conditional mean path, probability and volatility path equal
their by-hand weighted versions, contributions add up to the world's total return, the tilted probability
agrees with a plain run's within standard errors, each typed error, and the CLI end to end."""

import contextlib
import dataclasses
import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from stressgen import generators, rng
from stressgen.cli import app
from stressgen.errors import ConfigError
from stressgen.metrics.weighted import weighted_probability
from stressgen.spec import GeneratorSpec, load_spec
from stressgen.studies import reverse_math as rm
from stressgen.studies.reverse import (GENERIC_SCORE, NOISE_SCORE, REFERENCE_STREAM, REFERENCE_WORLDS, ReverseConfig,
                                      reverse_stress)
from stressgen.studies.reverse_tilt import TILT_GRID, pick_z
from stressgen.studies.reverse_io import FORMAT, FORMAT_VERSION

SPEC = """
[data]
dataset = "sp500-20"
start = 2015-01-01
assets = ["AAPL", "JPM", "XOM"]

[generator]
family = "garch"

[simulation]
worlds = 256
horizon = 20
seed = 3
chunk_size = 128

[[strategies]]
plugin = "buy_and_hold"
name = "hold"

[[strategies]]
plugin = "ma_crossover"
params = { slow = 30 }
grid = { fast = [5, 10] }

[costs]
fee_bps = 5
slippage_bps = 2
"""
LOSS = 0.08
COST = 7e-4  # buy-and-hold pays (5 + 2) bps of its one trade, at close 0
ALL = 256  # k = every world: the result then lists all losing worlds, so by-hand statistics can use them


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("reverse") / "reverse_small.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def spec(spec_path):
    return load_spec(spec_path)


@pytest.fixture(scope="module")
def tilted(spec):
    return reverse_stress(spec, ReverseConfig(strategy="hold", loss=LOSS, k=ALL))


@pytest.fixture(scope="module")
def plain(spec):
    return reverse_stress(spec, ReverseConfig(strategy="hold", loss=LOSS, k=ALL, tilt_z=0))


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _hold_equity(path):
    """Buy-and-hold of equal weights bought at close 0, by hand: ``mean_i exp(cumsum r_i) - cost`` (rf = 0)."""
    growth = np.exp(np.cumsum(np.asarray(path, np.float64), axis=0))
    return np.concatenate([[1.0], growth.mean(1) - COST])


@pytest.mark.parametrize("which", ["tilted", "plain"])
def test_every_world_reaches_the_loss_by_hand(which, request):
    res = request.getfixturevalue(which)
    assert res.n_losing == len(res.most_plausible) > 0
    for w in res.most_plausible:
        by_hand = _hold_equity(w.path)
        np.testing.assert_allclose(w.equity, by_hand, atol=2e-5)
        assert 1.0 - by_hand[-1] >= LOSS - 2e-5 and w.loss >= LOSS
        assert w.loss == pytest.approx(1.0 - by_hand[-1], abs=2e-5)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_plain_worlds_are_the_generators_worlds(spec, plain):
    market = spec.data.load()
    gen = generators.get("garch")
    fitted = gen.fit(market, key=rng.stream(rng.root(3), rng.FIT))
    key = rng.stream(rng.root(3), rng.SAMPLE)
    for w in plain.most_plausible[:3]:
        one = gen.sample(fitted, key=key, n_worlds=1, horizon=20, first_world=w.world)
        np.testing.assert_array_equal(np.asarray(one.log_returns[0]), w.path)


@pytest.mark.parametrize("which", ["tilted", "plain"])
def test_conditional_statistics_by_hand(which, request):
    res = request.getfixturevalue(which)
    worlds = res.most_plausible
    p = np.array([w.probability for w in worlds])
    paths = np.stack([w.path for w in worlds]).astype(np.float64)
    # P(loss >= l) is the summed probability of the losing worlds (weights normalised over all worlds)
    assert res.probability.value == pytest.approx(p.sum(), rel=1e-9)
    cum = np.cumsum(paths, axis=1)
    np.testing.assert_allclose(res.mean_path, (p[:, None, None] * cum).sum(0) / p.sum(), rtol=1e-9, atol=1e-12)
    vol = np.sqrt((paths ** 2).mean(-1) * 252)
    np.testing.assert_allclose(res.drivers.vol_losing, (p[:, None] * vol).sum(0) / p.sum(), rtol=1e-9)
    assert res.drivers.vol_all.shape == (20,) and np.isfinite(res.drivers.vol_all).all()
    corr = [np.corrcoef(x, rowvar=False)[np.triu_indices(3, 1)].mean() for x in paths]
    assert res.drivers.corr_losing == pytest.approx(float((p * corr).sum() / p.sum()), rel=1e-9)
    assert -1 <= res.drivers.corr_all <= 1


@pytest.mark.parametrize("which", ["tilted", "plain"])
def test_contributions_add_up_to_the_loss(which, request):
    """Day t adds E_{t-1} w_ti R_ti per asset (compounding goes to the day's starting equity), so the parts sum
    to E_T - 1; for buy-and-hold asset i's part is w_i (G_i - 1), G_i its growth over the horizon."""
    res = request.getfixturevalue(which)
    for w in res.most_plausible + res.worst:
        c = w.contributions
        assert c.total == pytest.approx(-w.loss, abs=2e-5)
        growth = np.exp(np.asarray(w.path, np.float64).sum(0))
        np.testing.assert_allclose(c.per_asset, (growth - 1.0) / 3.0, atol=2e-5)
        assert c.costs == pytest.approx(-COST, rel=1e-5) and c.cash == 0.0
    mean = res.drivers.contributions
    p = np.array([w.probability for w in res.most_plausible])
    by_hand = sum(pi * w.contributions.per_asset for pi, w in zip(p, res.most_plausible)) / p.sum()
    np.testing.assert_allclose(mean.per_asset, by_hand, rtol=1e-9)


def test_tilted_probability_agrees_with_plain(tilted, plain):
    assert tilted.tilt is not None and plain.tilt is None
    assert plain.ess_kish == pytest.approx(256.0)
    assert tilted.ess_kish < 256 and tilted.n_losing > plain.n_losing  # the tilt puts worlds in the event
    a, b = tilted.probability, plain.probability
    assert abs(a.value - b.value) <= 3.0 * math.hypot(a.se, b.se)


def test_plausibility_ranking_percentiles_and_worst(tilted):
    assert tilted.plausibility_method in (NOISE_SCORE, GENERIC_SCORE)
    scores = [w.plausibility for w in tilted.most_plausible]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= w.percentile <= 100.0 for w in tilted.most_plausible)
    losses = [w.loss for w in tilted.worst]
    assert losses == sorted(losses, reverse=True) and losses[0] == tilted.largest_loss
    assert len(tilted.worst) == min(ALL, 256)


def test_automatic_z_minimises_the_pilot_relative_variance(tilted, plain):
    """The pilot's table recomputed in NumPy from its losses and raw weights; the chosen z is the table's
    smallest RV among the z with at least 10 pilot worlds past the loss (here some z has them)."""
    c = tilted.tilt_choice
    assert c is not None and plain.tilt_choice is None  # an explicit tilt_z (0) runs no pilot
    assert c.grid == TILT_GRID and c.loss.shape == c.raw_w.shape == (len(TILT_GRID), c.pilot_worlds)
    hit = c.loss >= LOSS
    y = np.where(hit, c.raw_w, 0.0)
    rv = y.var(axis=1) / y.mean(axis=1) ** 2
    np.testing.assert_allclose(np.where(hit.any(1), rv, np.nan), c.rv, rtol=1e-12)
    np.testing.assert_array_equal(hit.sum(1), c.n_event)
    np.testing.assert_array_equal(c.raw_w[0], 1.0)  # z = 0: plain worlds
    ok = hit.sum(1) >= 10
    assert ok.any()
    assert c.z == TILT_GRID[int(np.argmin(np.where(ok, rv, np.inf)))]
    assert tilted.tilt is None if c.z == 0 else tilted.tilt.startswith(f"tilt(theta={c.z / math.sqrt(20)!r},")
    assert any("automatic tilt: z = " in n for n in tilted.notes)


def test_pick_z_rule():
    grid = (0.0, 1.0, 2.0, 3.0)
    assert pick_z(grid, (9.0, 3.0, 2.0, 2.5), (12, 30, 60, 5)) == 2.0  # z = 3 has too few events
    assert pick_z(grid, (math.nan, 50.0, 40.0, 60.0), (0, 3, 4, 4)) == 3.0  # none has 10: most events, larger z
    assert pick_z(grid, (math.nan,) * 4, (0, 0, 0, 0)) == 3.0


def test_percentiles_come_from_the_plain_reference_batch(spec, plain, tilted):
    """Each reported percentile is the share of 1,000 plain worlds, drawn from stream(sample key, 2) and scored
    independently here, whose noise score is at or below the world's."""
    from stressgen.generators._garch_noise import garch_noise_model

    market = spec.data.load()
    gen = generators.get("garch")
    with _quiet():
        fitted = gen.fit(market, key=rng.stream(rng.root(3), rng.FIT))
    ref_key = rng.stream(rng.stream(rng.root(3), rng.SAMPLE), REFERENCE_STREAM)
    ref = np.asarray(gen.sample(fitted, key=ref_key, n_worlds=REFERENCE_WORLDS, horizon=20).log_returns)
    model = garch_noise_model(fitted, 20)
    loglik = jax.jit(jax.vmap(lambda r: model.log_prob(model.noise_of(r))))
    scores = np.asarray(loglik(jnp.asarray(ref, jnp.float32)), np.float64)
    assert tilted.n_reference == plain.n_reference == REFERENCE_WORLDS
    for res in (plain, tilted):
        for w in res.most_plausible[:5] + res.worst[:3]:
            assert w.percentile == pytest.approx(100.0 * np.mean(scores <= w.plausibility), abs=0.21)


def test_event_probability_is_binomial_for_equal_weights():
    x = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    est = weighted_probability(x, np.ones(8))
    assert est.value == 0.25 and est.ess == pytest.approx(8.0)
    assert est.se == pytest.approx(math.sqrt(0.25 * 0.75 / 8))
    w = np.array([0.1, 3.0, 3.0, 0.1, 1.0, 1.0, 1.0, 1.0])  # large weights outside the event
    est = weighted_probability(x, w)
    wn = w / w.sum()
    p = float(wn @ x)
    assert est.value == pytest.approx(p) and est.se == pytest.approx(math.sqrt(float(wn ** 2 @ (x - p) ** 2)))
    assert est.lo < p < est.hi


def test_generic_score_is_the_gaussian_loglik():
    r = np.random.default_rng(0).normal(size=(4, 5, 2)) * 0.01
    mu, cov = np.array([0.001, -0.001]), np.array([[1e-4, 3e-5], [3e-5, 2e-4]])
    from scipy import stats

    want = stats.multivariate_normal(mu, cov).logpdf(r.reshape(-1, 2)).reshape(4, 5).sum(1)
    np.testing.assert_allclose(rm.gaussian_loglik(r, mu, cov), want, rtol=1e-10)
    pct = rm.weighted_percentile(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.25, 0.25]), np.array([2.0]))
    assert pct[0] == pytest.approx(75.0)


# ---------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("loss", [0, 0.0, -0.1, 1.5, math.nan, True, "0.2"])
def test_loss_outside_unit_interval(loss):
    with pytest.raises(ConfigError, match=r"reverse\.loss"):
        ReverseConfig(strategy="hold", loss=loss)


@pytest.fixture
def no_data(monkeypatch, spec):
    """Loading data fails the test: the errors below must come before any compute."""
    def refuse(self):
        raise AssertionError("data loaded before the input was checked")

    monkeypatch.setattr(type(spec.data), "load", refuse)


def test_unknown_strategy_lists_names(spec, no_data):
    with pytest.raises(ConfigError, match=r"reverse\.strategy") as err:
        reverse_stress(spec, ReverseConfig(strategy="hodl", loss=0.2))
    assert "ma_crossover[fast=5]" in str(err.value) and "did you mean 'hold'" in str(err.value)


def test_grid_parameter_sets_are_named_as_in_the_report(spec):
    from stressgen.studies.reverse import _strategy

    assert _strategy(spec, "ma_crossover[fast=10]").fast == 10
    assert _strategy(spec, "ma_crossover[fast=5]").fast == 5


def test_optimised_needs_a_noise_model(spec, no_data):
    boot = dataclasses.replace(spec, generator=GeneratorSpec(family="bootstrap"))
    with pytest.raises(ConfigError, match=r"reverse\.method.*bootstrap.*empirical"):
        reverse_stress(boot, ReverseConfig(strategy="hold", loss=0.2, method="optimised"))


def test_no_world_reaches_the_loss(spec):
    with pytest.raises(ConfigError, match=r"reverse\.loss") as err:
        reverse_stress(spec, ReverseConfig(strategy="hold", loss=1.0, n_worlds=32, tilt_z=0))
    message = str(err.value)
    assert "largest loss among 32 worlds" in message and "tilt" in message


# ------------------------------------------------------------------------------------------------- CLI

def test_cli_end_to_end(spec_path, tmp_path):
    out = tmp_path / "rev"
    # 128 worlds: one chunk of the fixtures' shape, so the engine's compiled program is reused
    result = CliRunner().invoke(app, ["reverse", str(spec_path), "--strategy", "hold", "--loss", "0.06",
                                      "--worlds", "128", "--top", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "P(loss >= 6.0%)" in result.stdout and "top drivers" in result.stdout
    doc = json.loads((out / "reverse.json").read_text())
    assert doc["format"] == FORMAT and doc["version"] == FORMAT_VERSION
    assert doc["config"]["strategy"] == "hold" and doc["config"]["n_worlds"] == 128
    assert 1 <= len(doc["most_plausible"]) <= 3
    for w in doc["most_plausible"]:
        assert w["loss"] >= 0.06 and w["total"] == pytest.approx(-w["loss"], abs=2e-5)
    arrays = load_file(out / "reverse.safetensors")
    assert arrays["mean_path"].shape == (20, 3)
    assert arrays["most_plausible/paths"].shape == (len(doc["most_plausible"]), 20, 3)
    assert set(doc["arrays"]) - {"file"} == set(arrays)


@pytest.mark.parametrize("args, key", [(["--strategy", "hold", "--loss", "1.5"], "reverse.loss"),
                                       (["--strategy", "nope", "--loss", "0.2"], "reverse.strategy")])
def test_cli_errors_are_one_line(spec_path, args, key):
    result = CliRunner().invoke(app, ["reverse", str(spec_path), *args, "--quiet"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stressgen: error: ") and key in lines[0]
