"""The shared training loop of the neural generators: scanned steps, validation, early stopping, a guard.

    carry, history = train(carry, step_fn, validate, key=key, config=TrainConfig(), name="vae")

* `carry` is any pytree of arrays (model `nnx.State`s and optax states); `step_fn(carry, key) -> (carry,
  metrics)` is a pure function, `metrics` a dict of scalars with at least ``"loss"``. The loop scans
  `TrainConfig.steps_per_call` steps inside one `jax.jit` call: per-step Python dispatch and host syncs
  would otherwise cost as much as a small model's step (measured on the 2-core CI machine).
* Step ``s`` uses ``jax.random.fold_in(key, s)``, so a run is a pure function of (carry, key, config).
* `validate(carry) -> float` (lower is better) runs on the initial carry and every `eval_every` steps; the
  carry with the best score is returned, and `patience` validations without improvement stop the run.
* Divergence guard: a non-finite loss or parameter, a loss above the blow-up bound, or a non-finite
  validation score stops the run, restores the best validated carry and emits `TrainingDivergedWarning`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ._base import check_sizes

__all__ = ["TrainConfig", "TrainHistory", "TrainingDivergedWarning", "train", "all_finite"]

StepFn = Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]


class TrainingDivergedWarning(RuntimeWarning):
    """Training stopped because the loss or the parameters blew up; the best validated carry was restored."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Options of the training loop.

    Attributes:
        steps: maximum number of optimisation steps.
        batch_size: examples per step (read by the model's step function, not by the loop).
        learning_rate: peak learning rate (read by the model's optimiser).
        max_grad_norm: global gradient-norm clip (read by the model's optimiser).
        eval_every: steps between validation scores; a multiple of `steps_per_call`.
        patience: validations without improvement before stopping early.
        min_delta: an improvement must lower the best validation score by more than this.
        steps_per_call: steps scanned inside one jitted call.
        blowup: the run diverges when a step's loss exceeds ``L0 + blowup * max(|L0|, 1)``, with L0 the
            first call's mean loss (losses of continuous likelihoods can be negative, hence the max).
        progress: show a rich progress bar.
    """

    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0
    eval_every: int = 100
    patience: int = 5
    min_delta: float = 0.0
    steps_per_call: int = 20
    blowup: float = 1e3
    progress: bool = True

    def __post_init__(self) -> None:
        check_sizes(**{f"train.{n}": getattr(self, n)
                       for n in ("steps", "batch_size", "eval_every", "patience", "steps_per_call")})
        for name in ("learning_rate", "max_grad_norm", "blowup"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value)
                                                                                   and value > 0):
                raise ConfigError(f"train.{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.min_delta, bool) or not isinstance(self.min_delta, int | float) or self.min_delta < 0:
            raise ConfigError(f"train.min_delta must be a number >= 0, got {self.min_delta!r}")
        if self.eval_every % self.steps_per_call:
            raise ConfigError(f"train.eval_every ({self.eval_every}) must be a multiple of train.steps_per_call "
                              f"({self.steps_per_call}): validation happens between scanned calls")
        if not isinstance(self.progress, bool):
            raise ConfigError(f"train.progress must be true or false, got {self.progress!r}")


@dataclasses.dataclass(frozen=True, eq=False)  # identity equality: it rides as static metadata on fits
class TrainHistory:
    """What happened during `train`.

    Attributes:
        step, loss: ``[n]`` every step run (1-based step number) and its loss.
        metrics: every metric `step_fn` returned, ``[n]`` each (``"loss"`` included).
        val_step, val_score: the validations (step 0 is the initial carry).
        best_step: the step whose carry was returned.
        stop_reason: ``"early_stop"``, ``"max_steps"`` or ``"diverged"``.
        restored: True when the returned carry is not the last one computed.
        seconds: wall-clock time of the run (compilation included).
        message: one human sentence saying how the run ended.
    """

    step: np.ndarray
    loss: np.ndarray
    metrics: dict[str, np.ndarray]
    val_step: np.ndarray
    val_score: np.ndarray
    best_step: int
    stop_reason: str
    restored: bool
    seconds: float
    message: str

    @property
    def best_score(self) -> float:
        return float(self.val_score[list(self.val_step).index(self.best_step)])


def all_finite(tree: Any) -> jax.Array:
    """True when every floating leaf of `tree` is finite (integer leaves such as step counters are skipped)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@partial(jax.jit, static_argnames=("step_fn", "length"))
def _run_steps(carry: Any, key: jax.Array, start: jax.Array, *, step_fn: StepFn,
               length: int) -> tuple[Any, dict[str, jax.Array], jax.Array]:
    """`length` steps from step number `start` (traced, so every call reuses one program)."""

    def body(c, s):
        return step_fn(c, jax.random.fold_in(key, s))

    carry, metrics = jax.lax.scan(body, carry, start + jnp.arange(length, dtype=jnp.uint32))
    return carry, metrics, all_finite(carry)


class _Progress:
    """A rich progress bar, or nothing (tests, `progress=False`)."""

    def __init__(self, enabled: bool, name: str, total: int):
        self._bar = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(f"training {name}", total=total, info="")

    def update(self, step: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def train(carry: Any, step_fn: StepFn, validate: Callable[[Any], float], *, key: jax.Array,
          config: TrainConfig, name: str) -> tuple[Any, TrainHistory]:
    """Run `step_fn` up to `config.steps` times; return the best validated carry and the history.

    `step_fn` must be hashable and stable across calls (a module-level function or a `functools.partial`
    of one over hashable arguments) so that its compiled program is reused.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"{name}: train() takes a TrainConfig, got {type(config).__name__}")
    t0 = time.perf_counter()
    spc = config.steps_per_call
    steps, losses, metric_rows = [], [], []
    val_step, val_score = [0], [float(validate(carry))]
    if not math.isfinite(val_score[0]):
        raise ConfigError(f"{name}: the validation score of the initial parameters is {val_score[0]}; "
                          f"check the data and the initialisation")
    best, best_step, best_score, stale = carry, 0, val_score[0], 0
    bound, reason, problem = None, "max_steps", ""
    done = 0
    bar = _Progress(config.progress, name, config.steps)
    try:
        while done < config.steps:
            length = min(spc, config.steps - done)
            new, metrics, finite = _run_steps(carry, key, jnp.uint32(done + 1), step_fn=step_fn, length=length)
            metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
            loss = metrics["loss"]
            if bound is None and np.isfinite(loss).all():
                first = float(loss.mean())
                bound = first + config.blowup * max(abs(first), 1.0)
            problem = _divergence(loss, bool(finite), bound, done)
            if problem:
                reason = "diverged"
                break
            carry = new
            steps.append(np.arange(done + 1, done + length + 1))
            losses.append(loss)
            metric_rows.append(metrics)
            done += length
            if done % config.eval_every == 0 or done == config.steps:
                score = float(validate(carry))
                val_step.append(done)
                val_score.append(score)
                if not math.isfinite(score):
                    problem, reason = f"the validation score became {score} at step {done}", "diverged"
                    break
                if score < best_score - config.min_delta:
                    best, best_step, best_score, stale = carry, done, score, 0
                else:
                    stale += 1
                    if stale >= config.patience:
                        reason = "early_stop"
                        break
            bar.update(done, f"loss {loss.mean():.4g}  val {val_score[-1]:.4g} (best {best_score:.4g})")
    finally:
        bar.close()
    restored = best_step != done or reason == "diverged"
    if reason == "diverged":
        message = (f"{name}: training diverged ({problem}); restored the parameters of step {best_step} "
                   f"(validation score {best_score:.6g})")
        warnings.warn(message, TrainingDivergedWarning, stacklevel=2)
    elif reason == "early_stop":
        message = (f"{name}: stopped early at step {done} after {config.patience} validations without "
                   f"improvement; best validation score {best_score:.6g} at step {best_step}")
    else:
        message = (f"{name}: ran all {done} steps; best validation score {best_score:.6g} at step {best_step}")
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
    history = TrainHistory(
        step=cat(steps).astype(np.int64), loss=cat(losses),
        metrics={k: cat([m[k] for m in metric_rows]) for k in (metric_rows[0] if metric_rows else {})},
        val_step=np.asarray(val_step, dtype=np.int64), val_score=np.asarray(val_score, dtype=np.float64),
        best_step=best_step, stop_reason=reason, restored=restored, seconds=time.perf_counter() - t0,
        message=message,
    )
    return best, history


def _divergence(loss: np.ndarray, params_finite: bool, bound: float | None, done: int) -> str:
    """Why the chunk of steps after step `done` diverged, or '' when it did not."""
    bad = ~np.isfinite(loss)
    if bad.any():
        return f"the loss became {loss[bad.argmax()]} at step {done + 1 + int(bad.argmax())}"
    if not params_finite:
        return f"a parameter became non-finite between steps {done + 1} and {done + len(loss)}"
    if bound is not None and (loss > bound).any():
        i = int((loss > bound).argmax())
        return f"the loss reached {loss[i]:.6g} at step {done + 1 + i}, above the blow-up bound {bound:.6g}"
    return ""
