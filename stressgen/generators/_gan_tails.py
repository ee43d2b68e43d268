"""The GAN's marginal maps: returns -> the Gaussian space the networks learn, and generated values -> returns.

Two things go wrong when a generator's output is pushed through the heavy-tail map fitted on the data
(`_tails`, ``y = loc + scale * u * exp(delta u^2 / 2)``), and each has its own guard here.

1. The map's tail index ``1 / delta`` is fitted by likelihood over the whole distribution, so a few odd days
   can set it: stale prices (long runs of unchanged closes, then a jump, as RRC's early-1990s data) push
   delta to its cap of 0.45, a tail index of 2.2, under which RRC's (fitted on 1990-2003) 1-in-a-million
   day, of which 2,000 one-year worlds hold about one, is a log return of 13. `data_tails` bounds each
   asset's delta so that the index is at least ``max(GanConfig.tail_index, Hill lower bound)``: 4 by
   default (finite kurtosis, the GARCH's floor), raised to the asset's Hill index of its largest 1% of |r|
   at its one-sided 95% lower bound ``hill * (1 - 1.645 / sqrt(k))`` when that is higher, the rule the
   GARCH's moment guard applies: the worlds' tails may not be heavier than the asset's own beyond its
   sampling error.

2. ``1 / delta`` is the tail index of ``y`` only when ``u`` is standard normal. The generator's output is
   not: ``u_t = mu_t + sigma_t (M z_t)`` is a scale mixture of normals, heavier than the Gaussian even when
   its variance is held at 1, and a scale mixture is amplified by the map. Conditionally on a scale ``s``
   the index becomes ``1 / (delta s^2)``, so the rare high-volatility states decide the tail. Measured on the
   default fit to all of sp500-20: the generator's 1-in-10,000 value was about 4.3 where a Gaussian's is
   3.7, and 62% of the worlds held a daily |log r| > 0.5 (history: 4% of its one-year windows), up to 18;
   with the cap of 1. alone (on the same trained generator) still 55%, up to 11. `output_tails` therefore
   measures the law the generator actually produces: it draws a long stationary sample of it at fit time
   (fixed key) and fits the same Lambert W family to it (by quantiles: `_tails.fit_quantiles`). Sampling
   maps a generated value through that fit's `forward` (the generator's own law -> N(0, 1)) and then
   through the data's `inverse`, so the worlds' margins are the data's fitted law, tail bounded as in 1.,
   and not an amplified copy of it, while the generator's dynamics and cross-section (its ranks) are
   untouched. Where the generator's law has a tail parameter of its own (``delta_g > 0``, as a scale
   mixture's fit does), `forward` grows like ``sqrt(log u)`` and the composite only like ``u**(delta /
   delta_g)``: an excursion past anything sampled is not blown up exponentially. The clip to
   ``+-GanConfig.max_gaussian`` applies to the calibrated Gaussian value, where its probability is known.

Neither guard is silent: a fit that capped a delta, or whose calibration moved an asset's 1-in-10,000-day
return by more than 10%, emits one `GanFitWarning` naming the assets.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from scipy import special

from ..numerics import hill_index, tail_count
from . import _tails

__all__ = ["GanFitWarning", "data_tails", "generated_sample", "output_tails", "to_generator", "to_returns", "warn"]

# The generator's law is measured on 256 x 1024 stationary days per asset (after a burn-in of the receptive
# field): the outermost fitted quantile is then the 1-in-13,000 one with 20 draws beyond it. Drawing and
# fitting take about 4 s at the default size with 20 assets on 2 CPU cores (a default fit takes minutes).
_PATHS, _DAYS, _BLOCK = 256, 1024, 32
_REPORT_P = 1e-4  # a 1-in-10,000 day (40 years): where a calibration's effect is reported
_REPORT_RATIO = 1.1


class GanFitWarning(UserWarning):
    """The GAN fit changed its tail maps (a capped tail parameter, a recalibrated margin); the message says
    which assets and how."""


def data_tails(r_train: np.ndarray, assets: tuple[str, ...], *, tail_index: float,
               max_delta: float) -> tuple[_tails.TailTransform, list[str]]:
    """The data's Lambert W map, each asset's delta capped at ``min(max_delta, 1 / kappa)`` with ``kappa =
    max(tail_index, Hill lower bound)`` (module docstring, 1.); notes for the assets where a cap binds."""
    k = tail_count(r_train.shape[0], 0.01)
    hill = np.array([hill_index(np.abs(r_train[:, j]), k) for j in range(r_train.shape[1])])
    low = hill * (1.0 - 1.645 / math.sqrt(k))
    kappa = np.where(np.isfinite(low) & (low > tail_index), low, tail_index)
    caps = np.minimum(max_delta, 1.0 / kappa)
    tails = _tails.fit(r_train, assets=assets, max_delta=caps)
    notes = []
    for j, asset in enumerate(assets):
        sides = [name for name, d in (("left", tails.delta_left), ("right", tails.delta_right))
                 if float(d[j]) >= caps[j] * (1 - 1e-5)]
        if sides:
            why = (f"gan.max_delta {max_delta:g}" if caps[j] == max_delta else
                   f"tail index floor {kappa[j]:.3g}: max(gan.tail_index {tail_index:g}, Hill {hill[j]:.3g} at "
                   f"its 95% lower bound {low[j]:.3g})")
            notes.append(f"{asset} ({' and '.join(sides)} tail parameter capped at {caps[j]:.3g}, {why})")
    return tails, notes


@partial(jax.jit, static_argnums=0)
def _generate(graphdef: Any, g_state: nnx.State, z: jax.Array) -> jax.Array:
    return nnx.merge(graphdef, g_state)(z)


def generated_sample(graphdef: Any, g_state: nnx.State, key: jax.Array, *, noise_dim: int, burn: int,
                     paths: int = _PATHS, days: int = _DAYS) -> np.ndarray:
    """``[paths * days, assets]`` stationary generator output from `key`: each path starts from `burn` days of
    fresh noise (the receptive field), which produce no output. Computed in blocks (bounded memory)."""
    z = jax.random.normal(key, (paths, days + burn, noise_dim))
    parts = [np.asarray(_generate(graphdef, g_state, z[i:i + _BLOCK])) for i in range(0, paths, _BLOCK)]
    u = np.concatenate(parts).reshape(paths * days, -1)
    return u.astype(np.float64)


def output_tails(u_gen: np.ndarray, tails: _tails.TailTransform,
                 assets: tuple[str, ...]) -> tuple[_tails.TailTransform, list[str]]:
    """The Lambert W law of the generator's output ``u_gen[draws, assets]`` (module docstring, 2.), and notes
    for the assets whose 1-in-10,000-day return it moves by more than 10% on either side."""
    out = _tails.fit_quantiles(u_gen, assets=assets)
    notes = []
    p = {"fall": special.ndtri(_REPORT_P), "rise": special.ndtri(1.0 - _REPORT_P)}
    s = jnp.asarray([[p["fall"]], [p["rise"]]], dtype=jnp.float32) * jnp.ones((1, len(assets)), jnp.float32)
    gen_q = _tails.inverse(out, s)  # the generator's own 1-in-10,000 values
    uncalibrated = np.asarray(_tails.inverse(tails, gen_q)) - np.asarray(tails.loc)
    calibrated = np.asarray(_tails.inverse(tails, s)) - np.asarray(tails.loc)
    ratio = uncalibrated / calibrated
    for j, asset in enumerate(assets):
        moved = [f"{side} {ratio[i, j]:.3g}x" for i, side in enumerate(p)
                 if not 1 / _REPORT_RATIO <= ratio[i, j] <= _REPORT_RATIO]
        if moved:
            notes.append(f"{asset} (uncalibrated 1-in-10,000-day {', '.join(moved)} the fitted law's)")
    return out, notes


def to_returns(tails: _tails.TailTransform, out: _tails.TailTransform, u: jax.Array, clip: float) -> jax.Array:
    """Generated values -> log returns: the generator's law to N(0, 1) (`out`), held within +-`clip`, then the
    data's heavy-tail map (`tails`)."""
    return _tails.inverse(tails, jnp.clip(_tails.forward(out, u), -clip, clip))


