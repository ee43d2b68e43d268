"""Inverse-CDF tables: monotone maps tabulated at fit time (scipy, float64), read in jitted code (float32).

Why tables: `jax.random.t`, `gamma` and `chisquare` are about 60x slower than `jax.random.normal` on CPU
(measured on the 2-core CI machine). Every heavy-tailed draw here is therefore a standard normal pushed
through a monotone map tabulated on a uniform grid; reading the table (one index computation, one gather
of a (value, increment) pair, one multiply-add) costs about as much as the normal draw itself.

Uniform grids let the index be computed directly, ``(x - lo) / step``, with no search. The grids are:

* ``z`` in ``[-Z_MAX, Z_MAX]`` for maps of one standard normal (Student-t margins of the Gaussian copula,
  the chi-square mixing variable of the t copula). float32 normal draws never pass |z| ~ 5.4 (the
  smallest uniform is 2^-24); x64 ones reach ~8.3; beyond the grid the map is clamped.
* ``a = asinh(s)`` for maps of a Student-t variable ``s`` (t-copula margins): ``s`` has power-law tails,
  which asinh turns into nearly straight lines, so a uniform grid in ``a`` stays accurate far out. The grid
  ends where the t tail probability is `TAIL_PROB`, beyond which values are clamped.

Accuracy (tests/generators/test_garch.py measures it against scipy): the linear-interpolation error is
about ``step^2 / 8 * |f''|``, i.e. ~1e-6 relative on the relevant range with `GRID_POINTS` = 8193.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

# The FMA fence lives in stressgen.numerics (the engine uses it too, and may not import generators'
# private modules); re-exported so that the samplers keep reading it as `tb.rounded`.
from ..numerics import rounded as rounded

__all__ = ["GRID_POINTS", "Z_MAX", "TAIL_PROB", "tabulate", "rounded", "interp", "asinh", "unit_t_scale",
           "gaussian_margin_table", "chi2_mixing_table", "t_copula_margin_table", "constant_table"]

GRID_POINTS = 8193  # 2^13 intervals
Z_MAX = 9.0  # Phi(-9) = 1.1e-19
TAIL_PROB = 1e-18  # the t-copula grid ends where a t tail has this probability


def unit_t_scale(nu: np.ndarray) -> np.ndarray:
    """Factor that gives a Student-t variable unit variance, as arch standardises it: sqrt((nu - 2) / nu)."""
    nu = np.asarray(nu, dtype=np.float64)
    return np.sqrt((nu - 2.0) / nu)


def tabulate(values: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Values ``[..., G]`` on the uniform grid ``linspace(lo, hi, G)`` -> (table, grid).

    table ``[..., G, 2]`` float32 holds (value, increment to the next knot), so a read is one gather of a
    contiguous pair; grid ``[2]`` float32 holds (lo, 1 / step). Both are arrays (pytree leaves), so a new
    fit with other bounds does not recompile the sampler.
    """
    values = np.asarray(values, dtype=np.float64)
    increments = np.diff(values, axis=-1, append=values[..., -1:])
    table = np.stack([values, increments], axis=-1).astype(np.float32)
    grid = np.array([lo, (values.shape[-1] - 1) / (hi - lo)], dtype=np.float32)
    return table, grid


def interp(table: jax.Array, grid: jax.Array, x: jax.Array, fence: jax.Array) -> jax.Array:
    """Read a table at `x` by linear interpolation, clamped to the grid (`fence`: see `rounded`).

    table ``[G, 2]`` maps any `x`; table ``[assets, G, 2]`` maps ``x[..., assets]`` column by column.
    """
    n = table.shape[-2]
    # x is often a product (a normal draw is sqrt(2) * erfinv(u)); rounding it first keeps `x - lo` from
    # being contracted with it into an FMA in some programs and not in others
    pos = jnp.clip((rounded(x, fence) - grid[0]) * grid[1], 0.0, n - 1.0)
    i = jnp.minimum(pos.astype(jnp.int32), n - 2)  # pos >= 0, so the cast is a floor
    frac = pos - i
    if table.ndim == 3:  # one table per asset: offset each column into the flattened tables
        i = i + jnp.arange(table.shape[0], dtype=jnp.int32) * n
    row = jnp.take(table.reshape(-1, 2), i, axis=0, mode="clip")
    return row[..., 0] + rounded(frac * row[..., 1], fence)


