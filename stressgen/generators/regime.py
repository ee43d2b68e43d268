"""Regime mixture: a hidden Markov model over the whole cross-section of daily log returns.

A hidden regime ``s_t`` (K of them) follows a Markov chain; given the regime, the day's vector of log returns
is multivariate Student-t (default) or Gaussian with the regime's own mean vector and full covariance, so
volatility, correlations and tail thickness all change together when the market changes regime. Fitted by
EM (Baum-Welch with a scaled forward-backward pass in ``jax.lax.scan``; for t emissions the ECM with latent
scale weights), in float64: `_regime_em` has the mathematics and the priors that keep a regime with few
days from becoming singular, `_regime_fit` the starts and the units, `_regime_sim` the sampler.

Labels: regimes are sorted by the variance of the equal-weight portfolio under each regime (lowest first)
and named ``calm``, ``normal``, ``turbulent`` for K = 3 (``calm``, ``turbulent`` for 2; see
`_regime_fit.LABELS` for 1, 4 and 5).

Worlds start, by default, from the regime probabilities filtered at the last day of the history, pushed one
day ahead through the transition matrix (``start="filtered"``): a history that ends in a crisis gives worlds
that are likely to begin turbulent, and leave that regime at the fitted rate. ``start="stationary"`` starts
from the chain's long-run distribution, and a label (``start="turbulent"``) makes every world's first day
that regime. ``sample(..., condition=InRegime(regime="turbulent", stay_days=20))`` conditions the worlds on
days 1..20 being turbulent (`_regime_condition`; weights stay None); a `PathShock` draws the shock day's
regime from its posterior given the shock, a `CrisisReplay` filters the regimes through the episode
(`_regime_stress`). `decode` gives the history's regime path (Viterbi, smoothed and filtered probabilities).

Limits (docs/regime.md): within a regime days are independent, so volatility clusters only through regime
persistence (no GARCH-like decay inside a regime); regime durations are geometric; the mean, covariance
and tails of a regime are fixed over the whole history.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import struct

from ..errors import ConfigError, ModelFileError, UnknownAssetError
from ..types import MarketData, Scenarios, business_days
from . import _regime_em as em
from . import _regime_fit as rf
from . import _regime_sim as sim
from . import _regime_stress as rs
from . import _tables as tb
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict, config_to_dict,
                    digest, export_context, first_worlds, history_context, restore_context, take_arrays,
                    world_bucket)
from ._regime_condition import InRegime

__all__ = ["RegimeConfig", "RegimeFitted", "RegimeFitInfo", "RegimeMixture", "RegimePath", "RegimeFitWarning",
           "InRegime", "decode", "regime_labels",
           "with_start", "start_distribution"]

EMISSIONS = ("student-t", "gaussian")
STARTS = ("filtered", "stationary")
regime_labels = rf.regime_labels


class RegimeFitWarning(UserWarning):
    """EM stopped at its iteration cap before the likelihood settled."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegimeConfig:
    """Options of the regime-mixture generator.

    Attributes:
        n_regimes: number of hidden regimes, 1 to 5 (1: one multivariate law, i.i.d. days, a baseline).
        emissions: ``"student-t"`` (default; multivariate t per regime with its own degrees of freedom) or
            ``"gaussian"``.
        start: where worlds start: ``"filtered"`` (default: the regime probabilities at the end of the
            history, one day ahead), ``"stationary"`` (the chain's long-run distribution), or a regime label
            (every world starts in that regime; labels in the module doc).
        max_iter: EM iterations at most (a `RegimeFitWarning` if it stops there).
        tol: EM stops when the log-likelihood gains less than this many nats per day (standardised returns).
        n_init: EM starts: the volatility-quantile start, then n_init - 1 random ones; the best is kept.
        stickiness: c >= 0: each EM step's transition matrix P becomes ``(P + c I) / (1 + c)``, so every
            regime's expected stay is (1 + c) times longer while the chain's long-run shares stay P's (0:
            maximum likelihood). Why 0.5 by default: on 33 years of 20 stocks the maximum-likelihood
            regimes are eras (1990-2002 against 2003-2022), which a stationary chain can only read as
            regimes; with c = 0.5, EM from the volatility start settles on persistent market regimes with
            a crisis regime (2000-02, 2008-09, 2011, March 2020) at a cost of 0.07 nats per day of
            likelihood (docs/regime.md, "Persistence").
        cov_prior_days: pseudo-days of the pooled covariance mixed into each regime's (`_regime_em`); None:
            the number of assets, enough to keep a regime of a handful of days invertible.
        dof_min, dof_max: bounds on each regime's t degrees of freedom (5: a finite fourth moment, the GARCH
            family's rule; the cap is the Gaussian limit in practice).
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
    """

    n_regimes: int = 3
    emissions: str = "student-t"
    start: str = "filtered"
    max_iter: int = 500
    tol: float = 1e-5
    n_init: int = 1
    stickiness: float = 0.5
    cov_prior_days: float | None = None
    dof_min: float = 5.0
    dof_max: float = 200.0
    history_days: int = business_days(504)  # two years of business days; a run names it on other data

    def __post_init__(self) -> None:
        k = self.n_regimes
        if isinstance(k, bool) or not isinstance(k, int) or k not in rf.LABELS:
            raise ConfigError(f"regime.n_regimes must be an integer from 1 to {max(rf.LABELS)}, got {k!r}")
        if self.emissions not in EMISSIONS:
            raise ConfigError(f"regime.emissions must be one of {', '.join(EMISSIONS)}; got {self.emissions!r}")
        starts = STARTS + rf.LABELS[k]
        if self.start not in starts:
            raise ConfigError(f"regime.start must be one of {', '.join(starts)} (with n_regimes = {k}); "
                              f"got {self.start!r}")
        for name in ("max_iter", "n_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"regime.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 0:
            raise ConfigError(f"regime.history_days must be an integer >= 0, got {self.history_days!r}")
        if not _number(self.tol) or not self.tol > 0:
            raise ConfigError(f"regime.tol must be a number > 0, got {self.tol!r}")
        if not _number(self.stickiness) or self.stickiness < 0:
            raise ConfigError(f"regime.stickiness must be a number >= 0, got {self.stickiness!r}")
        p = self.cov_prior_days
        if p is not None and (not _number(p) or not 0 <= p < np.inf):
            raise ConfigError(f"regime.cov_prior_days must be a number >= 0 or None, got {p!r}")
        if not (_number(self.dof_min) and _number(self.dof_max) and 2.0 < self.dof_min <= self.dof_max <= 1000.0):
            raise ConfigError(f"regime.dof_min and regime.dof_max must satisfy 2 < dof_min <= dof_max <= 1000, got "
                              f"{self.dof_min!r} and {self.dof_max!r}")


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and bool(np.isfinite(value))


@dataclasses.dataclass(frozen=True)
class RegimeFitInfo:
    """How the fit went: log-likelihood (natural units), BIC, EM iterations, whether EM met `tol`, days."""

    loglik: float
    bic: float
    n_iter: int
    converged: bool
    n_obs: int


@struct.dataclass
class RegimeFitted:
    """Fitted regime mixture, float32, regimes sorted calm first (`labels`).

    Attributes:
        start: ``[K]`` the first fit day's regime distribution; trans: ``[K, K]`` transition matrix.
        mean: ``[K, N]`` daily mean log return; scatter: ``[K, N, N]`` (the covariance for Gaussian
            emissions, ``dof / (dof - 2)`` times less than it for t); chol: its lower Cholesky factors.
        dof: ``[K]`` t degrees of freedom (inf for Gaussian emissions).
        filtered_end: ``[K]`` regime probabilities filtered at the last day of the fit data.
        mix_table, mix_grid: per regime, a normal score -> ``sqrt(dof / chi2_dof)`` (`_tables`; zeros for
            Gaussian emissions).
    """

    start: jax.Array
    trans: jax.Array
    mean: jax.Array
    scatter: jax.Array
    chol: jax.Array
    dof: jax.Array
    filtered_end: jax.Array
    mix_table: jax.Array
    mix_grid: jax.Array
    context: HistoryContext
    config: RegimeConfig = struct.field(pytree_node=False)
    info: RegimeFitInfo = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return rf.regime_labels(self.config.n_regimes)

    @property
    def student(self) -> bool:
        return self.config.emissions == "student-t"

    @property
    def params(self) -> em.HmmParams:
        return em.HmmParams(start=self.start, trans=self.trans, mean=self.mean, scatter=self.scatter, dof=self.dof)

    @property
    def covariance(self) -> np.ndarray:
        """``[K, N, N]`` covariance of each regime (float64)."""
        return rf.covariance(self.params)

    @property
    def stationary(self) -> np.ndarray:
        """``[K]`` long-run share of days in each regime."""
        return rf.stationary(np.asarray(self.trans, np.float64))

    @property
    def expected_duration(self) -> np.ndarray:
        """``[K]`` mean stay in each regime, in days: ``1 / (1 - trans[k, k])``."""
        return 1.0 / (1.0 - np.diag(np.asarray(self.trans, np.float64)))


@dataclasses.dataclass(frozen=True)
class RegimePath:
    """The history's regimes: `viterbi` ``[T]`` (the most likely path, as indices into `labels`), `smoothed`
    ``[T, K]`` (given the whole history) and `filtered` ``[T, K]`` (given the days up to each), on `dates`."""

    dates: pd.DatetimeIndex
    labels: tuple[str, ...]
    viterbi: np.ndarray
    smoothed: np.ndarray
    filtered: np.ndarray

    def to_pandas(self) -> pd.DataFrame:
        """Smoothed probabilities per label, plus a ``regime`` column with the Viterbi label, by date."""
        frame = pd.DataFrame(self.smoothed, index=self.dates, columns=list(self.labels))
        frame["regime"] = np.asarray(self.labels)[self.viterbi]
        return frame


def _check_length(n_days: int, n_assets: int, config: RegimeConfig, source: str) -> None:
    need = rf.min_days(config.n_regimes, n_assets, config.emissions == "student-t")
    if n_days < need:
        raise ConfigError(
            f"{source}: generator 'regime' with regime.n_regimes = {config.n_regimes} over {n_assets} assets has "
            f"{rf.n_parameters(config.n_regimes, n_assets, config.emissions == 'student-t')} parameters and needs "
            f"at least {need} returns (two per parameter), got {n_days}: lower regime.n_regimes, use fewer assets "
            "or a longer history")


def _build(config: RegimeConfig, params: em.HmmParams, filtered_end: np.ndarray, info: RegimeFitInfo,
           context: HistoryContext) -> RegimeFitted:
    """Float32 fitted state from float64 parameters; the Cholesky factors and tables are computed in float64."""
    scatter = np.asarray(params.scatter, np.float64)
    dof = np.asarray(params.dof, np.float64)
    if config.emissions == "student-t":
        tables = [tb.chi2_mixing_table(float(v)) for v in dof]
        mix_table, mix_grid = np.stack([t[0] for t in tables]), tables[0][1]
    else:
        mix_table, mix_grid = np.zeros((len(dof), 2, 2), np.float32), np.zeros(2, np.float32)
    f32 = lambda a: jnp.asarray(np.asarray(a, np.float64), jnp.float32)  # noqa: E731
    arrays = dict(start=f32(params.start), trans=f32(params.trans), mean=f32(params.mean), scatter=f32(scatter),
                  chol=f32(np.linalg.cholesky(scatter)), dof=f32(dof), filtered_end=f32(filtered_end),
                  mix_table=jnp.asarray(mix_table, jnp.float32), mix_grid=jnp.asarray(mix_grid, jnp.float32))
    return RegimeFitted(**arrays, context=context, config=config, info=info, digest=digest(config, *arrays.values()))


_ARRAYS = ("start", "trans", "mean", "scatter", "chol", "dof", "filtered_end", "mix_table", "mix_grid")


def with_start(fitted: RegimeFitted, start: str) -> RegimeFitted:
    """`fitted` with another ``config.start`` (no refit: the start only changes where worlds begin); the
    digest is recomputed, so worlds drawn from the two are told apart in their provenance."""
    config = dataclasses.replace(fitted.config, start=start)  # validated by RegimeConfig
    arrays = [getattr(fitted, name) for name in _ARRAYS]
    return fitted.replace(config=config, digest=digest(config, *arrays))


def start_distribution(fitted: RegimeFitted) -> np.ndarray:
    """``[K]`` the distribution of the first simulated day's regime under `fitted.config.start`."""
    trans = np.asarray(fitted.trans, np.float64)
    start = fitted.config.start
    if start == "filtered":
        return np.asarray(fitted.filtered_end, np.float64) @ trans
    if start == "stationary":
        return rf.stationary(trans)
    return np.eye(len(fitted.labels))[fitted.labels.index(start)]


class RegimeMixture(AbstractGenerator):
    """Hidden Markov regime mixture of multivariate Student-t or Gaussian daily return vectors (final)."""

    name = "regime"
    config_type = RegimeConfig
    conditions = rs.CONDITIONS

    def regime_names(self, config: RegimeConfig | None) -> tuple[str, ...]:
        return rf.regime_labels(self._config(config).n_regimes)

    def fit(self, market: MarketData, *, key: jax.Array, config: RegimeConfig | None = None) -> RegimeFitted:
        """EM on the whole history (`_regime_fit.fit_hmm`); `key` draws the random EM starts (n_init > 1)."""
        config = self._config(config)
        r = np.asarray(market.log_returns, np.float64)
        _check_length(r.shape[0], r.shape[1], config, market.source)
        student = config.emissions == "student-t"
        prior = float(r.shape[1] if config.cov_prior_days is None else config.cov_prior_days)
        result = rf.fit_hmm(r, n_regimes=config.n_regimes, student=student, prior_days=prior, tol=config.tol,
                            max_iter=config.max_iter, n_init=config.n_init, dof_min=float(config.dof_min),
                            dof_max=float(config.dof_max), key=key, sticky=float(config.stickiness))
        if not result.converged:
            warnings.warn(f"{market.source}: regime EM stopped at regime.max_iter = {config.max_iter} iterations "
                          f"before the log-likelihood settled to regime.tol = {config.tol} nats per day; raise "
                          "max_iter", RegimeFitWarning, stacklevel=2)
        k = rf.n_parameters(config.n_regimes, r.shape[1], student)
        info = RegimeFitInfo(loglik=result.loglik, bic=float(-2.0 * result.loglik + k * np.log(r.shape[0])),
                             n_iter=result.n_iter, converged=result.converged, n_obs=int(r.shape[0]))
        return _build(config, result.params, result.filtered[-1], info, history_context(market, config.history_days))

    def sample(self, fitted: RegimeFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        """Worlds ``first_world ..``; with ``condition=InRegime(...)`` (`_regime_condition`) the first days are
        held in the named regime (the plain law conditioned on that event); with a `PathShock` or a
        `CrisisReplay` the chain is conditioned on the shock or the episode (`_regime_stress`). Weights stay
        None; `Provenance.condition` names the condition with the event's plain-model probability (InRegime),
        the shock day's regime shares (PathShock) or the regime filtered at the episode's end (CrisisReplay)."""
        scenarios, _ = self._sample(fitted, key, n_worlds, horizon, condition, first_world, states=False)
        return scenarios

    def sample_regimes(self, fitted: RegimeFitted, *, key: jax.Array, n_worlds: int, horizon: int,
                       first_world: int = 0, condition: object = None) -> tuple[Scenarios, jax.Array]:
        """`sample`'s worlds (the same, bit for bit) and their regimes ``[worlds, horizon]`` (indices into
        `fitted.labels`)."""
        return self._sample(fitted, key, n_worlds, horizon, condition, first_world, states=True)

    def _sample(self, fitted: RegimeFitted, key: jax.Array, n_worlds: int, horizon: int, condition: object,
                first_world: int, *, states: bool) -> tuple[Scenarios, jax.Array | None]:
        self._check_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)  # before a condition reads the horizon
        extra, text = rs.condition_inputs(fitted, condition, int(horizon), start_distribution(fitted))
        out = self._simulate(fitted, key, n_worlds, horizon, first_world, states=states, hold=extra)
        log_returns, path = out if states else (out, None)
        scenarios = self._scenarios(fitted.context, log_returns, fitted.digest, first_world)
        if text is not None:
            scenarios = scenarios.replace(provenance=dataclasses.replace(scenarios.provenance, condition=text))
        return scenarios, path

    def _simulate(self, fitted: RegimeFitted, key: jax.Array, n_worlds: int, horizon: int, first_world: int,
                  *, states: bool, hold: dict | None = None):
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        p = {"start_cum": sim.cumulative(start_distribution(fitted)), "trans_cum": sim.cumulative(fitted.trans),
             "mean": fitted.mean, "chol": fitted.chol, "mix_table": fitted.mix_table, "mix_grid": fitted.mix_grid,
             "fence": np.uint32(0), **(hold or {})}
        out = sim.simulate(p, key, jnp.uint32(first_world), n_worlds=world_bucket(n_worlds), horizon=int(horizon),
                           student=fitted.student, states=states)
        return first_worlds(out, int(n_worlds))

    def reanchor(self, fitted: RegimeFitted, market: MarketData, *, key: jax.Array) -> RegimeFitted:
        """The fitted parameters are kept; the regime probabilities at the end and the history context are
        filtered from `market`, so the worlds continue from its last day."""
        del key  # filtering is deterministic
        _check_assets(fitted, market)
        params = rf.as_float64(fitted.params)
        _, filtered = rf.filter_history(params, market.log_returns, fitted.student)
        return _build(fitted.config, params, filtered[-1], fitted.info,
                      history_context(market, fitted.config.history_days))

    def export_fitted(self, fitted: RegimeFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest,
                "info": dataclasses.asdict(fitted.info)}
        return meta, {**arrays, **{name: np.asarray(getattr(fitted, name)) for name in _ARRAYS}}

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> RegimeFitted:
        config = config_from_dict(RegimeConfig, meta.get("config", {}), where="config")
        values = dict(zip(_ARRAYS, (jnp.asarray(a) for a in take_arrays(arrays, _ARRAYS)), strict=True))
        info = meta.get("info", {})
        try:
            info = RegimeFitInfo(loglik=float(info["loglik"]), bic=float(info["bic"]), n_iter=int(info["n_iter"]),
                                 converged=bool(info["converged"]), n_obs=int(info["n_obs"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model meta has no valid regime fit info ({exc})",
                                 expected="loglik, bic, n_iter, converged, n_obs") from exc
        return RegimeFitted(**values, context=restore_context(meta.get("context", {}), arrays), config=config,
                            info=info, digest=check_digest(meta.get("digest"), config, *values.values()))


def _check_assets(fitted: RegimeFitted, market: MarketData) -> None:
    if tuple(market.assets) != tuple(fitted.context.assets):
        raise UnknownAssetError(f"the market's assets {list(market.assets)} are not those the regime mixture was "
                                f"fitted on, in that order", path=market.source, choices=fitted.context.assets,
                                expected=f"assets {list(fitted.context.assets)}")


def decode(fitted: RegimeFitted, market: MarketData) -> RegimePath:
    """The regime path of `market`'s history under `fitted` (float64 forward-backward and Viterbi)."""
    if not isinstance(fitted, RegimeFitted):
        raise ConfigError(f"expected a fitted regime mixture (RegimeFitted), got {type(fitted).__name__}")
    _check_assets(fitted, market)
    params = rf.as_float64(fitted.params)
    path, smoothed, filtered = rf.decode_arrays(params, market.log_returns, fitted.student)
    return RegimePath(dates=market.return_dates, labels=fitted.labels, viterbi=path.astype(np.int64),
                      smoothed=smoothed, filtered=filtered)
