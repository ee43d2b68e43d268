"""Studies of a spec's data and generators besides the stress run: ``stressgen evaluate`` (the out-of-sample
scorecard and the rolling-origin calibration) and ``stressgen anomalies``. Plain functions from a `RunSpec`
to a result; the CLI only prints and writes what they return.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import generators, persist, rng
from ..errors import ConfigError
from ..generators import anomaly_scores
from ..generators.vae import TemporalVae, VaeConfig, VaeFitted
from ..metrics.fidelity import Scorecard
from ..strategy import ParamGrid
from .calibration import CalibrationResult, Progress, calibrate
from .evaluate import evaluate

if TYPE_CHECKING:  # the spec module imports this package's CalibrationConfig: a runtime import would be a cycle
    from ..spec import RunSpec

__all__ = ["evaluate_spec", "calibrate_spec", "anomalies_spec", "CALIBRATION_CACHE"]

CALIBRATION_CACHE = "calibration-cache"  # default cache directory of `calibrate_spec`, inside the results dir


def _families(spec: RunSpec) -> dict[str, tuple[Any, Any]]:
    """name -> (generator, config): the [evaluate] list, or the spec's own family; the spec's family keeps
    its configured options, the others run with their defaults."""
    own = spec.generator.family
    names = spec.evaluate.generators or ((own,) if own else ())
    if not names:
        raise ConfigError(f"{spec.source}: evaluate: [generator] loads a saved model, which cannot be refitted "
                          "on the train part; list families in [evaluate] generators = [...]")
    return {n: (generators.get(n), spec.generator.config if n == own else None) for n in names}


def evaluate_spec(spec: RunSpec, *, progress: Progress | None = None) -> Scorecard:
    """Score the spec's generators out of sample (`stressgen.studies.evaluate`), with
    the protocol of its [evaluate] section and keys from its seed; `progress` as `evaluate` calls it."""
    market = spec.data.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics repeat once per replicate; the scorecard is the result
        return evaluate(market, _families(spec), spec.evaluate.protocol,
                        key=rng.stream(rng.root(spec.simulation.seed), rng.FIT),
                        **({} if progress is None else {"progress": progress}))


def calibrate_spec(spec: RunSpec, *, progress: Progress | None = None,
                   cache_dir: str | Path | None = None) -> CalibrationResult:
    """The rolling-origin calibration of the spec's generators (`stressgen.studies.calibrate`) with the
    settings of its ``[evaluate.calibration]`` table, the spec's strategies (each parameter set of a grid
    is its own strategy), its costs and its seed (the study's key is ``rng.root(seed)``).

    Results are cached per origin in `cache_dir`, else the table's ``cache_dir``, else
    ``<results dir>/calibration-cache``.
    """
    config = spec.evaluate.calibration
    if config is None:
        raise ConfigError(f"{spec.source}: evaluate: no [evaluate.calibration] table; add one to run the "
                          "rolling-origin calibration")
    market = spec.data.load()
    wanted = set(config.strategies)
    strategies: dict[str, Any] = {}
    for entry in spec.strategies:
        if entry.name not in wanted:
            continue
        built = entry.build()
        for p, (display, _) in enumerate(entry.parameter_sets(built)):
            strategies[display] = built.at(p) if isinstance(built, ParamGrid) else built
    cache = cache_dir if cache_dir is not None else (spec.evaluate.calibration_cache
                                                     or spec.out_dir / CALIBRATION_CACHE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics repeat at every origin; the PITs are the result
        return calibrate(market, _families(spec), dataclasses.replace(config, strategies=tuple(strategies)),
                         key=rng.root(spec.simulation.seed), strategies=strategies,
                         backtest=dataclasses.replace(spec.costs, periods_per_year=market.periods_per_year),
                         progress=progress, cache_dir=cache)


def anomalies_spec(spec: RunSpec, *, top: int = 10) -> pd.DataFrame:
    """The `top` most anomalous windows of the spec's data by the VAE's negative ELBO.

    The VAE is the spec's saved model (``[generator] model = "dir"`` of a VAE), or it is fitted here with the
    spec's VAE options when ``family = "vae"``, else with the VAE's defaults.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a positive integer, got {top!r}")
    market = spec.data.load()
    key = rng.root(spec.simulation.seed)
    if spec.generator.model is not None:
        _, fitted = persist.load_model(spec.generator.model)
        if not isinstance(fitted, VaeFitted):
            raise ConfigError(f"{spec.source}: generator.model {spec.generator.model} is not a VAE; anomaly "
                              "scores are the VAE's negative ELBO")
    else:
        config = spec.generator.config if spec.generator.family == TemporalVae.name else VaeConfig()
        fitted = TemporalVae().fit(market, key=rng.stream(key, rng.FIT), config=config)
    scores = anomaly_scores(fitted, market, key=rng.stream(key, rng.SAMPLE))
    return scores.head(top)
