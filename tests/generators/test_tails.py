"""The Lambert W x Gaussian tail transform against SciPy, closed forms and maximum-likelihood theory.

Statistical tolerances are 4 standard errors (a correct implementation fails one check with probability
~6e-5); every seed is fixed, so the suite is deterministic.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from stressgen.errors import ConfigError, ZeroVarianceError
from stressgen.generators import _tails as tl

TRUE = dict(loc=0.0005, scale=0.012, delta_left=0.22, delta_right=0.12)


def _transform(dtype=jnp.float32, **params):
    p = {**TRUE, **params}
    return tl.TailTransform(*(jnp.asarray([p[k]], dtype=dtype) for k in ("loc", "scale", "delta_left",
                                                                          "delta_right")))


def _draw(n, seed, p=TRUE):
    """Lambert W x Gaussian draws written out in NumPy, independently of the module."""
    u = np.random.default_rng(seed).standard_normal(n)
    d = np.where(u < 0, p["delta_left"], p["delta_right"])
    return p["loc"] + p["scale"] * u * np.exp(d * u * u / 2)


def test_lambertw_matches_scipy():
    x = np.concatenate([[0.0], np.logspace(-10, 25, 400), np.linspace(0.01, 20, 400)])
    with jax.enable_x64(True):
        w64 = np.asarray(tl.lambertw(jnp.asarray(x, dtype=jnp.float64)))
    ref = special.lambertw(x).real
    np.testing.assert_allclose(w64, ref, rtol=1e-13, atol=1e-300)
    w32 = np.asarray(tl.lambertw(jnp.asarray(x, dtype=jnp.float32)))
    np.testing.assert_allclose(w32, ref, rtol=5e-6, atol=1e-9)
    assert np.isnan(np.asarray(tl.lambertw(jnp.asarray([-0.1])))).all()


def test_forward_matches_scipy_and_round_trips():
    y = _draw(5000, 1)
    with jax.enable_x64(True):
        t = _transform(jnp.float64)
        u = np.asarray(tl.forward(t, jnp.asarray(y[:, None])))[:, 0]
        back = np.asarray(tl.inverse(t, jnp.asarray(u[:, None])))[:, 0]
    z = (y - TRUE["loc"]) / TRUE["scale"]
    d = np.where(z < 0, TRUE["delta_left"], TRUE["delta_right"])
    ref = np.sign(z) * np.sqrt(special.lambertw(d * z * z).real / d)
    np.testing.assert_allclose(u, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back, y, rtol=1e-12, atol=1e-15)
    # float32, as the generators use it: exact to a few ulps of the data
    t32 = _transform(jnp.float32)
    back32 = np.asarray(tl.inverse(t32, tl.forward(t32, jnp.asarray(y[:, None], jnp.float32))))[:, 0]
    np.testing.assert_allclose(back32, y, rtol=2e-5, atol=1e-8)


def test_zero_delta_is_the_gaussian():
    t = _transform(delta_left=0.0, delta_right=0.0)
    y = jnp.asarray(_draw(1000, 2)[:, None])
    np.testing.assert_allclose(np.asarray(tl.forward(t, y)), (np.asarray(y) - TRUE["loc"]) / TRUE["scale"],
                               rtol=1e-5, atol=1e-5)


def test_density_integrates_to_one_and_is_the_cdf_derivative():
    with jax.enable_x64(True):
        t = _transform(jnp.float64)
        pdf = lambda y: float(jnp.exp(tl.log_density(t, jnp.asarray([[y]])))[0, 0])  # noqa: E731
        total = sum(integrate.quad(pdf, a, b, limit=200)[0] for a, b in [(-np.inf, -0.1), (-0.1, 0.0), (0.0, 0.1),
                                                                        (0.1, np.inf)])
        assert total == pytest.approx(1.0, abs=1e-7)
        # CDF by SciPy's W: P(Y <= y) = Phi(W_delta(z)); its numerical derivative is the density
        ys = np.array([-0.2, -0.05, -0.01, 0.0004, 0.02, 0.09])

        def cdf(y):
            z = (y - TRUE["loc"]) / TRUE["scale"]
            d = TRUE["delta_left"] if z < 0 else TRUE["delta_right"]
            return stats.norm.cdf(np.sign(z) * np.sqrt(special.lambertw(d * z * z).real / d))

        h = 1e-7
        numeric = np.array([(cdf(y + h) - cdf(y - h)) / (2 * h) for y in ys])
        np.testing.assert_allclose([pdf(y) for y in ys], numeric, rtol=1e-5)


def test_inverse_of_normals_has_the_closed_form_variance():
    # symmetric delta: E z^2 = E[u^2 exp(delta u^2)] = (1 - 2 delta)^(-3/2); finite 4th moment for delta < 1/4
    delta, n = 0.1, 400_000
    t = _transform(loc=0.0, scale=1.0, delta_left=delta, delta_right=delta)
    u = np.random.default_rng(3).standard_normal((n, 1))
    z2 = np.asarray(tl.inverse(t, jnp.asarray(u, jnp.float32)), dtype=np.float64)[:, 0] ** 2
    se = z2.std(ddof=1) / np.sqrt(n)
    assert abs(z2.mean() - (1 - 2 * delta) ** -1.5) < 4 * se


def test_fit_recovers_parameters_within_standard_errors():
    n = 20_000
    y = _draw(n, 4)
    fitted = tl.fit(y[:, None])
    est = np.array([float(fitted.loc[0]), np.log(float(fitted.scale[0])), float(fitted.delta_left[0]),
                    float(fitted.delta_right[0])])
    # standard errors from the observed information: the Hessian of the mean negative log-likelihood
    hess = optimize.approx_fprime(est, lambda th: optimize.approx_fprime(th, tl._neg_loglik, 1e-6, y), 1e-5)
    se = np.sqrt(np.diag(np.linalg.inv(0.5 * (hess + hess.T))) / n)
    truth = np.array([TRUE["loc"], np.log(TRUE["scale"]), TRUE["delta_left"], TRUE["delta_right"]])
    assert np.all(np.abs(est - truth) < 4 * se), (est, truth, se)
    left, right = tl.tail_index(fitted)
    assert left[0] == pytest.approx(1 / est[2]) and right[0] == pytest.approx(1 / est[3])


def test_fit_caps_delta_for_infinite_variance_data():
    y = _draw(5000, 5, {**TRUE, "delta_left": 0.7, "delta_right": 0.7})
    fitted = tl.fit(y[:, None], max_delta=0.45)
    assert float(fitted.delta_left[0]) == pytest.approx(0.45) and float(fitted.delta_right[0]) == pytest.approx(0.45)


def test_bundled_returns_are_gaussianised(sp500_20):
    r = sp500_20.log_returns[:, :6]
    fitted = tl.fit(r, assets=sp500_20.assets[:6])
    u = np.asarray(tl.forward(fitted, jnp.asarray(r, jnp.float32)), dtype=np.float64)
    kurt_raw, kurt_u = stats.kurtosis(r, axis=0), stats.kurtosis(u, axis=0)
    assert (kurt_raw > 5).all()  # daily stock returns: heavy tails
    # the fit is deterministic on fixed data; what is left of the excess kurtosis is tiny against the raw one
    assert (np.abs(kurt_u) < 0.05 * kurt_raw).all(), (kurt_raw, kurt_u)
    assert np.abs(u.mean(axis=0)).max() < 0.05 and np.abs(u.std(axis=0) - 1).max() < 0.05
    left, right = tl.tail_index(fitted)
    assert ((left > 2) & (left < 10) & (right > 2) & (right < 10)).all()  # power-law tails, finite variance


def test_stale_prices_fit():
    """Mostly unchanged closes (zero returns, as RRC's early-1990s prices): the median absolute deviation
    is zero, yet the moves that happened have a scale, and the fit takes it from them."""
    y = _draw(2000, 7)
    y[np.random.default_rng(8).random(2000) < 0.7] = 0.0
    fitted = tl.fit(y[:, None], assets=("stale",))
    moved = y[y != 0]
    assert 0 < float(fitted.scale[0]) < 3 * moved.std()
    assert np.isfinite(np.asarray(tl.forward(fitted, jnp.asarray(y[:, None], jnp.float32)))).all()


def test_bad_input_is_a_typed_error():
    y = _draw(100, 6)
    with pytest.raises(ZeroVarianceError, match="'flat'"):
        tl.fit(np.stack([y, np.full(100, 0.01)], axis=1), assets=("ok", "flat"))
    with pytest.raises(ConfigError, match="finite"):
        tl.fit(np.array([[np.nan]] * 20))
    with pytest.raises(ConfigError, match="max_delta"):
        tl.fit(y[:, None], max_delta=0.5)
    with pytest.raises(ConfigError, match="missing"):
        tl.TailTransform.from_dict({"loc": np.zeros(2)})
    arrays = _transform().as_dict()
    assert float(tl.TailTransform.from_dict(arrays).scale[0]) == pytest.approx(TRUE["scale"], rel=1e-7)
