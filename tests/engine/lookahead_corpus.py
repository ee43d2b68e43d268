"""Look-ahead corpus (issue 19): strategies that peek at the future in every way we know of, and honest
strategies written with plain jax.numpy idioms that must never be refused.

Self-contained (imports only jax, numpy and stressgen): tests/engine/test_lookahead_corpus.py also copies this
file into a temporary directory and loads it as a CLI plugin (``peeks.py:ClassName``).

Sizes the tests use: ``n_hist + horizon`` rows (160 by default, 320 for the long-input case); row
``n_hist - 1`` is close 0, the last row is close ``horizon``. Every strategy returns valid weights (finite,
long only, gross <= 0.9), so a refusal can only be about the look-ahead.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from stressgen.strategy import Rebalance, StepStrategy, VectorStrategy

try:  # strategy API v2 (issue 19); the fallback is the same field, for the code before it
    from stressgen.strategy import static
except ImportError:  # pragma: no cover - only before API v2
    def static(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING):
        return dataclasses.field(default=default, default_factory=default_factory, metadata={"static": True})


def _w(signal):
    """Valid long-only weights from any real signal ``[..., assets]``: gross < 0.9."""
    return 0.9 * jax.nn.sigmoid(signal) / signal.shape[-1]


def _next(x):
    """Row t holds row t + 1 (tomorrow); the last row repeats itself."""
    return jnp.concatenate([x[1:], x[-1:]], axis=0)


def _lag(x, k):
    """Row t holds row t - k (zeros before the first row): causal."""
    return jnp.concatenate([jnp.zeros((k,) + x.shape[1:], x.dtype), x[:x.shape[0] - k]], axis=0)


# ------------------------------------------------------------------------------ vector tier: look-ahead


@dataclasses.dataclass(frozen=True)
class ShiftConcat(VectorStrategy):
    """Peeks: shift(-1) by concatenating x[1:] with a pad row."""

    def weights(self, x):
        return _w(80.0 * jnp.concatenate([x[1:], jnp.zeros_like(x[:1])], axis=0))


@dataclasses.dataclass(frozen=True)
class RollBack(VectorStrategy):
    """Peeks: jnp.roll(x, -1) along time."""

    def weights(self, x):
        return _w(80.0 * jnp.roll(x, -1, axis=0))


@dataclasses.dataclass(frozen=True)
class PadShift(VectorStrategy):
    """Peeks: shift(-1) written with jnp.pad."""

    def weights(self, x):
        return _w(80.0 * jnp.pad(x[1:], ((0, 1), (0, 0))))


@dataclasses.dataclass(frozen=True)
class GatherNext(VectorStrategy):
    """Peeks: gathers row t + 1 with an index array."""

    def weights(self, x):
        idx = jnp.minimum(jnp.arange(x.shape[0]) + 1, x.shape[0] - 1)
        return _w(80.0 * x[idx])


@dataclasses.dataclass(frozen=True)
class FullSampleMax(VectorStrategy):
    """Peeks: divides by the max |return| over all rows."""

    def weights(self, x):
        return _w(3.0 * x / jnp.max(jnp.abs(x), axis=0))


@dataclasses.dataclass(frozen=True)
class FullSampleZScore(VectorStrategy):
    """Peeks: z-score with the mean and std over all rows."""

    def weights(self, x):
        return _w((x - x.mean(0)) / x.std(0))


@dataclasses.dataclass(frozen=True)
class WholeSampleDemean(VectorStrategy):
    """Peeks: demeans by the whole-sample mean."""

    def weights(self, x):
        return _w(80.0 * (x - jnp.mean(x, axis=0)))


@dataclasses.dataclass(frozen=True)
class SuffixSum(VectorStrategy):
    """Peeks: reverse cumsum (the sum of all returns from row t to the end)."""

    def weights(self, x):
        return _w(10.0 * jnp.flip(jnp.cumsum(jnp.flip(x, 0), axis=0), 0))


@dataclasses.dataclass(frozen=True)
class CentredConvolution(VectorStrategy):
    """Peeks: centred moving average (jnp.convolve mode='same', symmetric kernel)."""

    def weights(self, x):
        kernel = jnp.asarray([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
        smooth = jax.vmap(lambda c: jnp.convolve(c, kernel, mode="same"), in_axes=1, out_axes=1)(x)
        return _w(120.0 * smooth)


@dataclasses.dataclass(frozen=True)
class WholeSampleQuantile(VectorStrategy):
    """Peeks: compares today with the 80% quantile over the whole time axis."""

    def weights(self, x):
        return _w(100.0 * (x - jnp.quantile(x, 0.8, axis=0)))


@dataclasses.dataclass(frozen=True)
class WholeSampleRank(VectorStrategy):
    """Peeks: rank of each row among all rows (argsort over the whole time axis)."""

    def weights(self, x):
        ranks = jnp.argsort(jnp.argsort(x, axis=0), axis=0) / x.shape[0]
        return _w(4.0 * (ranks - 0.5))


@dataclasses.dataclass(frozen=True)
class FinalPriceAnchor(VectorStrategy):
    """Peeks: log price relative to the LAST row's log price."""

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        return _w(20.0 * (lp - lp[-1]))


