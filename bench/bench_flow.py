"""Normalizing flow ("flow"): training speed, time to the default stopping point, sampling throughput and the
stylised facts of its worlds beside the neural autoregression's, GARCH's and the bootstrap's.

    python bench/bench_flow.py                 # default preset, 10,000 worlds x 252 days x 20 assets
    python bench/bench_flow.py --quick         # 2,000 worlds, 100 training steps: a smoke check
    python bench/bench_flow.py --preset gpu    # the larger preset (on a GPU)

The same measurements as bench/bench_nar.py (`bench_nar.family_case`, which its doc describes), with nar as a
further peer of the stylised facts: the flow is nar's model plus couplings, so the difference is theirs. The
default preset's training budget is 5 minutes on the 2-core CI machine; measure with `nice`.
"""

from __future__ import annotations

import sys
from functools import partial

from bench_nar import family_case, print_facts
from bench_neural import run_bench


def main() -> None:
    out = "bench/out/flow.json"
    run_bench("FLOW", partial(family_case, "flow", peers=("nar", "garch", "bootstrap")), script=__file__,
              doc=__doc__, default_out=out, quick_steps=100)
    if "--case" in sys.argv:
        return
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    print_facts(out, ("flow", "nar", "garch", "bootstrap", "real"))


if __name__ == "__main__":
    main()
