"""Temporal VAE: save/load, the floor on nu in model files, divergence guard, latent paths. What fits learn (down
to a known entropy, the floor on nu holding, stylized facts and anomaly scores on the bundled history) is an
acceptance run: bench/acceptance/test_vae_learns.py."""

import dataclasses

import numpy as np
import pytest

from stressgen import data, rng
from stressgen.errors import ConfigError, ModelFileError, UnknownAssetError
from stressgen.generators import anomalies
from stressgen.generators._training import TrainConfig, TrainingDivergedWarning
from stressgen.generators.vae import TemporalVae, VaeConfig
from stressgen.metrics.diversity import diversity

GEN = TemporalVae()


def _quiet(**train):
    base = dict(batch_size=64, eval_every=50, steps_per_call=25, patience=100, progress=False)
    return TrainConfig(**{**base, **train})


def test_a_file_saved_under_the_old_floor_is_refused(small_market):
    fit = GEN.fit(small_market, key=rng.root(2), config=VaeConfig.preset("tiny"))
    meta, arrays = GEN.export_fitted(fit)
    assert GEN.restore_fitted(meta, arrays).digest == fit.digest
    old = {k: v for k, v in meta.items() if k != "nu_floor"}
    with pytest.raises(ModelFileError, match="another floor on its Student-t nu .*refit"):
        GEN.restore_fitted(old, arrays)
    # a Gaussian VAE reads no nu: its files from before the floor restore as they were
    tiny = VaeConfig.preset("tiny")
    gauss = GEN.fit(small_market, key=rng.root(2), config=dataclasses.replace(tiny, likelihood="gaussian"))
    meta, arrays = GEN.export_fitted(gauss)
    assert GEN.restore_fitted({k: v for k, v in meta.items() if k != "nu_floor"}, arrays).digest == gauss.digest
    # its innovations' copula (`_vae_copula`: the Pearson target itself, no t margins to invert) is a
    # correlation matrix, and four stocks of one market co-move
    c = np.asarray(gauss.innov_chol, np.float64) @ np.asarray(gauss.innov_chol, np.float64).T
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-5)
    assert (c[np.triu_indices(4, 1)] > 0).all()


def test_save_and_load_give_bit_identical_worlds(small_market, tmp_path):
    fit = GEN.fit(small_market, key=rng.root(2), config=VaeConfig.preset("tiny"))
    meta, arrays = GEN.export_fitted(fit)
    back = GEN.restore_fitted(meta, arrays)
    a = GEN.sample(fit, key=rng.root(3), n_worlds=20, horizon=30)
    b = GEN.sample(back, key=rng.root(3), n_worlds=20, horizon=30)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
    assert back.digest == fit.digest and back.config == fit.config
    from stressgen import persist

    persist.save_model(tmp_path / "vae", GEN, fit)
    gen2, loaded = persist.load_model(tmp_path / "vae")
    c = gen2.sample(loaded, key=rng.root(3), n_worlds=20, horizon=30)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(c.log_returns))
    # a tampered parameter is caught by the digest
    name = next(k for k in arrays if k.startswith("net/"))
    bad = dict(arrays, **{name: arrays[name] + 1.0})
    with pytest.raises(ModelFileError, match="digest"):
        GEN.restore_fitted(meta, bad)
    with pytest.raises(ModelFileError, match="missing"):
        GEN.restore_fitted(meta, {k: v for k, v in arrays.items() if k != name})


def test_divergence_guard_fires_on_a_blow_up_learning_rate(small_market):
    config = dataclasses.replace(VaeConfig.preset("tiny"), train=_quiet(steps=200, learning_rate=1e4,
                                                                        eval_every=25, steps_per_call=25))
    with pytest.warns(TrainingDivergedWarning, match="diverged"):
        fit = GEN.fit(small_market, key=rng.root(4), config=config)
    assert fit.history.stop_reason == "diverged" and fit.history.restored
    s = GEN.sample(fit, key=rng.root(5), n_worlds=8, horizon=50)
    assert np.isfinite(np.asarray(s.log_returns)).all()


def test_encode_gives_a_dated_latent_path(small_market):
    fit = GEN.fit(small_market, key=rng.root(9), config=VaeConfig.preset("tiny"))
    z = anomalies.encode(fit, small_market, stride=5)
    cfg = fit.config
    assert list(z.columns) == [f"z{i}" for i in range(cfg.latent)]
    assert len(z) == len(range(cfg.context, small_market.log_returns.shape[0] - cfg.window + 1, 5))
    assert z.index[0] == small_market.return_dates[cfg.context + cfg.window - 1]
    assert np.isfinite(z.to_numpy()).all() and z.index.is_monotonic_increasing
    other = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM", "MSFT"])
    with pytest.raises(UnknownAssetError, match="not those the VAE was fitted on"):
        anomalies.encode(fit, other)


def test_diversity_sees_mode_collapse():
    rng_np = np.random.default_rng(10)
    real = 0.01 * rng_np.standard_normal((3000, 3))
    fresh = 0.01 * rng_np.standard_normal((300, 100, 3))
    collapsed = np.broadcast_to(fresh[:1], fresh.shape)
    assert diversity(collapsed, real).ratio == 0.0
    # fresh draws of the same law: the ratio is 1 up to the sampling error of two means of distances
    assert 0.85 < diversity(fresh, real).ratio < 1.15


@pytest.mark.parametrize("kwargs", [dict(window=0), dict(likelihood="laplace"), dict(val_fraction=0.7),
                                    dict(half_lives=()), dict(nu_init=1.5), dict(nu_init=4.0),
                                    dict(train={"steps": 10})])
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError, match="vae\\."):
        VaeConfig(**kwargs)
    with pytest.raises(ConfigError, match="preset"):
        VaeConfig.preset("huge")
