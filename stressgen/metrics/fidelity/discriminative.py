"""Discriminative score: ``|accuracy - 0.5|`` of a small classifier told to separate real from synthetic
windows (TimeGAN's score, with a simpler classifier). 0: indistinguishable; 0.5: perfectly separable.

Samples are windows of L days of one asset, standardised with the training period's per-asset mean and
standard deviation, described by ten features (mean, std, skewness, excess kurtosis, min, max, sum, lag-1
ACF of r and of |r|, maximum drawdown). Real windows start every `step` days of the held-out period; as
many synthetic windows are drawn at random (path, start, asset). A logistic regression on standardised
features is scored by k-fold cross-validation. Real folds are contiguous blocks of time so that
overlapping real windows rarely sit on both sides of a fold (that would let the classifier recognise a
window it has seen); synthetic windows are independent and are assigned to folds at random.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["window_features", "discriminative_score"]


def window_features(w: np.ndarray) -> np.ndarray:
    """``[n, 10]`` features of windows ``w[n, L]`` (standardised returns)."""
    w = np.asarray(w, dtype=np.float64)
    m = w.mean(axis=1, keepdims=True)
    d = w - m
    sd = np.sqrt(np.mean(d * d, axis=1))
    safe = np.where(sd > 0, sd, 1.0)
    skew = np.mean(d**3, axis=1) / safe**3
    kurt = np.mean(d**4, axis=1) / safe**4 - 3.0

    def lag1(x):
        x = x - x.mean(axis=1, keepdims=True)
        den = np.sum(x * x, axis=1)
        return np.sum(x[:, 1:] * x[:, :-1], axis=1) / np.where(den > 0, den, 1.0)

    cum = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    mdd = np.max(np.maximum.accumulate(cum, axis=1) - cum, axis=1)
    return np.stack([m[:, 0], sd, skew, kurt, w.min(1), w.max(1), w.sum(1), lag1(w), lag1(np.abs(w)), mdd], axis=1)


@functools.partial(jax.jit, static_argnames=("n", "folds"))
def _draws(key: jax.Array, n_paths: int, n_starts: int, n_assets: int, *, n: int, folds: int
           ) -> tuple[jax.Array, ...]:
    """The synthetic windows' (path, start, asset), their folds and the classifier's seed: the same draws as
    one `jax.random` call each, in one compiled program (one compilation instead of six in a fresh process,
    about 1 s of a cold scorecard)."""
    k_path, k_start, k_asset, k_fold, k_clf = jax.random.split(key, 5)
    return (jax.random.randint(k_path, (n,), 0, n_paths), jax.random.randint(k_start, (n,), 0, n_starts),
            jax.random.randint(k_asset, (n,), 0, n_assets),
            jax.random.permutation(k_fold, jnp.arange(n) % folds), jax.random.randint(k_clf, (), 0, 2**31 - 1))


def discriminative_score(train: np.ndarray, real: np.ndarray, syn: np.ndarray, *, key: jax.Array,
                         length: int = 20, step: int = 5, folds: int = 5) -> float:
    """``|cv accuracy - 0.5|`` of real (``[time, assets]``) against synthetic (``[paths, time, assets]``) windows.

    `train` only provides the standardisation. The classifier's `random_state` and the synthetic draws come
    from `key`, so the score is reproducible.
    """
    # scikit-learn is imported here: every spec load imports this package, and only scoring needs it
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    train = np.asarray(train, dtype=np.float64)
    mean, sd = train.mean(axis=0), train.std(axis=0, ddof=1)
    real = (np.asarray(real, dtype=np.float64) - mean) / sd
    syn = np.asarray(syn)
    n_assets = real.shape[1]
    starts = np.arange(0, real.shape[0] - length + 1, step)
    if starts.size < folds:
        return float("nan")
    idx = starts[:, None] + np.arange(length)
    real_w = np.concatenate([real[idx, j] for j in range(n_assets)])  # [starts * assets, L]
    real_fold = np.tile(np.arange(starts.size) * folds // starts.size, n_assets)
    n = real_w.shape[0]
    path, start, asset, syn_fold, seed = (np.asarray(a) for a in _draws(
        key, syn.shape[0], syn.shape[1] - length + 1, n_assets, n=n, folds=folds))
    syn_w = syn[path[:, None], start[:, None] + np.arange(length), asset[:, None]]
    syn_w = (syn_w - mean[asset, None]) / sd[asset, None]
    x = np.concatenate([window_features(real_w), window_features(syn_w)])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    fold = np.concatenate([real_fold, syn_fold])
    seed = int(seed)
    correct = 0
    # One BLAS thread: the fit's products are [~50,000 x 10] matrix-vector ones, where a thread pool only
    # waits for its threads (on 2 busy cores, 30 ms a product against 2 ms on one thread: 4 s of the
    # scorecard's 15). The classifier is the same; only the BLAS's own split of the gradient's sum over
    # samples changes its rounding (as it changes with the machine's core count).
    with threadpool_limits(limits=1, user_api="blas"):
        for f in range(folds):
            test = fold == f
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
            clf.fit(x[~test], y[~test])
            correct += int(np.sum(clf.predict(x[test]) == y[test]))
    return float(abs(correct / y.size - 0.5))
