"""The GAN's tail maps (`_gan_tails`): the tail index floor of the data's map, the calibration of the map to
the generator's own output law, and model files without that calibration. The stale-price market on which the
uncorrected map made absurd worlds is an acceptance run (bench/acceptance/test_plausible_worlds.py).

Every seed is fixed, so the suite is deterministic. The session's tiny GAN is the only fit read here.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from stressgen.errors import ConfigError, ModelFileError
from stressgen.generators import _gan_tails as gt
from stressgen.generators import _tails
from stressgen.generators.gan import Gan, GanConfig


def _lambert_w_draws(n, seed, loc=0.0, scale=1.0, dl=0.2, dr=0.1):
    """Lambert W x Gaussian draws written out in NumPy, independently of the module."""
    u = np.random.default_rng(seed).standard_normal(n)
    return loc + scale * u * np.exp(np.where(u < 0, dl, dr) * u * u / 2)


# ------------------------------------------------------------------------------------------ the maps alone

def test_fit_quantiles_recovers_a_lambert_w_law():
    x = _lambert_w_draws(200_000, 1, loc=0.1, scale=1.3, dl=0.2, dr=0.05)
    t = _tails.fit_quantiles(x[:, None])
    # 4 standard deviations of each estimate (measured over 12 seeds: 0.0052, 0.0079, 0.0046, 0.0025; no bias)
    assert float(t.loc[0]) == pytest.approx(0.1, abs=0.021) and float(t.scale[0]) == pytest.approx(1.3, abs=0.032)
    assert float(t.delta_left[0]) == pytest.approx(0.2, abs=0.019)
    assert float(t.delta_right[0]) == pytest.approx(0.05, abs=0.01)
    # a Gaussian sample: (almost) no tail parameter, and forward is then a standardisation
    g = _tails.fit_quantiles(np.random.default_rng(2).standard_normal((100_000, 1)))
    assert max(float(g.delta_left[0]), float(g.delta_right[0])) < 0.01
    assert float(g.scale[0]) == pytest.approx(1.0, abs=0.02)


def test_data_tails_floor_the_tail_index_and_say_where():
    g = np.random.default_rng(3)
    n = 3000
    heavy = 0.01 * g.standard_t(2.5, n)  # maximum likelihood would put delta near 0.4 (index 2.5)
    normal = 0.01 * g.standard_normal(n)
    r = np.column_stack([heavy, normal])
    free = _tails.fit(r)
    assert float(free.delta_left[0]) > 0.3  # what the uncapped fit would do
    tails, notes = gt.data_tails(r, ("HEAVY", "NORMAL"), tail_index=4.0, max_delta=0.45)
    assert float(tails.delta_left[0]) == pytest.approx(0.25) and float(tails.delta_right[0]) == pytest.approx(0.25)
    assert len(notes) == 1 and notes[0].startswith("HEAVY (left and right tail parameter capped at 0.25")
    # a Gaussian column keeps its (small) maximum-likelihood tail: no cap binds, nothing is reported
    np.testing.assert_allclose(np.asarray(tails.delta_left[1]), np.asarray(free.delta_left[1]), atol=1e-6)
    # a higher floor binds where the asset's own tail is lighter
    tails6, notes6 = gt.data_tails(r, ("HEAVY", "NORMAL"), tail_index=6.0, max_delta=0.45)
    assert float(tails6.delta_left[0]) == pytest.approx(1 / 6, rel=1e-5) and "gan.tail_index 6" in notes6[0]
    with pytest.raises(ConfigError, match="gan.tail_index"):
        GanConfig(tail_index=2.0)


def test_calibration_undoes_the_amplification_of_a_scale_mixture():
    # A generator's output with unit variance but a random scale (a scale mixture of normals, as the GAN's
    # u_t = mu_t + sigma_t M z_t): pushed through the data's map as if N(0, 1), its tail is blown up.
    g = np.random.default_rng(4)
    n = 400_000
    s = np.exp(0.3 * g.standard_normal(n))
    u = s * g.standard_normal(n) / np.sqrt(np.mean(s * s))
    data_law = _tails.TailTransform(*(jnp.asarray([v], jnp.float32) for v in (0.0, 0.015, 0.25, 0.25)))
    out, notes = gt.output_tails(u[: n // 2, None], data_law, ("X",))
    assert len(notes) == 1 and notes[0].startswith("X (uncalibrated 1-in-10,000-day fall")
    fresh = jnp.asarray(u[n // 2:, None], jnp.float32)  # other draws than the fit's
    calibrated = np.asarray(gt.to_returns(data_law, out, fresh, 6.0))[:, 0]
    raw = np.asarray(_tails.inverse(data_law, jnp.clip(fresh, -6, 6)))[:, 0]
    for p in (1e-3, 1e-4):
        target = float(_tails.inverse(data_law, jnp.asarray([[special.ndtri(p)]], jnp.float32))[0, 0])
        # calibrated: the data's law (the sampling error of a 1-in-10,000 quantile of 200,000 draws is ~10%)
        assert np.quantile(calibrated, p) == pytest.approx(target, rel=0.15)
        assert np.quantile(raw, p) < 1.5 * target  # uncalibrated: half as deep again, or more
    assert np.abs(raw).max() > 3 * np.abs(calibrated).max()
    # the inverse map sends returns to the generator's units and back
    y = np.asarray(calibrated[:1000, None], np.float64)
    back = gt.to_returns(data_law, out, jnp.asarray(gt.to_generator(data_law, out, y, 6.0)), 6.0)
    np.testing.assert_allclose(np.asarray(back), y, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------------------- a whole fit

def test_a_model_without_calibration_is_refused(small_fits):
    _, fitted = small_fits("gan")  # the session's tiny GAN on small_market
    gen = Gan()
    meta, arrays = gen.export_fitted(fitted)
    assert gen.restore_fitted(meta, arrays).digest == fitted.digest
    tampered = dict(arrays)
    tampered["output_tails.scale"] = tampered["output_tails.scale"] * np.float32(1.5)
    with pytest.raises(ModelFileError, match="digest"):
        gen.restore_fitted(meta, tampered)
    old = {k: v for k, v in arrays.items() if not k.startswith("output_tails.")}
    with pytest.raises(ModelFileError, match="no output_tails"):
        gen.restore_fitted(meta, old)
