"""Conformance suite: every registered generator, built-in or plugin, must pass all of these."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen import generators, rng
from stressgen.errors import ConfigError
from stressgen.types import Scenarios

NAMES = sorted(generators.available())


@pytest.fixture(scope="module")
def fitted(small_fits):
    """One fit per generator family (fits are the slow part), shared with other test modules (conftest)."""
    return small_fits


def _sample(gen, fit, key, n, horizon=40, first=0):
    return gen.sample(fit, key=key, n_worlds=n, horizon=horizon, first_world=first)


def test_registry_lists_builtins():
    assert {"bootstrap", "garch"} <= set(NAMES)
    with pytest.raises(KeyError, match="valid choices: bootstrap, .*garch"):  # every family listed, sorted
        generators.get("no-such-generator")


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtype_and_metadata(name, fitted, small_market):
    gen, fit = fitted(name)
    s = _sample(gen, fit, rng.root(1), 6, horizon=33)
    assert isinstance(s, Scenarios)
    assert s.log_returns.shape == (6, 33, small_market.n_assets)
    assert s.log_returns.dtype == jnp.float32
    assert s.history.shape[1] == small_market.n_assets and s.history.shape[0] > 0
    np.testing.assert_allclose(np.asarray(s.history[-1]), small_market.log_returns[-1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(s.anchor_prices), small_market.prices[-1], rtol=1e-6)
    assert s.assets == small_market.assets
    assert s.provenance.generator == name and len(s.provenance.params_digest) == 16
    assert s.history_end == str(small_market.dates[-1].date())
    frame = s.to_pandas(world=2)
    assert frame.shape == (34, small_market.n_assets) and frame.index.is_monotonic_increasing
    assert frame.index[0] == small_market.dates[-1]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("horizon", [1, 700])
def test_any_horizon_is_finite(name, horizon, fitted):
    gen, fit = fitted(name)
    s = _sample(gen, fit, rng.root(2), 16, horizon=horizon)
    assert s.log_returns.shape[1] == horizon
    assert bool(jnp.isfinite(s.log_returns).all())


@pytest.mark.parametrize("name", NAMES)
def test_same_key_same_worlds_other_key_other_worlds(name, fitted):
    gen, fit = fitted(name)
    a = _sample(gen, fit, rng.root(3), 8)
    b = _sample(gen, fit, rng.root(3), 8)
    c = _sample(gen, fit, rng.root(4), 8)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
    assert not np.array_equal(np.asarray(a.log_returns), np.asarray(c.log_returns))
    # worlds within one draw differ from each other too (no repeated key)
    assert not np.array_equal(np.asarray(a.log_returns[0]), np.asarray(a.log_returns[1]))


@pytest.mark.parametrize("name", NAMES)
def test_world_i_is_independent_of_chunking(name, fitted):
    gen, fit = fitted(name)
    key = rng.root(5)
    whole = _sample(gen, fit, key, 10)
    chunks = list(generators.iter_chunks(gen, fit, key=key, n_worlds=10, horizon=40, chunk_size=3))
    assert [c.n_worlds for c in chunks] == [3, 3, 3, 1]
    assert [c.provenance.first_world for c in chunks] == [0, 3, 6, 9]
    np.testing.assert_array_equal(np.asarray(Scenarios.concat(chunks).log_returns), np.asarray(whole.log_returns))
    # world 7 alone, and world 7 inside a larger draw, are the same world
    alone = _sample(gen, fit, key, 1, first=7)
    bigger = _sample(gen, fit, key, 25)
    np.testing.assert_array_equal(np.asarray(alone.log_returns[0]), np.asarray(whole.log_returns[7]))
    np.testing.assert_array_equal(np.asarray(bigger.log_returns[:10]), np.asarray(whole.log_returns))


@pytest.mark.parametrize("name", NAMES)
def test_no_recompilation_on_second_call(name, fitted, count_compiles):
    gen, fit = fitted(name)
    jax.block_until_ready(_sample(gen, fit, rng.root(6), 12, first=0).log_returns)
    with count_compiles() as compiles:
        # a new key and a new chunk offset are data, not program structure
        jax.block_until_ready(_sample(gen, fit, rng.root(7), 12, first=12).log_returns)
    assert compiles.count == 0


# every family's sampling programs: the block or world-count programs that cost seconds to compile
SAMPLERS = {"simulate", "_sample", "_sample_held", "_sample_forced", "simulate_block", "_sample_block"}


@pytest.mark.parametrize("name", NAMES)
def test_a_new_world_count_reuses_the_sampling_program(name, fitted, count_compiles):
    """Asking for 5 worlds after 7 runs the program compiled for 7 (a bucket of world counts, or fixed blocks),
    and world j is the same in both."""
    gen, fit = fitted(name)
    seven = _sample(gen, fit, rng.root(6), 7, first=3)
    with count_compiles() as compiles:
        five = _sample(gen, fit, rng.root(6), 5, first=3)
    assert not SAMPLERS & set(compiles.names), compiles.names
    np.testing.assert_array_equal(np.asarray(five.log_returns), np.asarray(seven.log_returns[:5]))


def test_world_bucket_is_the_next_power_of_two_then_multiple_of_1024():
    assert [generators.world_bucket(n) for n in (1, 2, 3, 5, 8, 9, 1000, 1024, 1025, 2000, 10_000)] == [
        1, 2, 4, 8, 8, 16, 1024, 1024, 2048, 2048, 10_240]


@pytest.mark.parametrize("name", NAMES)
def test_bad_arguments_are_typed_errors(name, fitted, small_market):
    gen, fit = fitted(name)
    for n_worlds, horizon in [(0, 10), (5, 0), (2.5, 10), (True, 10)]:
        with pytest.raises(ConfigError):
            gen.sample(fit, key=rng.root(0), n_worlds=n_worlds, horizon=horizon)
    with pytest.raises(ConfigError, match=name):
        gen.fit(small_market, key=rng.root(0), config=object())
    # a stress condition is accepted where the family implements it and refused, naming the family,
    # everywhere else: never silently ignored
    accepts = {
        "garch": (generators.Tilt, generators.PathShock, generators.CrisisReplay),
        "regime": (generators.InRegime, generators.PathShock, generators.CrisisReplay),
        "bootstrap": (generators.InRegime, generators.PathShock, generators.CrisisReplay),
    }
    # what a run spec checks before any fit: the family's declared conditions are the ones it accepts
    assert set(gen.conditions) == set(accepts.get(name, ()))
    conditions = (generators.Tilt(theta=0.5), generators.PathShock(day=2, size=-0.1),
                  generators.InRegime(regime="turbulent"), generators.CrisisReplay(episode="covid-2020"),
                  "2008-like")
    for condition in conditions:
        if isinstance(condition, accepts.get(name, ())):
            continue
        with pytest.raises(ConfigError, match=name):
            gen.sample(fit, key=rng.root(0), n_worlds=2, horizon=5, condition=condition)
