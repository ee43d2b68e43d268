"""Fixtures for the stressgen.data tests: the committed malformed-CSV corpus and generated Parquet cases.

Parquet cases are written at test time (into a temporary folder) so that no binary files are committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

MALFORMED = Path(__file__).parent / "malformed"


@pytest.fixture(scope="session")
def malformed() -> Path:
    return MALFORMED


def _days(n: int, start: str = "2020-01-02") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n, name="date")


@pytest.fixture(scope="session")
def malformed_parquet(tmp_path_factory) -> Path:
    """Malformed Parquet files, one per case in test_data_malformed.PARQUET_CASES."""
    out = tmp_path_factory.mktemp("malformed_parquet")
    idx = _days(6)
    good = np.linspace(70.0, 75.0, 6)
    pd.DataFrame({"AAPL": good, "MSFT": ["160.1", "158.6", "x", "157.6", "159.0", "160.2"]},
                 index=idx).to_parquet(out / "non_numeric.parquet")
    pd.DataFrame({"AAPL": good, "MSFT": [160.1, 158.6, -3.0, 157.6, 159.0, 160.2]},
                 index=idx).to_parquet(out / "negative.parquet")
    pd.DataFrame({"AAPL": [70.0, np.inf, 71.0, 72.0, 73.0, 74.0], "MSFT": good},
                 index=idx).to_parquet(out / "infinite.parquet")
    pd.DataFrame({"AAPL": good, "MSFT": good},
                 index=idx[[0, 1, 2, 2, 3, 4]]).to_parquet(out / "duplicate_dates.parquet")
    pd.DataFrame({"AAPL": good, "MSFT": np.nan}, index=idx).to_parquet(out / "all_nan.parquet")
    pd.DataFrame({"AAPL": good[:0], "MSFT": good[:0]}, index=idx[:0]).to_parquet(out / "empty.parquet")
    pd.DataFrame({"date": ["2020-01-02", "2020-01-03", "someday", "2020-01-07", "2020-01-08", "2020-01-09"],
                  "AAPL": good}).to_parquet(out / "bad_date.parquet", index=False)
    (out / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file")
    return out


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(name, text)`` writes `text` to a file in a fresh temporary folder and returns its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
