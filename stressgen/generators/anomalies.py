"""What the VAE's latent space gives users: latent paths of a history and anomaly scores of its windows.

* `encode(fitted, market)`: the posterior mean of z for every window of the history (one row per window,
  dated by its last day): a low-dimensional path of market states for regime maps (notebooks/04).
* `anomaly_scores(fitted, market, key=...)`: the negative ELBO of each window, highest first. A window
  scores high when the model, given everything before it, finds it improbable: crashes and volatility
  bursts rise to the top.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from ..errors import ConfigError, InsufficientHistoryError, UnknownAssetError
from ..types import MarketData
from .vae import VaeFitted, gather_windows, prepare, window_loss

__all__ = ["encode", "anomaly_scores"]

_BATCH = 1024  # windows per jitted call (bounded memory on long histories)


def _check(fitted: VaeFitted, market: MarketData, stride: int) -> np.ndarray:
    """Window start indices (into `market.log_returns`) after checking the market matches the fit."""
    if not isinstance(fitted, VaeFitted):
        raise ConfigError(f"expected a fitted VAE (VaeFitted), got {type(fitted).__name__}")
    if tuple(market.assets) != tuple(fitted.context.assets):
        missing = sorted(set(fitted.context.assets) - set(market.assets))
        raise UnknownAssetError(f"the market's assets {list(market.assets)} are not those the VAE was fitted on "
                                f"(missing {missing})" if missing else
                                f"the market's assets {list(market.assets)} are not those the VAE was fitted on, "
                                f"in that order", path=market.source, choices=fitted.context.assets,
                                expected=f"assets {list(fitted.context.assets)}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ConfigError(f"stride must be a positive integer, got {stride!r}")
    c, w = fitted.config.context, fitted.config.window
    starts = np.arange(c, market.log_returns.shape[0] - w + 1, stride)
    if starts.size == 0:
        raise InsufficientHistoryError(f"{market.log_returns.shape[0]} returns hold no window", path=market.source,
                                       expected=f"at least {c + w} returns (context {c} + window {w})")
    return starts


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _posterior_mean(state, data, starts, *, graphdef, config):
    net = nnx.merge(graphdef, state)
    win, ctx, log_v = gather_windows(data, starts, config)
    return net.encode(win, net.condition(ctx, log_v[:, 0], data.prior))[0]


@partial(jax.jit, static_argnames=("graphdef", "config", "n_samples"))
def _neg_elbo(state, data, starts, key, *, graphdef, config, n_samples):
    nll, kl = window_loss(nnx.merge(graphdef, state), data, starts, key, config, n_samples=n_samples)
    return nll + kl


def _batched(fn, starts: np.ndarray) -> np.ndarray:
    """`fn(starts_batch)` over fixed-size batches (the last one padded), so there is one compiled shape."""
    out = []
    for i in range(0, starts.size, _BATCH):
        part = starts[i:i + _BATCH]
        padded = np.concatenate([part, np.full(_BATCH - part.size, part[-1])]) if part.size < _BATCH else part
        out.append(np.asarray(fn(jnp.asarray(padded)))[:part.size])
    return np.concatenate(out)


def encode(fitted: VaeFitted, market: MarketData, *, stride: int = 1) -> pd.DataFrame:
    """Latent path of `market`: the posterior mean of z of each window, indexed by the window's last date.

    Windows start every `stride` days once `context` days of past exist; columns are ``z0 .. z{latent-1}``.
    The volatility states start from the unconditional level at the market's first day, as in the fit.
    """
    starts = _check(fitted, market, stride)
    data = prepare(market.log_returns, np.asarray(fitted.scale, np.float64), fitted.config, fitted.prior, fitted.level)
    z = _batched(lambda s: _posterior_mean(fitted.state, data, s, graphdef=fitted.graphdef,
                                           config=fitted.config), starts)
    ends = market.return_dates[starts + fitted.config.window - 1]
    return pd.DataFrame(z, index=pd.DatetimeIndex(ends, name="end"),
                        columns=[f"z{i}" for i in range(z.shape[1])])


def anomaly_scores(fitted: VaeFitted, market: MarketData, *, key: jax.Array, stride: int | None = None,
                   n_samples: int = 8) -> pd.DataFrame:
    """Negative ELBO (nats per window) of the windows of `market`, most anomalous first.

    Windows start every `stride` days (default: the model's window, so windows do not overlap); the ELBO's
    expectation is estimated with `n_samples` posterior draws from `key`. Columns: ``start``, ``end`` (first
    and last return date of the window) and ``score``.
    """
    stride = fitted.config.window if stride is None else stride
    starts = _check(fitted, market, stride)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    data = prepare(market.log_returns, np.asarray(fitted.scale, np.float64), fitted.config, fitted.prior, fitted.level)
    score = _batched(lambda s: _neg_elbo(fitted.state, data, s, key, graphdef=fitted.graphdef,
                                         config=fitted.config, n_samples=n_samples), starts)
    dates = market.return_dates
    frame = pd.DataFrame({"start": dates[starts], "end": dates[starts + fitted.config.window - 1],
                          "score": score.astype(np.float64)})
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
