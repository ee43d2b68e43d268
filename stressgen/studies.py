"""Studies of a spec's data and generators besides the stress run: ``stressgen evaluate`` and ``stressgen
anomalies``. Plain functions from a `RunSpec` to a table; the CLI only prints and writes what they return.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from . import generators, persist, rng
from .errors import ConfigError
from .generators import anomaly_scores
from .generators.vae import TemporalVae, VaeConfig, VaeFitted
from .metrics.fidelity import Scorecard, evaluate
from .spec import RunSpec

__all__ = ["evaluate_spec", "anomalies_spec"]


def _families(spec: RunSpec) -> dict[str, tuple[Any, Any]]:
    """name -> (generator, config): the [evaluate] list, or the spec's own family; the spec's family keeps
    its configured options, the others run with their defaults."""
    own = spec.generator.family
    names = spec.evaluate.generators or ((own,) if own else ())
    if not names:
        raise ConfigError(f"{spec.source}: evaluate: [generator] loads a saved model, which cannot be refitted "
                          "on the train part; list families in [evaluate] generators = [...]")
    return {n: (generators.get(n), spec.generator.config if n == own else None) for n in names}


def evaluate_spec(spec: RunSpec) -> Scorecard:
    """Score the spec's generators out of sample on its data (`stressgen.metrics.fidelity.evaluate`), with
    the protocol of its [evaluate] section and keys from its seed."""
    market = spec.data.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics repeat once per replicate; the scorecard is the result
        return evaluate(market, _families(spec), spec.evaluate.protocol,
                        key=rng.stream(rng.root(spec.simulation.seed), rng.FIT))


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