@dataclasses.dataclass(frozen=True)
class FutureCumMax(VectorStrategy):
    """Peeks: the highest log price still to come (reverse cummax)."""

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        future_max = jnp.flip(lax.cummax(jnp.flip(lp, 0), axis=0), 0)
        return _w(20.0 * (future_max - lp))


@dataclasses.dataclass(frozen=True)
class ReverseScan(VectorStrategy):
    """Peeks: an EWM run backwards in time (lax.scan reverse=True)."""

    alpha: float = 0.3

    def weights(self, x):
        def f(m, r):
            m = (1.0 - self.alpha) * m + self.alpha * r
            return m, m

        _, ms = lax.scan(f, jnp.zeros(x.shape[1:], x.dtype), x, reverse=True)
        return _w(100.0 * ms)


@dataclasses.dataclass(frozen=True)
class FFTLowPass(VectorStrategy):
    """Peeks: low-pass filter through the FFT of the whole series."""

    def weights(self, x):
        spec = jnp.fft.rfft(x, axis=0)
        keep = (jnp.arange(spec.shape[0]) < 8)[:, None]
        return _w(150.0 * jnp.fft.irfft(spec * keep, n=x.shape[0], axis=0))


@dataclasses.dataclass(frozen=True)
class TradeMaskPeek(VectorStrategy):
    """Peeks through the trade flag only: trades today when tomorrow's basket return is positive."""

    def weights(self, x):
        w = jnp.full_like(x, 0.9 / x.shape[1])
        return Rebalance(w, _next(x).sum(-1) > 0)


@dataclasses.dataclass(frozen=True)
class LongInputPeek(VectorStrategy):
    """Peeks only when the input is long (more than 300 rows): honest on short inputs."""

    def weights(self, x):
        if x.shape[0] > 300:
            return _w(80.0 * _next(x))
        return _w(80.0 * x)


@dataclasses.dataclass(frozen=True)
class LastRowsPeek(VectorStrategy):
    """Peeks on the last 5 traded rows only (near the horizon end): rows n-6 .. n-2 read tomorrow."""

    def weights(self, x):
        n = x.shape[0]
        late = ((jnp.arange(n) >= n - 6) & (jnp.arange(n) <= n - 2))[:, None]
        return _w(80.0 * jnp.where(late, _next(x), x))


@dataclasses.dataclass(frozen=True)
class SingleRowPeek(VectorStrategy):
    """Peeks at ONE row only: row n-37 reads row n-36 (a sampled set of cuts misses it)."""

    def weights(self, x):
        n = x.shape[0]
        return _w(80.0 * x.at[n - 37].set(x[n - 36]))


@dataclasses.dataclass(frozen=True)
class SingleRowAt(VectorStrategy):
    """Peeks at ONE row only: row `at` (an absolute row index) reads row at + 1."""

    at: int = 128  # with 100 history rows: close 29 of a 60-day horizon

    def weights(self, x):
        hit = (jnp.arange(x.shape[0]) == self.at)[:, None]
        return _w(80.0 * jnp.where(hit, _next(x), x))


