"""`TemporalVae.reanchor`: the trained VAE continuing from the end of another history (a start state, a
rolling origin without a refit). The network, the scale and the tail tables are kept; the context days, the
volatility states and the history context are rebuilt from the new history (checked here against slow NumPy
loops of the formulas of `vae.prepare`)."""

import jax
import numpy as np
import pytest

from stressgen import data, persist, rng
from stressgen.errors import ConfigError

CUT = "2020-03-13"


def _key():
    return rng.stream(rng.root(0), rng.FIT)


def _worlds(gen, fitted):
    scen = gen.sample(fitted, key=rng.stream(rng.root(4), rng.SAMPLE), n_worlds=6, horizon=10)
    return np.asarray(scen.log_returns), scen


def _slow_now(returns: np.ndarray, scale: np.ndarray, half_lives, context: int):
    """(ctx0, v0) by plain loops: returns over the fit's (float32) scale; mean squares of all days, then of
    down days (doubled), with the float32 decays 0.5 ** (1 / h) of each half-life, from 1 before the first day."""
    s = np.asarray(scale, np.float64)
    x = [[r / s[a] for a, r in enumerate(row)] for row in np.asarray(returns, np.float64).tolist()]
    decays = [float(np.float32(0.5 ** (1.0 / h))) for h in half_lives]
    v = [[1.0] * len(s) for _ in decays]
    down = [[1.0] * len(s) for _ in decays]
    for row in x:
        for i, lam in enumerate(decays):
            v[i] = [lam * v[i][a] + (1.0 - lam) * row[a] * row[a] for a in range(len(s))]
            down[i] = [lam * down[i][a] + (1.0 - lam) * 2.0 * min(row[a], 0.0) ** 2 for a in range(len(s))]
    return np.asarray(x[-context:], np.float32), np.asarray(v + down, np.float32)


def test_reanchor_to_its_own_history_is_the_fit(small_fits, small_market):
    gen, fitted = small_fits("vae")
    same = gen.reanchor(fitted, small_market, key=_key())
    assert same.digest == fitted.digest
    for name in ("ctx0", "v0", "scale", "prior", "level", "t_table", "t_grid"):
        np.testing.assert_array_equal(np.asarray(getattr(same, name)), np.asarray(getattr(fitted, name)))
    np.testing.assert_array_equal(_worlds(gen, same)[0], _worlds(gen, fitted)[0])


def test_reanchor_to_a_cut_moves_now_and_keeps_the_network(small_fits, small_market):
    gen, fitted = small_fits("vae")
    cut = data.select(small_market, end=CUT)
    moved = gen.reanchor(fitted, cut, key=_key())
    c = fitted.config
    # "now" is the cut's, computed independently of `prepare`
    ctx0, v0 = _slow_now(cut.log_returns, np.asarray(fitted.scale), c.half_lives, c.context)
    np.testing.assert_array_equal(np.asarray(moved.ctx0), ctx0)
    np.testing.assert_allclose(np.asarray(moved.v0), v0, rtol=1e-6)
    assert moved.ctx0.shape == (c.context, 4) and moved.v0.shape == (2 * len(c.half_lives), 4)
    assert not np.allclose(np.asarray(moved.v0), np.asarray(fitted.v0), rtol=1e-2)
    assert not np.array_equal(np.asarray(moved.ctx0), np.asarray(fitted.ctx0))
    # what the fit estimated is kept, array for array
    for name in ("scale", "prior", "level", "t_table", "t_grid"):
        np.testing.assert_array_equal(np.asarray(getattr(moved, name)), np.asarray(getattr(fitted, name)))
    for a, b in zip(*(jax.tree_util.tree_leaves(f.state) for f in (moved, fitted)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert moved.history is fitted.history and moved.config == c and moved.digest != fitted.digest
    # the worlds continue from the cut
    y, scen = _worlds(gen, moved)
    t = small_market.return_dates.get_loc(CUT)
    assert scen.history_end == CUT and scen.history.shape == (c.history_days, 4)
    np.testing.assert_array_equal(np.asarray(scen.history),
                                  small_market.log_returns[t + 1 - c.history_days:t + 1].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(scen.anchor_prices), small_market.prices[t + 1].astype(np.float32))
    assert scen.provenance.params_digest == moved.digest
    assert np.isfinite(y).all() and not np.array_equal(y, _worlds(gen, fitted)[0])


def test_saved_reanchored_model_loads_bit_for_bit(small_fits, small_market, tmp_path):
    gen, fitted = small_fits("vae")
    moved = gen.reanchor(fitted, data.select(small_market, end=CUT), key=_key())
    persist.save_model(tmp_path / "moved", gen, moved)
    gen2, back = persist.load_model(tmp_path / "moved")
    assert back.digest == moved.digest and back.context.history_end == CUT
    np.testing.assert_array_equal(_worlds(gen2, back)[0], _worlds(gen, moved)[0])


def test_other_assets_or_too_short_a_history_refused(small_fits, small_market):
    gen, fitted = small_fits("vae")
    other = data.select(small_market, assets=["JPM", "AAPL", "XOM", "WMT"])
    with pytest.raises(ConfigError, match="'vae'.*assets"):
        gen.reanchor(fitted, other, key=_key())
    c = fitted.config.context
    m = small_market

    def head(n_prices):
        return m.__class__(prices=m.prices[:n_prices], dates=m.dates[:n_prices], assets=m.assets)

    with pytest.raises(ConfigError, match=f"'vae'.*{c - 1} returns.*context of {c}"):
        gen.reanchor(fitted, head(c), key=_key())
    just = gen.reanchor(fitted, head(c + 1), key=_key())  # exactly C returns: enough
    np.testing.assert_array_equal(np.asarray(just.ctx0),
                                  (m.log_returns[:c] / np.asarray(fitted.scale, np.float64)).astype(np.float32))
