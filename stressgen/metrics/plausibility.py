"""Plausibility gate: are the synthetic worlds within what the real history makes believable?

Five checks of worlds ``[worlds, time, assets]`` of daily log returns against the real history they continue:

- ``non_finite``: no NaN or infinity anywhere (always a failure; such worlds are left out of the others).
- ``big_moves``: the share of worlds with any daily ``|log r| > big_move`` is at most ``big_move_ratio`` times
  the share of real windows of the horizon's length (every start day) that have one.
- ``hill_index`` (per asset): the Hill tail index of the largest ``hill_fraction`` of ``|r|`` (pooled over
  worlds and days; the first `HILL_WORLDS` worlds of a larger run) is at least ``hill_floor`` and at least the
  real index (same estimator) minus ``hill_slack``.
- ``volatility`` (per asset): the ``quantile`` (99.9%) across worlds of a world's annualised volatility is at
  most ``vol_ratio`` times the asset's highest real rolling volatility over windows of the horizon's length.
- ``ew_return``: the ``quantile`` of the horizon's equal-weight return (daily rebalanced: simple returns
  averaged across assets, compounded) is at most ``ew_ratio`` times the best real window's. A ratio of a best
  window that gained little or lost says nothing (1.5 x a loss is a bigger loss), and the best of a short
  history's few windows is no extreme, so the bound is ``max(ratio * best, G)``: G is the same quantile
  under a normal model of the daily equal-weight log growth with history's mean and standard deviation, over
  h days (predictive: ``sd * sqrt(h + h^2 / len(history))``, the drift's error included). G binds only for
  short or falling histories (sp500-20, one year: 1.5 x +104% = +156% against G = +114%).

The bounds sit on quantiles and tail indices, never on the maximum over worlds: the maximum of a correct
heavy-tailed model legitimately exceeds history's, so nothing is clipped. Each statistic is an estimate, so
a check fails only when its bound is violated beyond sampling error, one-sided. ``confidence`` is
family-wise: with m statistical checks (2 + 2 per asset), each is held at ``1 - (1 - confidence) / m``
(Bonferroni), so that a correct generator raises a false alarm in at most ``1 - confidence`` of runs
rather than in a third of them (43 checks at 99% each would); z is that level's normal quantile:

- share: a z-test of ``p_syn - ratio * p_real > 0`` with the Agresti-Coull standard errors of both shares
  (they stay positive at zero counts); the real share counts ``len(history) // window`` independent windows,
  because overlapping windows share their big days.
- Hill: ``SE = alpha / sqrt(k)``; against the floor the synthetic SE alone, against ``real - slack`` the two
  SEs in quadrature (the real index rests on ~1% of history, e.g. k = 84 days for sp500-20).
- quantiles: the order statistic of the lower confidence rank r (the largest r with
  ``P(Binomial(n, q) <= r - 1) <= 1 - confidence``, the exact form of ``n q - z sqrt(n q (1 - q))``) must exceed
  the bound; with too few worlds no rank qualifies and the check cannot fail. The real references (the highest
  rolling vol, the best window) are taken as given: the ratios are their slack.

Streaming, optax-style: ``state = init(...)``, ``state = update(state, chunk, first_world)`` per chunk,
``finalize(state)``; memory is per-world ``[worlds, assets]`` summaries plus a running top-k of |r| per asset.
A chunk checked elsewhere (another process or machine) travels as `export_partial` arrays and is folded in by
`merge`, which gives the same report as one sequential pass. The top-k is what caps the Hill index at
`HILL_WORLDS` worlds: 1% of every |r| of a million worlds would be 2.5 million values per asset, and each
chunk would have to ship its share; its standard error at the cap is already ``alpha / 224``.
`check_worlds` does all three at once. A history shorter than the horizon is compared through its one
window of its own length, and every message then says so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from scipy import special

from ..errors import ConfigError
from ..numerics import hill_index
from ..types import period_words
from ._plausibility_report import (PlausibilityCheck, PlausibilityReport, num, pct, quantile_check,
                                   quantile_lower_rank, why)

__all__ = ["PlausibilityConfig", "PlausibilityCheck", "PlausibilityReport", "References", "State", "CHECKS",
           "HILL_WORLDS", "init", "update", "merge", "export_partial", "import_partial", "finalize",
           "check_worlds", "hill_index", "quantile_lower_rank"]

CHECKS = ("non_finite", "big_moves", "hill_index", "volatility", "ew_return")
HILL_WORLDS = 20_000  # the Hill index reads the worlds below this index (see the module docstring)


@dataclasses.dataclass(frozen=True)
class PlausibilityConfig:
    """The plausibility bars (module docstring) and the family-wise confidence of their sampling tolerance."""

    big_move: float = 0.5
    big_move_ratio: float = 1.5
    hill_fraction: float = 0.01
    hill_floor: float = 2.0
    hill_slack: float = 1.0
    quantile: float = 0.999
    vol_ratio: float = 2.5
    ew_ratio: float = 1.5
    confidence: float = 0.99

    def __post_init__(self) -> None:
        for name in ("big_move", "big_move_ratio", "vol_ratio", "ew_ratio"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("hill_fraction", "quantile", "confidence"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be in (0, 1), got {getattr(self, name)}")


class References(NamedTuple):
    """What the real history allows, over windows of ``window = min(horizon, len(history))`` days."""

    window: int
    n_independent: int          # len(history) // window: the real share's sample size
    big_share: float            # share of windows (every start day) holding a big move
    hill: np.ndarray            # [assets] real Hill index
    hill_k: int
    max_vol: np.ndarray         # [assets] highest annualised rolling volatility (nan when window < 2)
    best_ew: float              # best equal-weight window return
    ew_gauss: float             # the quantile of the horizon's return under a normal model of history
    note: str                   # "" or the sentence saying the history is shorter than the horizon


class _Chunk(NamedTuple):
    first_world: int
    vol: np.ndarray             # [w, assets] annualised (nan in worlds with a non-finite value)
    ew: np.ndarray              # [w] equal-weight return over the horizon (nan there)
    non_finite: np.ndarray      # [w] count of non-finite values
    big_worlds: np.ndarray      # global world index of each daily |r| > big_move ...
    big_assets: np.ndarray      # ... and its asset column


class State(NamedTuple):
    config: PlausibilityConfig
    assets: tuple[str, ...]
    horizon: int
    periods_per_year: int
    n_worlds: int
    ref: References
    top: np.ndarray             # [assets, k_max + 1] the largest |r| so far (unordered), zeros at first
    max_abs: np.ndarray         # [assets] the largest |r| so far ...
    max_world: np.ndarray       # [assets] ... and its world (-1 before any)
    chunks: tuple[_Chunk, ...]


def _window_sums(x: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    return c[w:] - c[:-w]


def _references(history: np.ndarray, horizon: int, ppy: int, cfg: PlausibilityConfig) -> References:
    x = np.asarray(history, np.float64)
    t = x.shape[0]
    if x.ndim != 2 or t < 2 or not np.isfinite(x).all():
        raise ValueError(f"history must be finite [time >= 2, assets] log returns, got shape {x.shape}")
    w = min(horizon, t)
    big_day = (np.abs(x) > cfg.big_move).any(axis=1).astype(np.float64)
    k = max(1, math.ceil(cfg.hill_fraction * t))
    hill = np.array([hill_index(np.abs(x[:, j]), k) for j in range(x.shape[1])])
    max_vol = np.full(x.shape[1], math.nan)
    if w >= 2:
        d = x - x.mean(axis=0)  # demeaned first, so the window sums of squares do not cancel
        s1, s2 = _window_sums(d, w), _window_sums(d * d, w)
        var = np.maximum(s2 - s1 * s1 / w, 0.0) / (w - 1)
        max_vol = np.sqrt(var.max(axis=0) * ppy)
    growth = np.log1p(np.expm1(x).mean(axis=1))
    z_q = float(special.ndtri(cfg.quantile))
    # predictive: the drift estimated from t days adds its own error (sd h / sqrt(t)) to the horizon's
    gauss = math.expm1(growth.mean() * horizon + z_q * growth.std(ddof=1) * math.sqrt(horizon + horizon**2 / t))
    best = float(np.expm1(_window_sums(growth, w).max()))
    day = period_words(ppy)[0]
    note = (f" (the history of {t} {day}s is shorter than the {horizon}-{day} horizon, so it is compared with "
            f"history's one {t}-{day} window)" if horizon > t else "")
    return References(window=w, n_independent=t // w, big_share=float((_window_sums(big_day, w) > 0).mean()),
                      hill=hill, hill_k=k, max_vol=max_vol, best_ew=best,
                      ew_gauss=gauss, note=note)


def init(history: np.ndarray, assets: tuple[str, ...] | list[str], horizon: int, periods_per_year: int,
         config: PlausibilityConfig | None = None, *, n_worlds: int) -> State:
    """An empty accumulator for `n_worlds` worlds of `horizon` days, with the references of `history`
    (``[time, assets]`` real log returns)."""
    cfg = config or PlausibilityConfig()
    ref = _references(history, horizon, periods_per_year, cfg)
    if len(assets) != ref.hill.size or n_worlds < 1 or horizon < 1:
        raise ValueError(f"need assets for every history column and n_worlds, horizon >= 1, got "
                         f"{len(assets)} assets, {n_worlds} worlds, horizon {horizon}")
    k_max = math.ceil(cfg.hill_fraction * min(n_worlds, HILL_WORLDS) * horizon)
    top = np.zeros((len(assets), k_max + 1))
    return State(cfg, tuple(assets), int(horizon), int(periods_per_year), int(n_worlds), ref, top,
                 np.zeros(len(assets)), np.full(len(assets), -1, np.int64), ())


_BLOCK_VALUES = 1 << 20  # worlds are scanned in blocks of about this many values: a reused, cache-sized scratch


def update(state: State, log_returns: np.ndarray, first_world: int) -> State:
    """`state` with the worlds ``first_world ..`` of `log_returns` ``[w, horizon, assets]`` added."""
    r = np.asarray(log_returns)
    r = r if r.dtype in (np.float32, np.float64) else r.astype(np.float64)
    if r.ndim != 3 or r.shape[1:] != (state.horizon, len(state.assets)):
        raise ValueError(f"expected worlds [w, {state.horizon}, {len(state.assets)}], got {r.shape}")
    if not 0 <= first_world <= state.n_worlds - r.shape[0]:
        raise ValueError(f"worlds {first_world}..{first_world + r.shape[0] - 1} exceed the {state.n_worlds} "
                         "declared at init")
    if r.shape[0] == 0:
        return state
    keep, n_values = state.top.shape[1], r.shape[0] * r.shape[1]
    # Only |r| above a per-asset cut are looked at one by one: every big move (cut <= big_move) and every
    # value that can still enter the top-k (cut <= its k-th largest so far, which only rises).
    safe = np.minimum(state.top.min(axis=1), state.config.big_move)
    cut = safe
    if n_values >= 4 * keep and (state.top.min(axis=1) <= 0).any():
        # top-k not filled yet: guess a cut from the first block; it is kept only for assets with >= keep
        # values above it in this chunk (then the chunk's k-th largest, and so the final one, lies above it)
        head = np.abs(r[:max(1, _BLOCK_VALUES // (r.shape[1] * r.shape[2]))]).reshape(-1, r.shape[2])
        guess = np.quantile(head[::4], 1.0 - 1.25 * keep / n_values, axis=0)
        cut = np.minimum(np.fmax(safe, guess), state.config.big_move)  # fmax: a NaN guess falls back to safe
    cut = cut.astype(r.dtype)  # the cut compared below is the one scanned with
    scan = _scan(r, cut, state.periods_per_year)
    in_cap = scan[5] < HILL_WORLDS - first_world  # values that may enter the top-k
    short = (np.bincount(scan[4][in_cap], minlength=len(state.assets)) < keep) & (cut > safe)
    if short.any():  # the guess was too high for some asset: scan again with the safe cut there
        scan = _scan(r, np.where(short, safe, cut).astype(r.dtype), state.periods_per_year)
    vol, ew, non_finite, vals, cols, worlds = scan
    worlds = worlds + first_world
    top, max_abs, max_world = state.top.copy(), state.max_abs.copy(), state.max_world.copy()
    order = np.argsort(cols.astype(np.uint16), kind="stable")  # a radix sort: group the values by asset
    counts = np.bincount(cols, minlength=len(state.assets))
    ends = np.cumsum(counts)
    for j in np.flatnonzero(counts):
        mine = order[ends[j] - counts[j]:ends[j]]
        v, wj = vals[mine], worlds[mine]
        best = int(np.argmax(v))  # ties go to the lowest world index, whatever the order of the chunks
        if v[best] > max_abs[j] or (v[best] == max_abs[j] and wj[best] < max_world[j]):
            max_abs[j], max_world[j] = v[best], wj[best]
        merged = np.concatenate([top[j], v[wj < HILL_WORLDS]])
        top[j] = np.partition(merged, merged.size - keep)[merged.size - keep:]
    big = vals > state.config.big_move
    chunk = _Chunk(int(first_world), vol, ew, non_finite, worlds[big], cols[big])
    return state._replace(top=top, max_abs=max_abs, max_world=max_world, chunks=state.chunks + (chunk,))


def merge(a: State, b: State) -> State:
    """One state holding the worlds of `a` and of `b` (disjoint worlds of the same run, in any order)."""
    if (a.assets, a.horizon, a.n_worlds, a.top.shape) != (b.assets, b.horizon, b.n_worlds, b.top.shape):
        raise ValueError("cannot merge plausibility states of different runs")
    keep, top = a.top.shape[1], a.top
    if b.top.any():  # a chunk past HILL_WORLDS brings no top-k: zeros, which cannot displace a.top's values
        both = np.concatenate([a.top, b.top], axis=1)
        top = np.partition(both, both.shape[1] - keep, axis=1)[:, both.shape[1] - keep:]
    # the larger |r|; a tie goes to the lower world index, as in `update`
    take_b = (b.max_abs > a.max_abs) | ((b.max_abs == a.max_abs) & (b.max_world >= 0)
                                         & ((a.max_world < 0) | (b.max_world < a.max_world)))
    return a._replace(top=top, max_abs=np.where(take_b, b.max_abs, a.max_abs),
                      max_world=np.where(take_b, b.max_world, a.max_world), chunks=a.chunks + b.chunks)


_CHUNK_FIELDS = ("vol", "ew", "non_finite", "big_worlds", "big_assets")


def export_partial(state: State) -> dict[str, np.ndarray]:
    """The arrays of a state fed from `init` with one chunk (`import_partial` reads them back, exactly).
    The top-k travels only when the chunk lies below `HILL_WORLDS`, and as float32: every value is the
    absolute value of a float32 return, or 0."""
    if len(state.chunks) != 1:
        raise ValueError(f"export_partial takes a state fed with one chunk, got {len(state.chunks)}")
    c = state.chunks[0]
    out = {"first_world": np.asarray([c.first_world], np.int64), "max_abs": state.max_abs,
           "max_world": state.max_world, **{name: getattr(c, name) for name in _CHUNK_FIELDS}}
    if c.first_world < HILL_WORLDS:
        out["top"] = state.top.astype(np.float32)
    return out


def import_partial(base: State, arrays: dict[str, np.ndarray]) -> State:
    """A state like `base` (its config, references and sizes) holding only the chunk of `arrays`."""
    first = int(arrays["first_world"][0])
    top = (np.asarray(arrays["top"], np.float64) if "top" in arrays else np.zeros_like(base.top))
    if top.shape != base.top.shape:
        raise ValueError(f"a chunk's top-k has shape {top.shape}, the run's {base.top.shape}")
    chunk = _Chunk(first, *(np.asarray(arrays[name]) for name in _CHUNK_FIELDS))
    return base._replace(top=top, max_abs=np.asarray(arrays["max_abs"], np.float64),
                         max_world=np.asarray(arrays["max_world"], np.int64), chunks=(chunk,))


def _scan(r: np.ndarray, cut: np.ndarray, ppy: int) -> tuple[np.ndarray, ...]:
    """Per-world volatility, equal-weight return and non-finite count, and every |r| above `cut` (per asset)
    as (values, columns, worlds within the chunk). Time sums go through BLAS and one scratch block is reused:
    10,000 x 252 x 20 values must cost well under a second."""
    w, h, n_assets = r.shape
    step = max(1, _BLOCK_VALUES // (h * n_assets))
    scratch = np.empty((min(step, w), h, n_assets), r.dtype)
    vol, ew, non_finite = np.empty((w, n_assets)), np.empty(w), np.zeros(w, np.int64)
    ones, mean_w = np.ones(h, r.dtype), np.full(n_assets, 1.0 / n_assets, r.dtype)
    found = []
    for start in range(0, w, step):
        x = r[start:start + step]
        b = x.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):
            s1 = np.matmul(ones, x)                                              # [b, assets]
        if not np.isfinite(s1).all():  # NaN and inf reach the sums (or a sum overflowed): count exactly
            bad = (~np.isfinite(x)).sum(axis=(1, 2))
            non_finite[start:start + b] = bad
            x = np.where(bad[:, None, None] > 0, 0, x)  # such worlds drop out of the other checks
            s1 = np.matmul(ones, x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            s2 = np.einsum("wta,wta->wa", x, x)
            # float32 sums suffice for a volatility; a world whose squares overflow gets an infinite one
            vol[start:start + b] = (np.sqrt(np.maximum(s2 - s1 * s1 / h, 0) / (h - 1) * ppy) if h > 1
                                    else np.nan)
            daily = np.expm1(x, out=scratch[:b]) @ mean_w                         # [b, time]
            ew[start:start + b] = np.expm1(np.log1p(daily).sum(axis=1, dtype=np.float64))
        flat = np.abs(x, out=scratch[:b]).reshape(-1, n_assets)
        idx = np.flatnonzero(flat > cut)
        found.append((flat.ravel()[idx].astype(np.float64), idx % n_assets, start + idx // (h * n_assets)))
    bad = non_finite > 0
    vol[bad], ew[bad] = np.nan, np.nan
    vals, cols, worlds = (np.concatenate(parts) for parts in zip(*found))
    return vol, ew, non_finite, vals, cols, worlds


def finalize(state: State) -> PlausibilityReport:
    """Every check of the worlds fed so far (see the module docstring for the statistics)."""
    cfg, ref, assets = state.config, state.ref, state.assets
    level = 1.0 - (1.0 - cfg.confidence) / (2 + 2 * len(assets))  # Bonferroni over the statistical checks
    z = float(special.ndtri(level))
    parts = sorted(state.chunks, key=lambda c: c.first_world)
    if not parts:
        raise ValueError("no worlds were fed to the plausibility accumulator")
    worlds = np.concatenate([c.first_world + np.arange(c.ew.size) for c in parts])
    vol = np.concatenate([c.vol for c in parts])
    ew, non_finite = np.concatenate([c.ew for c in parts]), np.concatenate([c.non_finite for c in parts])
    ok = non_finite == 0
    n, note, h = int(ok.sum()), ref.note, state.horizon
    day, daily = period_words(state.periods_per_year)
    checks = []

    count = int(non_finite.sum())
    first_bad = int(worlds[np.argmax(~ok)]) if count else None
    checks.append(PlausibilityCheck("non_finite", None, float(count), 0.0, count == 0, first_bad,
                                    f"non_finite: {count} non-finite values in {int((~ok).sum())} worlds "
                                    f"(bound 0)" + (f"; first such world {first_bad}" if count else "")))

    pairs = np.unique(np.stack([np.concatenate([c.big_worlds for c in parts]),
                                np.concatenate([c.big_assets for c in parts])]), axis=1)   # [2, (world, asset)]
    p_syn, p_real, m = np.unique(pairs[0]).size / max(n, 1), ref.big_share, ref.n_independent
    bound = cfg.big_move_ratio * p_real

    def ac_var(p: float, size: int) -> float:  # Agresti-Coull: positive even at a count of zero
        nn = size + z * z
        pt = (p * size + z * z / 2) / nn
        return pt * (1 - pt) / nn

    se = math.sqrt(ac_var(p_syn, max(n, 1)) + cfg.big_move_ratio ** 2 * ac_var(p_real, m))
    fail = p_syn - bound > z * se
    top_asset = assets[int(np.bincount(pairs[1], minlength=len(assets)).argmax())] if pairs.size else None
    jw = int(np.argmax(state.max_abs))
    worst = int(state.max_world[jw]) if state.max_world[jw] >= 0 else None
    checks.append(PlausibilityCheck(
        "big_moves", top_asset, p_syn, bound, not fail, worst,
        f"big_moves: {100 * p_syn:.3g}% of worlds have a {daily} |log r| > {cfg.big_move:g}"
        f"{f' (most often {top_asset})' if top_asset else ''}, {'above' if p_syn > bound else 'within'} the "
        f"bound {cfg.big_move_ratio:g} x the real {100 * p_real:.3g}% of {ref.window}-{day} windows = "
        f"{100 * bound:.3g}%{why(fail, p_syn > bound)} ({m} independent real windows){note}; worst world {worst} "
        f"(|r| = {num(float(state.max_abs[jw]))} on {assets[jw]})"))

    capped = state.n_worlds > HILL_WORLDS
    k = math.ceil(cfg.hill_fraction * (int(ok[worlds < HILL_WORLDS].sum()) if capped else n) * h)
    of_worlds = f" of the first {HILL_WORLDS:,} worlds" if capped else ""
    for j, asset in enumerate(assets):
        alpha = hill_index(state.top[j], k) if k >= 1 else math.nan  # reads the k + 1 largest itself
        real, se_syn = float(ref.hill[j]), alpha / math.sqrt(max(k, 1))
        bound = max(cfg.hill_floor, real - cfg.hill_slack) if math.isfinite(real) else cfg.hill_floor
        se_both = math.sqrt(se_syn ** 2 + real ** 2 / ref.hill_k) if math.isfinite(real) else math.inf
        fail = math.isfinite(alpha) and (cfg.hill_floor - alpha > z * se_syn
                                         or real - cfg.hill_slack - alpha > z * se_both)
        w = int(state.max_world[j]) if state.max_world[j] >= 0 else None
        checks.append(PlausibilityCheck(
            "hill_index", asset, alpha, bound, not fail, w,
            f"hill_index: {asset}: the tail index of the largest {100 * cfg.hill_fraction:g}% of |r|{of_worlds} "
            f"({k} values) "
            f"is {num(alpha)}, {'below' if alpha < bound else 'not below'} the bound {num(bound)} (max of "
            f"{cfg.hill_floor:g} and real {num(real)} - {cfg.hill_slack:g}){why(fail, alpha < bound)}; "
            f"worst world {w} (|r| = "
            f"{num(float(state.max_abs[j]))})"))

    if h > 1:
        for j, asset in enumerate(assets):
            checks.append(quantile_check(
                "volatility", asset, vol[ok, j], worlds[ok], cfg.vol_ratio * float(ref.max_vol[j]),
                "the worlds' annualised volatility",
                f"{cfg.vol_ratio:g} x the highest real {ref.window}-{day} volatility {num(float(ref.max_vol[j]))}"
                + note, cfg.quantile, level, num))
    checks.append(quantile_check(
        "ew_return", None, ew[ok], worlds[ok], max(cfg.ew_ratio * ref.best_ew, ref.ew_gauss),
        f"the equal-weight {h}-{day} return", f"max({cfg.ew_ratio:g} x best real {ref.window}-{day} window "
        f"{pct(ref.best_ew)}, normal-model quantile {pct(ref.ew_gauss)})" + note, cfg.quantile, level, pct))
    return PlausibilityReport(tuple(checks), n_worlds=int(worlds.size), horizon=h, confidence=cfg.confidence)


def check_worlds(log_returns: np.ndarray, history: np.ndarray, assets: tuple[str, ...] | list[str], *,
                 periods_per_year: int, config: PlausibilityConfig | None = None) -> PlausibilityReport:
    """Every check of `log_returns` ``[worlds, horizon, assets]`` against `history` in one call."""
    r = np.asarray(log_returns)
    state = init(history, assets, r.shape[1], periods_per_year, config, n_worlds=r.shape[0])
    return finalize(update(state, r, 0))
