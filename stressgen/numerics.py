"""Small numerical helpers that more than one layer needs (generators fit with them, metrics check with
them, the engine and the samplers fence their products with `rounded`). This module imports nothing from
stressgen but `errors`, so any layer may use it (the import-linter contract in pyproject.toml checks it)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError, StrategyError

__all__ = ["hill_index", "tail_count", "rounded", "check_sizes", "check_windows", "CDF_SLACK"]

# F(x_i) is a float32 cumulative sum compared with q. With uniform weights q*n may be an integer (5% of 100
# worlds) and rounding would put F(x_5) a hair below 0.05, picking the 6th value instead of the 5th. Counting
# a target reached within this relative slack reproduces numpy's inverted_cdf exactly for up to ~2 million
# uniform worlds (one world's weight, 1/n, stays larger than the slack).
CDF_SLACK = 4.0 * float(jnp.finfo(jnp.float32).eps)


@jax.custom_jvp
def rounded(x: jax.Array, fence: jax.Array) -> jax.Array:
    """`x` (float32) rounded right here: the compiler may not fuse it into a following add as an FMA.

    XLA:CPU contracts ``a * b + c`` into a fused multiply-add for some array shapes and not for others
    (e.g. per-asset parameters broadcast over [worlds, assets]: 8 or 16 worlds of 4 assets no, 10 worlds
    yes), so the same world would differ in its last bit between chunk sizes. XOR with `fence`, a
    runtime uint32 zero the compiler cannot see through, forces the product to be rounded first; it costs
    one integer op. Used on every product that feeds an add in the samplers and the engine's time loop.
    """
    return jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(x, jnp.uint32) ^ fence, jnp.float32)


@rounded.defjvp
def _rounded_jvp(primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
                 ) -> tuple[jax.Array, jax.Array]:
    # The fence is an identity on values, so its derivative is the identity. Without this rule the bitcasts
    # have no derivative and JAX returns 0 silently: gradients through the samplers and the engine's P&L
    # (the optimised reverse stress search, studies/reverse_opt.py) would vanish. The primal is unchanged.
    x, fence = primals
    return rounded(x, fence), tangents[0]


def check_sizes(**sizes: int) -> None:
    """Each keyword (n_worlds, horizon, chunk_size, ...) must be a positive integer; the error names it."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def check_windows(strategy: str, /, *, minimum: int = 1, **windows: object) -> None:
    """Each keyword (a strategy's window or period field, in closes) must be at least `minimum`; else a
    `StrategyError` naming `strategy` and the field.

    Only concrete values are checked: Python and NumPy numbers, and NumPy arrays (a parameter grid's values,
    every one of them). JAX arrays are skipped: inside the engine a field may be a tracer, whose value is
    not known while the program is built, and checking a concrete device array would wait for the device.
    """
    for field, value in windows.items():
        if isinstance(value, bool | jax.Array) or not isinstance(value, int | float | np.number | np.ndarray):
            continue
        values = np.asarray(value)
        bad = values[values < minimum]
        if bad.size:
            shown = bad.ravel()[0].item()
            what = f"{field} values include {shown!r}" if values.ndim else f"{field} = {shown!r}"
            raise StrategyError(strategy, f"{what}: a window or period in closes must be at least {minimum}; "
                                          f"set {field} to {minimum} or more")


def tail_count(n: int, fraction: float, minimum: int = 10) -> int:
    """How many of the `n` largest values a tail estimate reads: ``ceil(fraction * n)``, at least `minimum`
    (fewer make the Hill estimator's standard error, index / sqrt(k), larger than a third of the index), and
    never all of them."""
    return int(min(max(math.ceil(fraction * n), minimum), n - 1))


def hill_index(abs_values: np.ndarray, k: int) -> float:
    """Hill estimator ``1 / mean(log(X_(i) / X_(k+1)))`` over the k largest of `abs_values` (nan if undefined).

    Its standard error is about ``index / sqrt(k)`` (Hill, 1975; de Haan and Ferreira, 2006).
    """
    x = np.asarray(abs_values, np.float64).ravel()
    if not 1 <= k < x.size:
        return math.nan
    top = np.sort(np.partition(x, x.size - k - 1)[x.size - k - 1:])[::-1]  # X_(1) >= ... >= X_(k+1)
    if not top[k] > 0:
        return math.nan
    mean_log = float(np.mean(np.log(top[:k] / top[k])))
    return 1.0 / mean_log if mean_log > 0 else math.inf
