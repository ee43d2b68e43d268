"""What the likelihood-trained neural families (`vae`, `nar`) share: the optimizer, the split of a history
into training and validation windows, sampling in aligned blocks of worlds, and how a network is stored.

Sampling in aligned blocks: XLA:CPU rounds a row of a matrix product differently depending on the number of
rows and its position, so a family's sampler always runs blocks of `block` worlds aligned to global world
indices and keeps the requested worlds: world i is always row ``i % block`` of the same program, whatever
the number of worlds or the chunking.

Storage: the network's leaves as named arrays ``net/<module>/<leaf>``, its structure rebuilt from code
(`restore_state`); the training record as JSON plus its per-step arrays; the digest over the family's
fitted arrays, then the network's by name.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..errors import InsufficientHistoryError, ModelFileError, ZeroVarianceError
from ..types import MarketData
from ._base import take_arrays
from ._garch_tails import NU_MIN
from ._training import TrainConfig, TrainHistory

__all__ = ["optimizer", "WindowStep", "split_history", "min_history", "fit_scale", "simulate_aligned",
           "state_arrays", "digest_arrays", "train_meta", "restore_history", "restore_state", "structure",
           "NU_FLOOR", "check_nu_floor"]

# The house floor on a Student-t innovation's degrees of freedom wherever volatility feeds back on generated
# days (GARCH's `NU_MIN`, `_garch_tails`): below 4 the variance states' updates have no fourth moment and a
# few draws set a whole path. Measured on the VAE fitted to sp500-20 up to 2003 with nu free above 2: one
# asset's nu went to 2.5, its median world ran at 2.9x its history's volatility (1.5x with the floor), and the
# one-year returns of 27 rolling origins had a CRPS of 8,504 (worlds up to e^24); with the floor, 0.14 and
# no world above a tripling. nar and the flow share the rule
NU_FLOOR = NU_MIN


@functools.lru_cache(maxsize=16)
def optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    """One optimizer object per training config, so equal configs give equal (hashable) step functions."""
    return optax.chain(optax.clip_by_global_norm(tc.max_grad_norm), optax.adam(tc.learning_rate))


@dataclasses.dataclass(frozen=True)
class WindowStep:
    """A family's training step as a hashable value for `_training.train`.

    ``loss_step((state, opt_state), key, *, graphdef, opt, data, starts, config) -> ((state, opt_state),
    metrics)`` is the family's step on a batch of windows. The data and the window starts travel in the carry
    (traced), so a second fit with the same config and data shape reuses the compiled program instead of
    compiling a new one with the data baked in as constants.
    """

    loss_step: Callable
    graphdef: Any
    opt: Any
    config: Any

    def __call__(self, carry, key):
        state, opt_state, data, starts = carry
        (state, opt_state), metrics = self.loss_step((state, opt_state), key, graphdef=self.graphdef, opt=self.opt,
                                                     data=data, starts=starts, config=self.config)
        return (state, opt_state, data, starts), metrics


def _split(n: int, window: int, lead: int, val_fraction: float) -> tuple[int, np.ndarray, np.ndarray]:
    cut = int(round(n * (1.0 - val_fraction)))
    return cut, np.arange(lead, cut - window + 1), np.arange(max(cut, lead), n - window + 1, window)


def _enough(n: int, window: int, lead: int, val_fraction: float) -> bool:
    _, train_starts, val_starts = _split(n, window, lead, val_fraction)
    return train_starts.size >= 4 * window and val_starts.size >= 2


def min_history(*, window: int, lead: int, val_fraction: float) -> int:
    """The fewest returns `split_history` accepts: four windows' worth of training starts before the cut and
    two validation windows after it. The first is about ``(lead + 5 window) / (1 - val_fraction)`` returns,
    the second ``2 window / val_fraction`` (less half a return of rounding); stepping up from the larger of
    those lower bounds settles the rounding of the cut."""
    n = max(lead + 5 * window - 1, int(np.floor((2 * window - 0.5) / val_fraction)))
    while not _enough(n, window, lead, val_fraction):
        n += 1
    return n


def split_history(market: MarketData, *, window: int, lead: int, val_fraction: float, what: str,
                  lead_name: str) -> tuple[int, np.ndarray, np.ndarray]:
    """``(cut, train_starts, val_starts)``: windows of `window` days after `lead` days of their own past.
    Training windows lie before the cut (the first ``1 - val_fraction`` of the returns); validation windows
    tile the rest. Too short a history is an `InsufficientHistoryError` giving the fewest returns that fit."""
    n = market.log_returns.shape[0]
    cut, train_starts, val_starts = _split(n, window, lead, val_fraction)
    if train_starts.size < 4 * window or val_starts.size < 2:
        need = min_history(window=window, lead=lead, val_fraction=val_fraction)
        raise InsufficientHistoryError(
            f"{what} needs more history: {n} returns give {train_starts.size} training windows and "
            f"{val_starts.size} validation windows", path=market.source,
            expected=f"at least {need} returns for window={window}, {lead_name}={lead}, "
                     f"val_fraction={val_fraction}")
    return cut, train_starts, val_starts


def fit_scale(market: MarketData, cut: int) -> np.ndarray:
    """``[assets]`` the standard deviation of each asset's returns before `cut` (the standardization); an
    asset that never moves is a `ZeroVarianceError` naming it."""
    scale = market.log_returns[:cut].std(axis=0)
    if (scale <= 0).any():
        bad = market.assets[int(np.argmin(scale))]
        raise ZeroVarianceError("returns have zero variance over the fit sample", path=market.source,
                                column=bad, expected="assets whose prices move")
    return scale


@partial(jax.jit, static_argnames=("n_worlds",))
def _assemble(blocks: list[jax.Array], offset: jax.Array, *, n_worlds: int) -> jax.Array:
    return jax.lax.dynamic_slice_in_dim(jnp.concatenate(blocks), offset, n_worlds, axis=0)


def simulate_aligned(block_fn: Callable[[jax.Array], jax.Array], first_world: int, *, n_worlds: int,
                     block: int) -> jax.Array:
    """Worlds ``first_world .. first_world + n_worlds - 1`` from ``block_fn(block_index)``, which gives the
    ``[block, ...]`` worlds ``block_index * block + (0 .. block - 1)``: the aligned blocks that hold them,
    then a slice. Always ``ceil(n_worlds / block) + 1`` blocks, enough for any offset of `first_world` in a
    block, so the assembling program depends on `n_worlds` only and a new chunk offset never recompiles
    anything (the conformance suite checks it). The price is up to one block more than the worlds need: keep
    `block` small next to the chunk size."""
    b0 = first_world // block
    offset = first_world - b0 * block
    n_blocks = -(-n_worlds // block) + 1
    blocks = [block_fn(jnp.uint32(b0 + i)) for i in range(n_blocks)]
    return _assemble(blocks, jnp.int32(offset), n_worlds=n_worlds)


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """The network's parameters as named host arrays (``net/<module>/<leaf>``)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(state)
    return {"net/" + "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.asarray(leaf)
            for path, leaf in leaves}


