"""A Gaussianising marginal transform per asset: the two-sided Lambert W x Gaussian ("hh") family.

Why a transform at all: a neural generator is a Lipschitz map of Gaussian noise, so its outputs have light
(sub-Gaussian) tails whatever it is trained on (Wiese et al., QuantGAN, 2020). Returns have power-law
tails. We therefore train on Gaussianised returns and push samples back through the fitted heavy-tail map.

Model (Goerg 2015, the heavy-tail Lambert W family), per asset with parameters ``loc``, ``scale`` and two
tail parameters ``delta_left``, ``delta_right`` >= 0::

    y = loc + scale * z,   z = u * exp(delta_s * u**2 / 2),   delta_s = delta_left if u < 0 else delta_right,

with ``u ~ N(0, 1)``. ``y`` has power-law tails with index ``1 / delta_s`` on each side (delta = 0 is the
Gaussian), so one parameter per side says how heavy that tail is, and the map is monotone, so its inverse
exists and is unique::

    u = sign(z) * sqrt(W(delta_s * z**2) / delta_s),   W = the principal branch of Lambert's W.

Directions, as the generators use them:

* `forward` (data -> Gaussian): applied to the training returns after `fit`;
* `inverse` (Gaussian -> data): applied to generated values after sampling (closed form, one exp).

`fit` is maximum likelihood per asset (host-side NumPy/SciPy, deterministic, no randomness). The
log-density follows from the change of variables, ``dz/du = exp(delta u^2 / 2) (1 + delta u^2)``::

    log f(y) = log phi(u) - log scale - delta_s u^2 / 2 - log(1 + delta_s u^2).

`fit_quantiles` fits the same family to a large sample by matching its quantiles, with no likelihood to
evaluate over every value: it describes a model's own output (the GAN's, `_gan_tails`), of which any number
of values can be drawn.

The tail parameters are capped at `MAX_DELTA` < 1/2, so that the fitted law keeps a finite variance (tail
index above 2): a generator whose variance is infinite makes every variance-based risk figure meaningless.
`max_delta` may also be given per asset (a tail index floor of its own for each; see `_gan_tails`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from scipy import optimize, special

from ..errors import ConfigError, ZeroVarianceError

__all__ = ["MAX_DELTA", "TailTransform", "fit", "fit_quantiles", "forward", "inverse", "log_density", "lambertw",
           "tail_index"]

MAX_DELTA = 0.45  # tail index >= 2.2 on each side: finite variance, as heavy as daily stock returns get
_HALLEY_STEPS = 4  # from the starting point below, 4 Halley steps reach float64 precision for x in [0, 1e30]


@struct.dataclass
class TailTransform:
    """Fitted per-asset Lambert W x Gaussian parameters, each ``[assets]`` (float32 or float64)."""

    loc: jax.Array
    scale: jax.Array
    delta_left: jax.Array
    delta_right: jax.Array

    @property
    def n_assets(self) -> int:
        return self.loc.shape[-1]

    def as_dict(self) -> dict[str, np.ndarray]:
        """Named float arrays, for persistence (safetensors) and reports."""
        return {name: np.asarray(getattr(self, name)) for name in ("loc", "scale", "delta_left", "delta_right")}

    @classmethod
    def from_dict(cls, arrays: dict[str, np.ndarray], *, where: str = "tail transform") -> TailTransform:
        """Inverse of `as_dict`; every array must be present, 1-D, finite and of one common length."""
        names = ("loc", "scale", "delta_left", "delta_right")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ConfigError(f"{where}: missing arrays {missing}; expected {list(names)}")
        values = {n: np.asarray(arrays[n]) for n in names}
        shapes = {v.shape for v in values.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ConfigError(f"{where}: arrays must all be [assets], got shapes "
                              f"{ {n: v.shape for n, v in values.items()} }")
        if not all(np.isfinite(v).all() for v in values.values()) or not (values["scale"] > 0).all():
            raise ConfigError(f"{where}: parameters must be finite with scale > 0")
        return cls(**{n: jnp.asarray(v) for n, v in values.items()})


def tail_index(transform: TailTransform) -> tuple[np.ndarray, np.ndarray]:
    """Power-law tail index ``1 / delta`` of the left and right tails per asset (inf for a Gaussian side)."""
    with np.errstate(divide="ignore"):
        return 1.0 / np.asarray(transform.delta_left), 1.0 / np.asarray(transform.delta_right)


# ------------------------------------------------------------------------------------------- JAX maps

def lambertw(x: jax.Array) -> jax.Array:
    """Principal branch W(x) for x >= 0 (x < 0 is not needed here and returns nan), jit- and grad-safe.

    Start from ``log1p(x)`` corrected by one term of the asymptotic series (within a few percent on the
    whole half line), then Halley's iteration for ``w e^w = x``, which converges cubically.
    """
    x = jnp.asarray(x)
    lx = jnp.log1p(x)
    w = jnp.where(x < 3.0, lx * (1.0 - jnp.log1p(lx) / (2.0 + lx)), lx - jnp.log(jnp.maximum(lx, 1e-30)))
    w = jnp.maximum(w, 0.0)
    for _ in range(_HALLEY_STEPS):
        ew = jnp.exp(w)
        f = w * ew - x
        w = w - f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0))
    return jnp.where(x < 0, jnp.nan, w)


def _side(transform: TailTransform, negative: jax.Array) -> jax.Array:
    return jnp.where(negative, transform.delta_left, transform.delta_right)


# Jitted: the fit and the state matching call these on the host, where each primitive run eagerly would be
# compiled as a program of its own (about a second per GAN fit); inside a jitted caller they are inlined.
@jax.jit
def forward(transform: TailTransform, y: jax.Array) -> jax.Array:
    """Data -> Gaussian: ``u = W_delta((y - loc) / scale)`` per asset (last axis = assets)."""
    z = (y - transform.loc) / transform.scale
    delta = _side(transform, z < 0)
    # W(d z^2) / d -> z^2 as d -> 0; a floor on d keeps the ratio exact to float precision and finite at d = 0
    d = jnp.maximum(delta, 1e-12)
    u2 = lambertw(d * z * z) / d
    return jnp.sign(z) * jnp.sqrt(u2)


@jax.jit
def inverse(transform: TailTransform, u: jax.Array) -> jax.Array:
    """Gaussian -> data: ``y = loc + scale * u * exp(delta_s * u^2 / 2)`` per asset (last axis = assets)."""
    delta = _side(transform, u < 0)
    return transform.loc + transform.scale * (u * jnp.exp(0.5 * delta * u * u))


@jax.jit
def log_density(transform: TailTransform, y: jax.Array) -> jax.Array:
    """Log-density of each value of `y` under its asset's fitted law (same shape as `y`)."""
    u = forward(transform, y)
    delta = _side(transform, u < 0)
    return (-0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * u * u - jnp.log(transform.scale)
            - 0.5 * delta * u * u - jnp.log1p(delta * u * u))