@dataclasses.dataclass(frozen=True)
class HorizonPeek(VectorStrategy):
    """Peeks a length-dependent distance ahead: row t reads row t + n // 3."""

    def weights(self, x):
        n = x.shape[0]
        return _w(80.0 * x[jnp.minimum(jnp.arange(n) + n // 3, n - 1)])


@dataclasses.dataclass(frozen=True)
class MixPeek(VectorStrategy):
    """Peeks when `peek` != 0: mixes tomorrow's return into today's signal."""

    peek: float = 0.0

    def weights(self, x):
        return _w(80.0 * x + self.peek * 80.0 * _next(x))


@dataclasses.dataclass(frozen=True)
class GridMixPeek(VectorStrategy):
    """Peeks when `peek` != 0 (run as a grid in which only the 3rd parameter set peeks)."""

    peek: float = 0.0

    def weights(self, x):
        return _w(60.0 * x + self.peek * 60.0 * _next(x))


@dataclasses.dataclass(frozen=True)
class LagOnePeek(VectorStrategy):
    """Peeks exactly one day ahead (meant to be run with lag=1: still look-ahead)."""

    def weights(self, x):
        return _w(80.0 * _next(x))


@dataclasses.dataclass(frozen=True)
class DebugPeek(VectorStrategy):
    """Peeks: tomorrow's sign (meant to be run with debug=True)."""

    def weights(self, x):
        return _w(2.0 * jnp.sign(_next(x)))


# ------------------------------------------------------------------------------ step tier


@dataclasses.dataclass(frozen=True)
class TapePeek(StepStrategy):
    """Tries to read tomorrow's return from the raw tape (obs.tape must not exist)."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        syn = obs.tape.syn_r
        tomorrow = lax.dynamic_index_in_dim(syn, jnp.clip(obs.t, 0, syn.shape[0] - 1), 0, keepdims=False)
        return state, _w(80.0 * tomorrow)


@dataclasses.dataclass(frozen=True)
class NegativeReturnLag(StepStrategy):
    """Asks for log_return_ago(-1), tomorrow's return: must be refused."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        return state, _w(80.0 * obs.log_return_ago(-1))


@dataclasses.dataclass(frozen=True)
class NegativePriceLag(StepStrategy):
    """Asks for log_price_ago(-2), the price two days ahead: must be refused."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        return state, _w(20.0 * (obs.log_price_ago(-2) - obs.log_price))


@dataclasses.dataclass(frozen=True)
class TracedLag(StepStrategy):
    """Reads log_return_ago(k) with a traced k: a negative k must read today, never the future."""

    k: int = -1

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        return state, _w(100.0 * obs.log_return_ago(self.k))


@dataclasses.dataclass(frozen=True)
class EveryAttribute(StepStrategy):
    """Folds every public attribute of Obs (and the lag accessors) into its weights: must stay causal."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        acc = jnp.zeros((), jnp.float32)
        i = 0
        for name in sorted(dir(obs)):
            if name.startswith("_"):
                continue
            value = getattr(obs, name)
            if callable(value):
                continue
            for leaf in jax.tree_util.tree_leaves(value):
                if not isinstance(leaf, (bool, int, float, jax.Array)) and not hasattr(leaf, "dtype"):
                    continue
                a = jnp.asarray(leaf)
                if not (jnp.issubdtype(a.dtype, jnp.number) or a.dtype == jnp.bool_):
                    continue
                i += 1
                acc = acc + jnp.sin(jnp.sum(a.astype(jnp.float32)) * (0.37 + 0.11 * i) + i)
        for k in (0, 1, 3):
            acc = acc + jnp.sin(41.0 * jnp.sum(obs.log_return_ago(k)) + k) \
                + jnp.sin(13.0 * jnp.sum(obs.log_price_ago(k)) + k)
        return state, _w(50.0 * obs.log_return + acc)


# ------------------------------------------------------------------------------ vector tier: honest


@dataclasses.dataclass(frozen=True)
class ShiftPlusOne(VectorStrategy):
    """Honest: shift(+1) by concatenating a zero row in front."""

    def weights(self, x):
        prev = jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]], axis=0)
        return _w(60.0 * (x + prev))


@dataclasses.dataclass(frozen=True)
class DiffPrepend(VectorStrategy):
    """Honest: jnp.diff with a zero row prepended."""

    def weights(self, x):
        return _w(30.0 * jnp.diff(x, axis=0, prepend=jnp.zeros_like(x[:1])))


@dataclasses.dataclass(frozen=True)
class CausalConvolution(VectorStrategy):
    """Honest: causal moving average, jnp.convolve(mode='full')[:n] per column (vmapped)."""

    def weights(self, x):
        kernel = jnp.asarray([0.4, 0.3, 0.2, 0.1])
        n = x.shape[0]
        smooth = jax.vmap(lambda c: jnp.convolve(c, kernel, mode="full")[:n], in_axes=1, out_axes=1)(x)
        return _w(120.0 * smooth)


@dataclasses.dataclass(frozen=True)
class EwmScan(VectorStrategy):
    """Honest: EWM mean through lax.scan."""

    alpha: float = 0.2

    def weights(self, x):
        def f(m, r):
            m = (1.0 - self.alpha) * m + self.alpha * r
            return m, m

        _, ms = lax.scan(f, jnp.zeros(x.shape[1:], x.dtype), x)
        return _w(150.0 * ms)


