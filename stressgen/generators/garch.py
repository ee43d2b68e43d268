"""GJR-GARCH(1,1)-t per asset, joined across assets by a copula or by filtered historical simulation.

Model, per asset i, in percent units (arch's scale; parameters are reported as arch reports them)::

    y_t = mu + eps_t,  eps_t = sigma_t * e_t,
    sigma2_{t+1} = omega + (alpha + gamma * [eps_t < 0]) * eps_t^2 + beta * sigma2_t,

with unit-variance innovations e_t (E e = 0, E e^2 = 1 over the history; under the default year matching a
world's e_t carry its year's mean, the drift, and have unit variance about it). Worlds are log returns
``y / 100``. By default ``mu`` is the history's mean log return and the variance parameters are arch's
likelihood with it held (`GarchConfig.drift`): the t likelihood's own location is not the mean of skewed
returns, and as the worlds' drift it adds a return history did not earn.

Innovations across assets, `GarchConfig.innovations`:

* ``"fhs"`` (filtered historical simulation): whole rows of the fitted standardized residuals, one
  historical date per world and day, so cross-asset and tail dependence are the history's own. By default
  (``fhs_matching="year"``) each world replays the dates of the one year its long-run level was drawn from
  (among all the history's years), and with them that year's correlation and drift
  (`_garch_state.year_windows`). With ``fhs_matching="none"`` the date is drawn among all dates (classic
  FHS); with ``"state"`` among those whose slow volatility state was nearest to the world's own that day
  (`_garch_state`): calm worlds replay calm days, stressed worlds stressed ones.
* ``"gaussian-copula"``: Student-t margins (the fitted nu per asset) joined by a Gaussian copula.
* ``"t-copula"``: the same margins joined by a t copula (tail dependence through a common mixing
  variable per world and day).

Parametric draws never call `jax.random.t`/`gamma` (60x slower than normals on CPU): they are normals
mapped through tables built at fit time (`_tables`).

Each world reverts to a long-run variance of its own by default (``level="drawn"``, `_garch_level`). The
sampler, its randomness and why its worlds are bit-exact whatever the chunking: `_garch_sim`.

``sample(..., condition=Tilt(...))`` tilts the daily innovations toward losses of a portfolio and returns
each world's likelihood ratio in `Scenarios.weights` (`_tilt`, docs/stress.md);
``condition=PathShock(...)`` moves a portfolio by a given return on one day of every world, after which the
recursion goes on (`_shock`, `_garch_sim.shock_innovations`); ``condition=CrisisReplay(...)`` opens every world
with a historical episode's real returns, filtered by the model, then goes on (`_replay`,
`_garch_sim.replay_filter`); other conditions are refused.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError, ModelFileError
from ..numerics import hill_index, tail_count
from ..types import MarketData, Scenarios, business_days
from . import _garch_conditions as gc
from . import _garch_draws as gd
from . import _garch_fit as gf
from . import _levels as lv
from . import _garch_sim as sim
from . import _garch_state as gs
from . import _garch_tails as gt
from . import _garch_tilt as gtl
from . import _tables as tb
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict, config_to_dict,
                    digest, export_context, first_worlds, history_context, restore_context, take_arrays,
                    world_bucket)

__all__ = ["GarchConfig", "GarchFitted", "GjrGarch", "fitted_from_params", "GarchFitWarning"]

GarchFitWarning = gf.GarchFitWarning
INNOVATIONS = ("fhs", "gaussian-copula", "t-copula")
TAILS = ("gpd", "empirical")
STARTS = ("conditional", "unconditional")
DRIFTS = ("sample", "likelihood")
MIN_RETURNS = 100  # fewer returns do not identify a GARCH(1,1) with t innovations


@dataclasses.dataclass(frozen=True, kw_only=True)
class GarchConfig:
    """Options of the GARCH generator.

    Attributes:
        innovations: ``"fhs"`` (default), ``"gaussian-copula"`` or ``"t-copula"`` (see the module doc).
        start: ``"conditional"`` (default): day 1 has the variance the fitted model forecasts for the day
            after the history; ``"unconditional"``: start from the unconditional variance and discard
            `burn` simulated days first (a stationary draw, not tied to today's volatility).
        burn: days discarded with ``start="unconditional"`` (ignored when conditional).
        max_persistence: cap on the persistence (alpha + gamma/2 + beta, and E[A] under the innovations
            the sampler replays); a fit above it is rescaled, with a warning.
        tail_index: the least stationary tail index the worlds' returns may have (4: finite kurtosis). The
            asset's own Hill index (largest 1% of |r|, less its sampling error: a one-sided 95% lower bound)
            raises it when higher: worlds are not heavier-tailed than their history. Enforced at fit time on
            the innovations actually sampled (docs/fidelity.md, "Plausible tails"). None switches the
            condition off (and the copulas' nu floor of 5): worlds can then hold variance explosions; for
            comparisons with other simulators at given parameters.
        tails: ``"gpd"`` (default): the tails of the replayed residuals are generalised Pareto quantiles
            (McNeil and Frey); ``"empirical"``: the residuals as filtered.
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
        fhs_matching: with FHS, ``"year"`` (default): each day's residual row is drawn among the dates of one
            one-year window of the history, drawn per world among all years (with ``level="drawn"``, the
            window the world's long-run level comes from), so each world has the correlation and the drift
            of its year (`_garch_state.year_windows`; the best calibrated on both data sets measured,
            docs/fidelity.md); ``"none"``: among all dates (i.i.d. rows, classic FHS); ``"state"``: among the
            dates whose slow volatility state was nearest to the world's (`_garch_state`; docs/fidelity.md
            has its calibration: better than i.i.d. rows on the index's drawdowns, worse than year-matched
            rows on both data sets; the rows scenarios/stress.toml uses for shocks and replays). Copula
            innovations do not read it.
        level: ``"drawn"`` (default): each world reverts to its own long-run variance, omega times a factor
            drawn from the history's yearly levels less the spread the model makes itself (`_garch_level`);
            ``"fixed"``: every world reverts to the fitted one (the textbook GARCH; with
            ``fhs_matching="year"`` the worlds still replay the rows of a year drawn among all years, and
            ``fhs_matching="none"`` with it is classic FHS).
        neighbours: how many nearest dates a state-matched row is drawn from; None: ``round(sqrt(n))``.
        state_decay: daily decay of the state that rows are matched on (0.99: the persistence of the slow
            volatility component; `_garch_state`), in (0, 1).
        drift: the constant mean ``mu`` the worlds drift by. ``"sample"`` (default): the history's mean
            log return, and the variance parameters are the likelihood's with that mean held (two steps, as
            after demeaning); ``"likelihood"``: arch's joint maximum likelihood, the t law's location. The
            location is not the mean when returns are skewed or when calm periods gain more than wild ones,
            and then it puts a drift into every world that history did not earn: fitted to daily WTI
            1986-2019 it is 1.3 standard errors of the mean above the mean (10.9% a year against 1.8%), to
            the monthly Fama-French market factor 1926-2018 2.1 (10.2% against 6.2%) (docs/fidelity.md, "The
            worlds' drift").
    """

    innovations: str = "fhs"
    start: str = "conditional"
    burn: int = 500
    max_persistence: float = 0.999
    tail_index: float | None = 4.0
    tails: str = "gpd"
    history_days: int = business_days(504)  # two years of business days; a run names it on other data
    fhs_matching: str = "year"
    level: str = "drawn"
    neighbours: int | None = None
    state_decay: float = 0.99
    drift: str = "sample"

    def __post_init__(self) -> None:
        if self.drift not in DRIFTS:
            raise ConfigError(f"garch.drift must be one of {', '.join(DRIFTS)}; got {self.drift!r}")
        if self.innovations not in INNOVATIONS:
            raise ConfigError(f"garch.innovations must be one of {', '.join(INNOVATIONS)}; "
                              f"got {self.innovations!r}")
        if self.start not in STARTS:
            raise ConfigError(f"garch.start must be one of {', '.join(STARTS)}; got {self.start!r}")
        for name in ("burn", "history_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"garch.{name} must be an integer >= 0, got {value!r}")
        m = self.max_persistence
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0.0 < m < 1.0:
            raise ConfigError(f"garch.max_persistence must be a number in (0, 1), got {m!r}")
        if self.fhs_matching not in gs.MATCHING:
            raise ConfigError(f"garch.fhs_matching must be one of {', '.join(gs.MATCHING)}; "
                              f"got {self.fhs_matching!r}")
        n = self.neighbours
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"garch.neighbours must be an integer >= 1 or None, got {n!r}")
        d = self.state_decay
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0.0 < d < 1.0:
            raise ConfigError(f"garch.state_decay must be a number in (0, 1), got {d!r}")
        if self.level not in lv.LEVELS:
            raise ConfigError(f"garch.level must be one of {', '.join(lv.LEVELS)}; got {self.level!r}")
        if self.tails not in TAILS:
            raise ConfigError(f"garch.tails must be one of {', '.join(TAILS)}; got {self.tails!r}")
        k = self.tail_index
        if k is not None and (isinstance(k, bool) or not isinstance(k, int | float) or not 2.0 < k <= 20.0):
            raise ConfigError(f"garch.tail_index must be a number in (2, 20] (2: infinite variance), got {k!r}")


@struct.dataclass
class GarchFitted:
    """Fitted GJR-GARCH state. Parameters are per asset, float32, in percent units (as arch reports them).

    Attributes:
        mu, omega, alpha, gamma, beta, nu: ``[assets]`` model parameters after the guards.
        sigma2_next: ``[assets]`` conditional variance of the first day after the history (%^2).
        resid: ``[time, assets]`` standardized residuals over the fit sample, re-standardized per column to
            mean 0 and variance 1 (FHS draws whole rows).
        copula_chol: ``[assets, assets]`` Cholesky factor of the copula correlation: for the t copula the
            Kendall-tau correlation; otherwise that of the normal scores of the residuals' ranks.
        copula_nu: ``[]`` t-copula degrees of freedom; inf (the Gaussian limit) unless t-copula.
        margin_table, margin_grid: ``[assets, G, 2]``, ``[2]`` map to unit-variance t margins: of a normal
            score (gaussian-copula, and fhs where it is unused) or of asinh(t-copula coordinate).
        mix_table, mix_grid: map of a normal score to the t copula's scale sqrt(nu_c / chi2); a constant 1
            (the nu_c = inf limit) unless t-copula.
        state_sorted, state_order, state_end, state_mean, state_decay, state_neighbours, state_shrink: what
            state-matched FHS reads (`_garch_state.state_arrays`): the state before each fit day
            (ascending) and the day of each, the state after the last day and its sample mean, the decay,
            the number of neighbours and each window's residual factor. Under ``fhs_matching="year"``:
            ``state_neighbours`` is the window length and ``state_shrink [windows, assets]`` each window's
            scale (`_garch_state.year_arrays`).
        state_center: ``[windows, assets]`` each state-matched window's mean residual, which the sampler
            subtracts; empty under year matching, whose rows keep their drift (a file where it is not is
            refused on load).
        level_factors: ``[windows]`` the factors a world's omega is drawn from (`_garch_level`; ones with
            ``level="fixed"``: one per year window under year matching, else ``[1]``).
        level_starts: ``[windows]`` int32, the first fit day of each factor's one-year window, whose rows a
            world replays under ``fhs_matching="year"``.
        config, context, digest: the config, the history the worlds continue, a digest of the fit.
    """

    mu: jax.Array
    omega: jax.Array
    alpha: jax.Array
    gamma: jax.Array
    beta: jax.Array
    nu: jax.Array
    sigma2_next: jax.Array
    resid: jax.Array
    copula_chol: jax.Array
    copula_nu: jax.Array
    margin_table: jax.Array
    margin_grid: jax.Array
    mix_table: jax.Array
    mix_grid: jax.Array
    state_sorted: jax.Array
    state_order: jax.Array
    state_end: jax.Array
    state_mean: jax.Array
    state_decay: jax.Array
    state_neighbours: jax.Array
    state_shrink: jax.Array
    state_center: jax.Array
    level_factors: jax.Array
    level_starts: jax.Array
    context: HistoryContext
    config: GarchConfig = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)

    @property
    def persistence(self) -> jax.Array:
        return self.alpha + self.gamma / 2 + self.beta

    @property
    def unconditional_variance(self) -> jax.Array:
        return self.omega / (1.0 - self.persistence)

    @property
    def copula_corr(self) -> jax.Array:
        return self.copula_chol @ self.copula_chol.T


# ---------------------------------------------------------------------------------------------- fitting

def fitted_from_params(market: MarketData, params: Mapping[str, np.ndarray], *,
                       config: GarchConfig | None = None) -> GarchFitted:
    """Fitted state from given per-asset parameters (a loaded model, a plugin's estimates, a test).

    `params` maps each of mu, omega, alpha, gamma, beta, nu to an ``[assets]`` array in percent units.
    The same guards as `GjrGarch.fit` apply (with warnings); residuals come from arch's filter on `market`.
    """
    config = GarchConfig() if config is None else config
    missing = set(gf.PARAM_NAMES) - set(params)
    if missing:
        raise ConfigError(f"garch parameters are missing {sorted(missing)}; need {', '.join(gf.PARAM_NAMES)}")
    table = np.stack([np.broadcast_to(np.asarray(params[k], dtype=np.float64), (market.n_assets,))
                      for k in gf.PARAM_NAMES], axis=1)
    return _build(market, table, config)


def _build(market: MarketData, params: np.ndarray, config: GarchConfig) -> GarchFitted:
    """Guards, arch filter, residuals, copula and tables from ``params [assets, 6]`` (percent units)."""
    y100 = 100.0 * market.log_returns
    resid = np.empty_like(y100)
    sigma2_next = np.empty(market.n_assets)
    params = params.copy()
    sample_var = np.var(y100, axis=0)
    for i, asset in enumerate(market.assets):
        params[i] = gf.guard(params[i], asset=asset, sample_var=float(sample_var[i]),
                             max_persistence=config.max_persistence)
        params[i] = gf.guard_mean(params[i], y100[:, i], asset=asset)
        resid[:, i], sigma2_next[i] = gf.arch_filter(y100[:, i], params[i])
    # the law the sampler replays (docs/fidelity.md, "Plausible tails"): GPD tails, then unit variance again
    resid = gf.restandardize(resid)
    if config.tails == "gpd":
        resid = gf.restandardize(np.stack([gt.evt_tails(column)[0] for column in resid.T], axis=1))
    if config.tail_index is not None and config.innovations != "fhs":
        low = params[:, 5] < gt.NU_MIN
        if low.any():
            warnings.warn(f"GARCH margins of {', '.join(np.asarray(market.assets)[low])} have nu below "
                          f"{gt.NU_MIN} (infinite or huge kurtosis); raised to {gt.NU_MIN}", gf.GarchFitWarning,
                          stacklevel=3)
            params[low, 5] = gt.NU_MIN
    notes = []
    power = np.full(market.n_assets, np.nan)  # kappa / 2 per asset: the moment condition of the worlds
    k = tail_count(y100.shape[0], 0.01)
    for i, asset in enumerate(market.assets):
        if config.tail_index is None:
            continue  # no moment condition: the first filter's sigma2_next stands
        law = gt.fhs_law(resid[:, i]) if config.innovations == "fhs" else gt.t_law(params[i, 5])
        # the worlds' tails may not be heavier than the asset's own beyond its sampling error (a one-sided 95%
        # lower bound: index * (1 - 1.645 / sqrt(k))), nor than config.tail_index (finite kurtosis)
        hill = hill_index(np.abs(y100[:, i]), k) * (1.0 - 1.645 / np.sqrt(k))
        kappa = np.nanmax([config.tail_index, hill])
        power[i] = kappa / 2.0
        params[i], note = gt.moment_guard(params[i], law, sample_var=float(sample_var[i]),
                                          max_persistence=config.max_persistence, tail_index=float(kappa),
                                          loglik=partial(gf.loglik, y100[:, i]))
        if note:  # the parameters moved: the next day's variance is filtered again with them
            notes.append(f"{asset} ({note})")
            _, sigma2_next[i] = gf.arch_filter(y100[:, i], params[i])
    if notes:
        warnings.warn(f"GARCH fit: {len(notes)} of {market.n_assets} assets changed so that returns keep a finite "
                      "fourth moment under the innovations actually replayed (docs/fidelity.md, 'Plausible "
                      "tails'): " + ", ".join(notes), gf.GarchFitWarning, stacklevel=3)
    guarded = None if config.tail_index is None else params  # windows are shrunk only under a moment condition
    state, levels, level_starts = gd.start_draws(market, config, _kind(config), y100, resid, params, power=power,
                                                 guarded=guarded)
    nu = params[:, 5]
    if config.innovations == "t-copula":
        corr, nu_c = gf.t_copula(resid)
        margin = tb.t_copula_margin_table(nu, nu_c)
        mix = tb.chi2_mixing_table(nu_c)
    else:  # the t copula's profile likelihood costs seconds; its limit nu_c = inf is the Gaussian copula
        corr, nu_c = gf.gaussian_copula(resid), np.inf
        margin = tb.gaussian_margin_table(nu)
        mix = tb.constant_table(1.0)
    f32 = partial(jnp.asarray, dtype=jnp.float32)
    arrays = dict(
        **{name: f32(params[:, k]) for k, name in enumerate(gf.PARAM_NAMES)},
        sigma2_next=f32(sigma2_next), resid=f32(resid), copula_chol=f32(np.linalg.cholesky(corr)),
        copula_nu=f32(nu_c), margin_table=f32(margin[0]), margin_grid=f32(margin[1]),
        mix_table=f32(mix[0]), mix_grid=f32(mix[1]),
        **{name: jnp.asarray(a) for name, a in state.items()},
        level_factors=f32(levels.factors), level_starts=jnp.asarray(level_starts, jnp.int32),
    )
    return GarchFitted(**arrays, context=history_context(market, config.history_days), config=config,
                       digest=digest(config, *arrays.values()))


# Every array of GarchFitted, in the order `_build` digests them (persistence checks the digest on load).
_STATE_FIELDS = ("state_sorted", "state_order", "state_end", "state_mean", "state_decay", "state_neighbours",
                 "state_shrink", "state_center", "level_factors", "level_starts")
_ARRAY_FIELDS = ("mu", "omega", "alpha", "gamma", "beta", "nu", "sigma2_next", "resid", "copula_chol", "copula_nu",
                 "margin_table", "margin_grid", "mix_table", "mix_grid", *_STATE_FIELDS)
_SIM_FIELDS = ("mu", "omega", "alpha", "gamma", "beta", "sigma2_next", "resid", "copula_chol", "margin_table",
               "margin_grid", "mix_table", "mix_grid", *_STATE_FIELDS)


def _sim_params(fitted: GarchFitted) -> dict[str, jax.Array]:
    """The arrays the sampler reads, plus the runtime zero that `_tables.rounded` needs."""
    return {**{name: getattr(fitted, name) for name in _SIM_FIELDS}, "fence": np.uint32(0)}


def _kind(config: GarchConfig) -> str:
    """The sampler's draw: an innovation type, with FHS split by its matching."""
    if config.innovations == "fhs" and config.fhs_matching != "none":
        return f"fhs-{config.fhs_matching}"
    return config.innovations


class GjrGarch(AbstractGenerator):
    """GJR-GARCH(1,1)-t per asset with FHS or copula innovations (final)."""

    name = "garch"
    config_type = GarchConfig
    conditions = gc.CONDITIONS

    def fit(self, market: MarketData, *, key: jax.Array, config: GarchConfig | None = None) -> GarchFitted:
        """arch's maximum likelihood per asset on the whole history, then `fitted_from_params`."""
        del key  # maximum likelihood is deterministic; the argument keeps the protocol uniform
        config = self._config(config)
        r = market.log_returns
        if r.shape[0] < MIN_RETURNS:
            raise ConfigError(f"{market.source}: the GARCH generator needs at least {MIN_RETURNS} returns, "
                              f"got {r.shape[0]}")
        y100 = 100.0 * r
        mean = y100.mean(axis=0) if config.drift == "sample" else None
        params = np.stack([gf.arch_fit(y100[:, i], asset, mean=None if mean is None else float(mean[i]))
                           for i, asset in enumerate(market.assets)])
        return _build(market, params, config)

    def sample(self, fitted: GarchFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        """Worlds ``first_world ..``, plain or under a stress condition (`_garch_conditions`, docs/stress.md):
        `Tilt`: drawn from the tilted law, with each world's likelihood ratio in `Scenarios.weights` (plain over
        tilted; mean 1 under the tilted law; not normalised, so that chunks concatenate); `PathShock`: the plain
        worlds up to the day before the shock, the shock (met exactly as a simple return of its target, spread
        by the dependence), then the plain draws from the variance it left; `CrisisReplay`: the episode's real
        returns on days 1..L, filtered through each world's recursion, then the plain draws. Shocked and
        replayed worlds are equally likely (weights None). `Provenance.condition` names the condition."""
        self._check_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        config = fitted.config
        # what the condition cannot do on this fit is said first: it names the condition's own field
        extra, flag = gc.condition_inputs(fitted, condition, int(horizon), _kind(config))
        if _kind(config) in ("fhs-state", "fhs-year") and int(fitted.state_neighbours) == 0:
            raise ConfigError(f"garch.fhs_matching = {config.fhs_matching!r} needs a fit made with it (this fit "
                              "replays i.i.d. rows and stored no windows): fit again with that config")
        out = sim.simulate({**_sim_params(fitted), **extra}, key, jnp.uint32(first_world),
                           n_worlds=world_bucket(n_worlds), horizon=int(horizon),
                           burn=None if config.start == "conditional" else config.burn, kind=_kind(config),
                           **({flag: True} if flag else {}))
        out = first_worlds(out, int(n_worlds))
        log_returns, log_w = out if flag == "tilted" else (out, None)
        worlds = self._scenarios(fitted.context, log_returns, fitted.digest, first_world)
        if condition is None:
            return worlds
        return worlds.replace(weights=None if log_w is None else gtl.tilt_weights(log_w, condition),
                              provenance=dataclasses.replace(worlds.provenance, condition=condition.describe()))

    def reanchor(self, fitted: GarchFitted, market: MarketData, *, key: jax.Array) -> GarchFitted:
        """The fitted parameters are kept; residuals, the next day's conditional variance and the copula are
        filtered through `market` (`fitted_from_params`, guards included), so the worlds start from the
        volatility at its end."""
        del key  # filtering is deterministic
        params = {name: np.asarray(getattr(fitted, name), np.float64) for name in gf.PARAM_NAMES}
        return fitted_from_params(market, params, config=fitted.config)

    def export_fitted(self, fitted: GarchFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest}
        return meta, {**arrays, **{name: np.asarray(getattr(fitted, name)) for name in _ARRAY_FIELDS}}

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> GarchFitted:
        saved = meta.get("config")
        if isinstance(saved, dict) and "drift" not in saved:  # a file without a config fails its digest below
            raise ModelFileError("garch: this file was saved by an earlier stressgen, before GarchConfig.drift: its "
                                 "mean is the t likelihood's location, and its digest covers a config without the "
                                 "field", expected='a model saved since; fit again and save (drift = "likelihood" '
                                 "keeps that mean)")
        config = config_from_dict(GarchConfig, meta.get("config", {}), where="config")
        values = dict(zip(_ARRAY_FIELDS, (jnp.asarray(a) for a in take_arrays(arrays, _ARRAY_FIELDS)), strict=True))
        if _kind(config) == "fhs-year" and values["state_center"].shape[0]:
            raise ConfigError("garch: this file was saved by an earlier stressgen, whose year-matched rows were "
                              "centred (state_center is not empty); these rows now keep the year's drift, so "
                              "the file's worlds cannot be reproduced: fit again and save")
        return GarchFitted(**values, context=restore_context(meta.get("context", {}), arrays), config=config,
                           digest=check_digest(meta.get("digest"), config, *values.values()))
