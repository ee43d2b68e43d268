"""How the neural autoregressive model is stored: its network as named arrays, its training record as JSON.

Kept apart from `nar` so that the family module holds the model; the layout is the VAE's (`vae`): network
leaves named ``net/<module>/<leaf>``, the digest over the fitted arrays then the network's by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ..errors import ModelFileError
from ._training import TrainHistory

__all__ = ["state_arrays", "digest_arrays", "train_meta", "restore_history"]


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """The network's parameters as named host arrays (``net/<module>/<leaf>``)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(state)
    return {"net/" + "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.asarray(leaf)
            for path, leaf in leaves}


def digest_arrays(state: Any, *fitted_arrays: Any) -> list:
    """What the fit digest covers, in order: the fitted arrays, then the network's by name."""
    named = state_arrays(state)
    return [*fitted_arrays, *(named[k] for k in sorted(named))]


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