@dataclasses.dataclass(frozen=True)
class EwmAssociative(VectorStrategy):
    """Honest: EWM mean through jax.lax.associative_scan (y_t = a y_{t-1} + b_t)."""

    alpha: float = 0.2

    def weights(self, x):
        def combine(e1, e2):
            a1, b1 = e1
            a2, b2 = e2
            return a1 * a2, a2 * b1 + b2

        a = jnp.full_like(x, 1.0 - self.alpha)
        _, y = lax.associative_scan(combine, (a, self.alpha * x), axis=0)
        return _w(150.0 * y)


@dataclasses.dataclass(frozen=True)
class CumsumMomentum(VectorStrategy):
    """Honest: log price now minus log price `window` rows ago (cumsum)."""

    window: int = static(10)

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        return _w(40.0 * (lp - _lag(lp, self.window)))


@dataclasses.dataclass(frozen=True)
class ExpandingMean(VectorStrategy):
    """Honest: expanding mean, cumsum / row count."""

    def weights(self, x):
        mean = jnp.cumsum(x, axis=0) / jnp.arange(1, x.shape[0] + 1, dtype=x.dtype)[:, None]
        return _w(500.0 * mean)


@dataclasses.dataclass(frozen=True)
class PastDrawdown(VectorStrategy):
    """Honest: drawdown from the running peak of the log price (cummax of the past)."""

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        return _w(1.0 + 30.0 * (lp - lax.cummax(lp, axis=0)))


@dataclasses.dataclass(frozen=True)
class RollingRank(VectorStrategy):
    """Honest: rank of today's return among the past `window` returns (stack of shifted copies)."""

    window: int = static(5)

    def weights(self, x):
        copies = jnp.stack([_lag(x, j) for j in range(1, self.window)])
        rank = jnp.sum(copies < x[None], axis=0) / (self.window - 1)
        return _w(4.0 * (rank - 0.5))


@dataclasses.dataclass(frozen=True)
class RollingZScore(VectorStrategy):
    """Honest: rolling z-score over `window` rows from cumsum differences."""

    window: int = static(20)

    def weights(self, x):
        k = self.window
        s1 = jnp.cumsum(x, axis=0)
        s2 = jnp.cumsum(x * x, axis=0)
        mean = (s1 - _lag(s1, k)) / k
        var = jnp.maximum((s2 - _lag(s2, k)) / k - mean * mean, 0.0)
        return _w((x - mean) / jnp.sqrt(var + 1e-8))


@dataclasses.dataclass(frozen=True)
class VolScaling(VectorStrategy):
    """Honest: FFT-free volatility scaling, target / rolling vol from a cumsum of squares."""

    target: float = 0.10
    window: int = static(20)

    def weights(self, x):
        s2 = jnp.cumsum(x * x, axis=0)
        var = (s2 - _lag(s2, self.window)) / self.window
        vol = jnp.sqrt(252.0 * var + 1e-8)
        return 0.9 * jnp.minimum(self.target / vol, 1.0) * jnp.ones_like(x) / x.shape[1]


@dataclasses.dataclass(frozen=True)
class RebalanceEvery5(VectorStrategy):
    """Honest: momentum weights traded every 5 rows only (Rebalance with a trade mask)."""

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        return Rebalance(_w(40.0 * (lp - _lag(lp, 5))), jnp.arange(x.shape[0]) % 5 == 0)


LOOKAHEAD_VECTOR = (ShiftConcat, RollBack, PadShift, GatherNext, FullSampleMax, FullSampleZScore, WholeSampleDemean,
                    SuffixSum, CentredConvolution, WholeSampleQuantile, WholeSampleRank, FinalPriceAnchor,
                    FutureCumMax, ReverseScan, FFTLowPass, TradeMaskPeek, LongInputPeek, LastRowsPeek,
                    SingleRowPeek, SingleRowAt, HorizonPeek, MixPeek, GridMixPeek, LagOnePeek, DebugPeek)
LOOKAHEAD_STEP = (TapePeek, NegativeReturnLag, NegativePriceLag)
HONEST_VECTOR = (ShiftPlusOne, DiffPrepend, CausalConvolution, EwmScan, EwmAssociative, CumsumMomentum,
                 ExpandingMean, PastDrawdown, RollingRank, RollingZScore, VolScaling, RebalanceEvery5)