def asinh(s: jax.Array, fence: jax.Array) -> jax.Array:
    """asinh by its log formula: about 2x faster than `jnp.arcsinh` on XLA-CPU, which guards ranges we
    never reach (|s| > 1e19 overflows s*s to inf, which `interp` clamps like any value past the grid)."""
    a = jnp.abs(s)
    return jnp.sign(s) * jnp.log(a + jnp.sqrt(rounded(a * a, fence) + 1.0))


def _z_grid() -> np.ndarray:
    return np.linspace(-Z_MAX, Z_MAX, GRID_POINTS)


def _t_lower_quantile(p: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Student-t quantile of a lower-tail probability ``p <= 1/2`` (so the value is <= 0)."""
    return special.stdtrit(nu, p)


def gaussian_margin_table(nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per asset ``h(z) = F_{t,nu}^{-1}(Phi(z)) * sqrt((nu-2)/nu)``: normal score -> unit-variance t.

    Computed on the lower half only and mirrored, ``h(z) = -h(-z)``: `Phi(z)` rounds to 1 for large z,
    while `Phi(-|z|)` keeps full relative precision down to 1e-19.
    """
    z = _z_grid()
    nu = np.asarray(nu, dtype=np.float64)[:, None]
    lower = _t_lower_quantile(special.ndtr(-np.abs(z))[None, :], nu) * unit_t_scale(nu)
    return tabulate(np.where(z < 0, lower, -lower), -Z_MAX, Z_MAX)


def chi2_mixing_table(nu_c: float) -> tuple[np.ndarray, np.ndarray]:
    """``m(z) = sqrt(nu_c / W)`` with ``W = F_{chi2,nu_c}^{-1}(Phi(z))``: normal score -> t-copula scale.

    ``n * m(z')`` with n, z' independent standard normals is Student-t with `nu_c` degrees of freedom, so
    one extra normal per world and day gives the t copula's common mixing variable without a gamma draw.
    """
    z = _z_grid()
    lower = special.ndtr(-np.abs(z))
    w = np.where(z < 0, stats.chi2.ppf(lower, nu_c), stats.chi2.isf(lower, nu_c))
    return tabulate(np.sqrt(nu_c / w), -Z_MAX, Z_MAX)


def t_copula_margin_table(nu: np.ndarray, nu_c: float) -> tuple[np.ndarray, np.ndarray]:
    """Per asset ``g(a) = F_{t,nu}^{-1}(T_{nu_c}(sinh a)) * sqrt((nu-2)/nu)`` on an asinh grid.

    Maps a t-copula coordinate ``s`` (read at ``a = asinh(s)``) to the unit-variance Student-t margin.
    """
    a_max = float(np.arcsinh(stats.t.isf(TAIL_PROB, nu_c)))
    a = np.linspace(-a_max, a_max, GRID_POINTS)
    p = special.stdtr(nu_c, -np.abs(np.sinh(a)))  # lower-tail probability, full precision
    nu = np.asarray(nu, dtype=np.float64)[:, None]
    lower = _t_lower_quantile(p[None, :], nu) * unit_t_scale(nu)
    return tabulate(np.where(a < 0, lower, -lower), -a_max, a_max)


def constant_table(value: float) -> tuple[np.ndarray, np.ndarray]:
    """A two-knot table of a constant (the chi-square mixing map in the limit nu_c -> inf)."""
    return tabulate(np.full(2, value), -Z_MAX, Z_MAX)