def to_generator(tails: _tails.TailTransform, out: _tails.TailTransform, log_returns: np.ndarray,
                 clip: float) -> np.ndarray:
    """Log returns -> the generator's units, the inverse of `to_returns`: the value the generator must produce
    for the worlds to show each return (a crash day beyond +-`clip` Gaussian units is held there, as worlds
    are). Used to find the state at the end of a history."""
    g = np.clip(np.asarray(_tails.forward(tails, jnp.asarray(log_returns, jnp.float32))), -clip, clip)
    return np.asarray(_tails.inverse(out, jnp.asarray(g, jnp.float32)))


def warn(capped: list[str], calibrated: list[str], n_assets: int) -> None:
    """One aggregated `GanFitWarning` for every change the fit made to its tail maps (none if there is none)."""
    parts = []
    if capped:
        parts.append(f"{len(capped)} of {n_assets} assets had a tail parameter capped, so that the worlds' tails "
                     f"are no heavier than the data support: {'; '.join(capped)}")
    if calibrated:
        parts.append(f"the generator's own output law is not the standard normal the heavy-tail map assumes, "
                     f"and calibrating the map to it moved the 1-in-10,000-day return of {len(calibrated)} of "
                     f"{n_assets} assets by more than {100 * (_REPORT_RATIO - 1):.0f}%: {'; '.join(calibrated)}")
    if parts:
        warnings.warn("GAN fit changed its tail maps: " + ". Also, ".join(parts), GanFitWarning, stacklevel=3)
