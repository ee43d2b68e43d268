"""Path risk: Wasserstein-1 of the maximum drawdowns of rolling windows (252 days, one a month).

A window's maximum drawdown is the largest fall from a running peak of its price path, as a fraction of the
peak: ``1 - min_t P_t / max_{s<=t} P_s`` with the path starting at 1 before the window's first return. It
is computed per asset (a one-asset price path rebuilt from log returns).
"""

from __future__ import annotations

import numpy as np

from .marginal import wasserstein1

__all__ = ["max_drawdown", "window_drawdowns", "drawdown_w1n"]


def max_drawdown(x: np.ndarray) -> np.ndarray:
    """Maximum drawdown (fraction, in [0, 1)) of each series of log returns ``x[..., time]``."""
    x = np.asarray(x, dtype=np.float64)
    cum = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(x, axis=-1)], axis=-1)
    worst_log = np.max(np.maximum.accumulate(cum, axis=-1) - cum, axis=-1)
    return -np.expm1(-worst_log)


def window_drawdowns(x: np.ndarray, window: int, step: int) -> np.ndarray:
    """Max drawdowns of the windows ``x[..., s:s+window, :]``, s = 0, step, ...: ``[..., windows, assets]``.

    `x` is ``[..., time, assets]``; the window is cut to the series length when the series is shorter.
    Worlds (the leading axes) go through in blocks: every window's path is a float64 copy, which for 1,000
    worlds of ten years would take 9 GiB at once. Each world's windows are computed alone either way.
    """
    x = np.asarray(x)
    window = min(window, x.shape[-2])
    if x.ndim <= 2 or x.size == 0:
        return _window_drawdowns(x, window, step)
    flat = x.reshape((-1,) + x.shape[-2:])
    per_world = ((x.shape[-2] - window) // step + 1) * window * x.shape[-1]
    block = max(1, _BLOCK_ELEMENTS // per_world)
    out = np.concatenate([_window_drawdowns(flat[i:i + block], window, step)
                          for i in range(0, flat.shape[0], block)])
    return out.reshape(x.shape[:-2] + out.shape[1:])


_BLOCK_ELEMENTS = 1 << 24  # window-path elements per block (128 MiB of float64)


def _window_drawdowns(x: np.ndarray, window: int, step: int) -> np.ndarray:
    views = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), window, axis=-2)
    return max_drawdown(views[..., ::step, :, :])  # views: [..., starts, assets, window]


def drawdown_w1n(real: np.ndarray, syn: np.ndarray, window: int = 252, step: int = 21) -> np.ndarray:
    """``[assets]`` W1 between real and pooled synthetic window drawdowns, over the real drawdowns' std.

    NaN for an asset whose real drawdowns do not vary (fewer than two windows). Both sides use the same
    window length: `window`, or the shorter of the two series when that is shorter.
    """
    window = min(window, np.shape(real)[-2], np.shape(syn)[-2])
    r = window_drawdowns(real, window, step)  # [windows, assets]
    s = window_drawdowns(syn, window, step).reshape(-1, r.shape[-1])
    out = np.full(r.shape[-1], np.nan)
    for j in range(r.shape[-1]):
        sd = np.std(r[:, j], ddof=1) if r.shape[0] > 1 else 0.0
        if sd > 0:
            out[j] = wasserstein1(r[:, j], s[:, j]) / sd
    return out