def digest_arrays(state: Any, *fitted_arrays: Any) -> list:
    """What the fit digest covers, in order: the fitted arrays, then the network's by name."""
    named = state_arrays(state)
    return [*fitted_arrays, *(named[k] for k in sorted(named))]


def structure(build: Callable[[], Any]) -> tuple[Any, Any]:
    """``nnx.split(build())`` without building: the graphdef and a state of ``jax.ShapeDtypeStruct`` leaves
    (`nnx.eval_shape`), for a load or a fit that needs the network's structure, not its initial parameters.

    Why: a built network draws those parameters eagerly, one compiled program per initializer and shape:
    about 1.5 s in a fresh process (a GAN's generator, 2 CPU cores), thrown away at once."""
    return nnx.split(nnx.eval_shape(build))


def restore_state(template: Any, arrays: Mapping[str, np.ndarray], names: list[str] | None = None) -> Any:
    """The network state stored under `names` (one per leaf of `template`, in its order; by default
    `state_arrays`'s), in the structure of `template` (a state, or its `structure`, built from the stored
    config); a missing array, or one of another shape or dtype, is a `ModelFileError` naming it."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = list(state_arrays(template)) if names is None else names
    values = take_arrays(arrays, names)
    for name, value, (_, leaf) in zip(names, values, leaves, strict=True):
        if value.shape != leaf.shape or value.dtype != leaf.dtype:
            raise ModelFileError(f"array {name!r} is {value.dtype}{list(value.shape)}", expected=(
                f"{leaf.dtype}{list(leaf.shape)} for the network built from the stored config"))
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in values])


def train_meta(h: TrainHistory) -> dict[str, Any]:
    """The JSON part of a training record (its per-step arrays are stored as ``train.step``, ``train.loss``)."""
    return {"best_step": h.best_step, "stop_reason": h.stop_reason, "restored": h.restored, "seconds": h.seconds,
            "message": h.message, "val_step": h.val_step.tolist(), "val_score": h.val_score.tolist()}


def restore_history(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, writer: str) -> TrainHistory:
    """Inverse of `train_meta` plus the stored per-step arrays; a broken record is a `ModelFileError`."""
    try:
        return TrainHistory(
            step=np.asarray(arrays.get("train.step", np.zeros(0, np.int64))),
            loss=np.asarray(arrays.get("train.loss", np.zeros(0))), metrics={},
            val_step=np.asarray(meta["val_step"], np.int64),
            val_score=np.asarray(meta["val_score"], np.float64),
            best_step=int(meta["best_step"]), stop_reason=str(meta["stop_reason"]),
            restored=bool(meta["restored"]), seconds=float(meta["seconds"]), message=str(meta["message"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model meta has no valid training record ({exc!r})",
                             expected=f"the meta written by {writer}") from exc


def check_nu_floor(meta: Mapping[str, Any], family: str) -> None:
    """Refuse a model file written under another `NU_FLOOR`: its nu parameters meant ``floor + softplus(..)``
    with that floor, and read under this one they would be another model under the same digest."""
    floor = meta.get("nu_floor", 2.0)  # files from before the floor record none: theirs was 2
    if floor != NU_FLOOR:
        raise ModelFileError(f"this {family} model was saved with another floor on its Student-t nu ({floor!r}, "
                             f"now {NU_FLOOR}); refit it", expected=f"a model file with nu_floor = {NU_FLOOR}")
