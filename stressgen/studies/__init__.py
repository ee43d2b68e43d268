"""Studies: protocols that combine data, generators, the engine and metrics into one result, below the
report and the CLI (data -> generators -> engine -> metrics -> studies -> report -> cli).

* `calibrate` (`CalibrationConfig` -> `CalibrationResult`): rolling-origin calibration of one-horizon
  forecasts, the PIT of each real outcome among the worlds across many origins (docs/fidelity.md,
  "Calibration (rolling origin)");
* `evaluate`: the fidelity protocol (split, fit, sample, score against two floors) -> a `Scorecard`;
* `evaluate_spec`, `calibrate_spec`, `anomalies_spec`: what ``stressgen evaluate`` and ``stressgen
  anomalies`` run for a `RunSpec`;
* `select` (-> `Selection`): rank candidate strategies by their real-history Sharpe ratio, its deflated
  version and their median Sharpe ratio across worlds (docs/overfitting.md, issue 18).
"""

from .calibration import CalibrationConfig as CalibrationConfig
from .calibration import CalibrationResult as CalibrationResult
from .calibration import OriginOutcomes as OriginOutcomes
from .calibration import OutcomeCalibration as OutcomeCalibration
from .calibration import Schedule as Schedule
from .calibration import calibrate as calibrate
from .calibration import equal_weight_outcomes as equal_weight_outcomes
from .calibration import outcome_names as outcome_names
from .calibration import reanchor as reanchor
from .calibration import schedule as schedule
from .evaluate import evaluate as evaluate
from .fidelity import anomalies_spec as anomalies_spec
from .fidelity import calibrate_spec as calibrate_spec
from .fidelity import evaluate_spec as evaluate_spec
from .selection import Selection as Selection
from .selection import edge_removed as edge_removed
from .selection import real_scenarios as real_scenarios
from .selection import select as select

__all__ = ["evaluate", "evaluate_spec", "anomalies_spec", "calibrate_spec", "calibrate", "CalibrationConfig",
           "CalibrationResult", "OriginOutcomes", "OutcomeCalibration", "Schedule", "schedule", "reanchor",
           "equal_weight_outcomes", "outcome_names", "Selection", "select", "edge_removed", "real_scenarios"]
