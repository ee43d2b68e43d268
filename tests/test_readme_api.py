"""The README's "Backtests in Python" snippets run as written, and show what they say they show."""

import re
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).parents[1] / "README.md"
SECTION = "## Backtests in Python"


def _snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md lost its {SECTION!r} section"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_readme_backtest_snippets_run():
    pytest.importorskip("vectorbt")
    blocks = _snippets()
    assert len(blocks) == 2
    ns: dict = {}
    for block in blocks:  # in order, in one namespace, as a reader would paste them
        exec(compile(block, str(README), "exec"), ns)
    frames, real, pf, prices = ns["frames"], ns["real"], ns["pf"], ns["prices"]
    assert frames.summary.shape[0] == 1_000 and frames.equity.shape == (252, 1_000)
    assert ns["sweep"].to_pandas().summary.index.names == ["fast", "world"]
    dated = real.to_pandas().equity
    assert isinstance(dated.index, pd.DatetimeIndex) and (dated.index == prices.index[61:]).all()
    assert (pf.value().index == prices.index[60:]).all()