# ---------------------------------------------------------------------------------------------- fitting

def _neg_loglik(theta: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of one asset, float64 NumPy (SciPy's W), theta = (loc, log scale, dl, dr)."""
    loc, log_scale, dl, dr = theta
    z = (y - loc) / np.exp(log_scale)
    d = np.where(z < 0, dl, dr)
    dd = np.maximum(d, 1e-12)
    u2 = special.lambertw(dd * z * z).real / dd
    return float(np.mean(0.5 * u2 + log_scale + 0.5 * d * u2 + np.log1p(d * u2)) + 0.5 * np.log(2 * np.pi))


def _fit_one(y: np.ndarray, column: str, max_delta: float) -> np.ndarray:
    med = np.median(y)
    mad = 1.4826 * np.median(np.abs(y - med))
    if not mad > 0:
        # more than half the values equal the median: stale prices (unchanged closes give zero returns). The
        # moves that did happen still have a scale; it only seeds and bounds the search below
        moved = y[y != med]
        mad = 1.4826 * np.median(np.abs(moved - med)) if moved.size else 0.0
    if not mad > 0:
        raise ZeroVarianceError("the tail transform needs a spread of values", column=column,
                                expected="a column with at least one value different from the others")
    # Start from a robust location/scale and a moderate tail; bounds keep delta in [0, max_delta] and the
    # scale within three orders of magnitude of the robust one, so the optimiser cannot wander off.
    x0 = np.array([med, np.log(mad), 0.1, 0.1])
    bounds = [(med - 10 * mad, med + 10 * mad), (np.log(mad) - 7, np.log(mad) + 7), (0.0, max_delta),
              (0.0, max_delta)]
    res = optimize.minimize(_neg_loglik, x0, args=(y,), method="L-BFGS-B", bounds=bounds)
    return np.array([res.x[0], np.exp(res.x[1]), res.x[2], res.x[3]])


def _caps(max_delta: float | np.ndarray, n_assets: int) -> np.ndarray:
    caps = np.broadcast_to(np.asarray(max_delta, dtype=np.float64), (n_assets,))
    if not ((caps >= 0.0) & (caps < 0.5)).all():
        raise ConfigError(f"tail transform: max_delta must be in [0, 0.5) (finite variance), got {max_delta!r}")
    return caps


def _columns(x: np.ndarray, min_rows: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < min_rows:
        raise ConfigError(f"tail transform: {what} needs [time >= {min_rows}, assets] values, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ConfigError(f"tail transform: {what} needs finite values")
    return x


def fit(x: np.ndarray, *, assets: tuple[str, ...] | None = None, max_delta: float | np.ndarray = MAX_DELTA,
        dtype: jnp.dtype = jnp.float32) -> TailTransform:
    """Maximum-likelihood Lambert W x Gaussian parameters of each column of ``x[time, assets]``.

    Deterministic (no randomness is involved). `assets` only names columns in errors. `max_delta` bounds
    both tail parameters: one number for every asset, or one per asset.
    """
    x = _columns(x, 10, "fit")
    caps = _caps(max_delta, x.shape[1])
    names = assets or tuple(f"column {j}" for j in range(x.shape[1]))
    params = np.stack([_fit_one(x[:, j], names[j], float(caps[j])) for j in range(x.shape[1])], axis=1)
    return TailTransform(*(jnp.asarray(p, dtype=dtype) for p in params))


def _np_forward(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`forward` in float64 NumPy (SciPy's W) for one asset, theta = (loc, log scale, delta_left, delta_right)."""
    loc, log_scale, dl, dr = theta
    z = (y - loc) / np.exp(log_scale)
    d = np.maximum(np.where(z < 0, dl, dr), 1e-12)
    return np.sign(z) * np.sqrt(special.lambertw(d * z * z).real / d)


def fit_quantiles(x: np.ndarray, *, assets: tuple[str, ...] | None = None, max_delta: float | np.ndarray = MAX_DELTA,
                  points: int = 161, tail_draws: int = 20, dtype: jnp.dtype = jnp.float32) -> TailTransform:
    """Lambert W x Gaussian parameters of each column of a large sample ``x[draws, assets]`` whose `forward`
    map sends the sample's quantiles to the standard normal's.

    The quantiles are taken at `points` normal scores evenly spaced over ``+-ndtri(1 - tail_draws / n)``: as
    many points in each tail beyond two standard deviations as in the body, because the fit exists to get
    the tails right, and the outermost quantile still has `tail_draws` values beyond it, so its sampling
    error stays moderate. The loss is the squared distance, in Gaussian units, between the forward-mapped
    quantiles and their scores. Deterministic; about 0.1 s per asset for 262,144 values (the sort).
    """
    x = _columns(x, 4 * tail_draws, "fit_quantiles")
    caps = _caps(max_delta, x.shape[1])
    names = assets or tuple(f"column {j}" for j in range(x.shape[1]))
    edge = float(special.ndtri(1.0 - tail_draws / x.shape[0]))
    scores = np.linspace(-edge, edge, points)
    q = np.quantile(x, special.ndtr(scores), axis=0)  # [points, assets]
    params = []
    for j in range(x.shape[1]):
        med = float(np.median(x[:, j]))
        spread = 0.5 * float(q[-1, j] - q[0, j]) / edge  # a Gaussian's scale, from the outer quantiles
        if not spread > 0:
            raise ZeroVarianceError("the tail transform needs a spread of values", column=names[j],
                                    expected="a column with at least one value different from the others")
        cap = float(caps[j])
        x0 = np.array([med, np.log(spread), min(0.05, cap), min(0.05, cap)])
        bounds = [(med - 10 * spread, med + 10 * spread), (np.log(spread) - 7, np.log(spread) + 7), (0.0, cap),
                  (0.0, cap)]
        res = optimize.minimize(lambda th, qj=q[:, j]: float(np.sum((_np_forward(th, qj) - scores) ** 2)), x0,
                                method="L-BFGS-B", bounds=bounds)
        params.append([res.x[0], np.exp(res.x[1]), res.x[2], res.x[3]])
    params = np.asarray(params).T
    return TailTransform(*(jnp.asarray(p, dtype=dtype) for p in params))
