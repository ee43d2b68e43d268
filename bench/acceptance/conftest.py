"""Acceptance runs: end-to-end runs that fit models of their own. What those models learn, measured on their
worlds, and the notebooks, run top to bottom.

What lives here:
- the plausibility of every family's worlds on the bundled twenty stocks, and of a GAN's on a stale-price
  asset; the spread after a crisis start against a calm one;
- what fits learn from data of a known law or from the bundled history: the GAN's and the VAE's stylized
  facts, the VAE's entropy floor, daily scale and copula, the flow's moving dependence, nar's leverage effect;
- the notebooks, at small sizes.

They were chosen by cost: each fits models no other test shares and took 9-87 s of a CPU core in the suite,
most of it compiling programs; together about 630 of the 2,240 worker-seconds the suite took while they were
in it. Cheaper tests of the same kind stay in the suite. The suite (`make test`, tests/) checks the code at
small sizes, on the session's shared tiny fits, and is held to 15 minutes on two cores; these run with
`make acceptance` (5-6 minutes on two cores), and `.ci/run` runs both, so every change is still held to
them. The tolerances are the same as they were in the suite: from standard errors, every seed fixed.

They share the suite's setup and fixtures: tests/conftest.py is loaded here under its own name (two
modules named `conftest` cannot both be imported), which also gives this run its own compilation cache
and two CPU devices, as in the suite.
"""

import importlib.util
from pathlib import Path

_path = Path(__file__).parents[2] / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("stressgen_suite_conftest", _path)
_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_suite)

# the fixtures these runs use, re-exported by name (pytest collects fixtures from this module's attributes)
sp500_20 = _suite.sp500_20
_release_compiled_programs = _suite._release_compiled_programs
