"""Typed errors. Each names where the problem is (file, column, row, key) and what was expected.

Every error stressgen raises on purpose derives from `StressgenError`, so a caller (the CLI) can tell a
user mistake from a bug and print a one-line cause.
"""

from __future__ import annotations

__all__ = [
    "StressgenError",
    "ConfigError",
    "UnknownNameError",
]


class StressgenError(Exception):
    """Base of every error that stressgen raises on purpose."""


class ConfigError(StressgenError, ValueError):
    """A configuration value is invalid: names the field, the value and what was expected."""


class UnknownNameError(StressgenError, KeyError):
    """A registry lookup (dataset, generator, strategy) failed: names the valid choices."""

    def __init__(self, kind: str, name: str, choices: list[str] | tuple[str, ...]):
        self.kind, self.name, self.choices = kind, name, tuple(choices)
        super().__init__(f"unknown {kind} {name!r}; valid choices: {', '.join(sorted(self.choices)) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the whole message otherwise
        return self.args[0]


# --- Market data errors (stressgen.data) --------------------------------------------------------------------
# Appended as a block (rather than edited into the list above) so that concurrent additions do not conflict.

__all__ += [
    "DataError",
    "DataFileError", "DataFileNotFoundError", "UnsupportedFormatError", "EmptyFileError",
    "MalformedFileError",
    "ColumnError", "MissingColumnError", "DuplicateColumnError", "LayoutError", "EmptyColumnError",
    "UnknownAssetError",
    "DateError", "DateParseError", "DuplicateDateError", "UnsortedDatesError",
    "FrequencyError", "MixedFrequencyError",
    "PriceError", "NonNumericPriceError", "NonPositivePriceError", "InfinitePriceError",
    "MissingPriceError", "InteriorGapError", "EdgeGapError", "MissingValueError",
    "InsufficientHistoryError", "SplitError", "ZeroVarianceError",
]


class DataError(StressgenError, ValueError):
    """Market data cannot be used as given. Says where (file, column, row, date) and what was expected.

    Attributes:
        path: the file (or bundled data set name) the problem is in, or None.
        column: the column (asset or date column) the problem is in, or None.
        row: 1-based data row (the header is not counted), or None when the problem is not in one row.
        line: 1-based line of a text file (the header is line 1), or None (Parquet, in-memory data).
        date: the date of the row, as an ISO string, when known.
        expected: what a valid value would have been.
    """

    def __init__(self, problem: str, *, path: object = None, column: object = None, row: int | None = None,
                 line: int | None = None, date: object = None, expected: str | None = None,
                 hint: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.column = None if column is None else str(column)
        self.row = None if row is None else int(row)
        self.line = None if line is None else int(line)
        self.date = None if date is None else str(date)
        self.expected = expected
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.line is not None:
            where.append(f"line {self.line}" + (f" (data row {self.row})" if self.row is not None else ""))
        elif self.row is not None:
            where.append(f"data row {self.row} (1-based, header not counted)")
        if self.date is not None:
            where.append(f"date {self.date}")
        message = f"{', '.join(where)}: {problem}" if where else problem
        if expected:
            message += f"; expected {expected}"
        if hint:
            message += f". {hint}"
        super().__init__(message)

    def __str__(self) -> str:  # a KeyError subclass would quote the whole message otherwise
        return str(self.args[0]) if self.args else ""


class DataFileError(DataError):
    """The file itself cannot be read: missing, wrong format, empty or not parseable."""


class DataFileNotFoundError(DataFileError, FileNotFoundError):
    """The file does not exist (also a FileNotFoundError, so `except OSError` keeps working)."""


class UnsupportedFormatError(DataFileError):
    """The file extension is not one stressgen reads (.csv, .csv.gz, .parquet)."""


class EmptyFileError(DataFileError):
    """The file has no header or no data rows."""


class MalformedFileError(DataFileError):
    """The file could not be parsed as CSV or Parquet (ragged rows, bad encoding, corrupt compression)."""


class ColumnError(DataError):
    """A column is missing, duplicated, unnamed, or cannot play the role asked of it."""


class MissingColumnError(ColumnError):
    """A column named by the caller is not in the file."""


class DuplicateColumnError(ColumnError):
    """Two columns (assets) have the same name."""


class LayoutError(ColumnError):
    """The file does not fit the wide or long layout (which columns hold dates, assets, prices)."""


class EmptyColumnError(ColumnError):
    """An asset column has no price at all (in the file or in the selected window)."""


class UnknownAssetError(ColumnError, KeyError):
    """An asked-for asset is not in the data; `choices` holds the valid names."""

    def __init__(self, problem: str, *, choices: tuple[str, ...] = (), **where):
        self.choices = tuple(choices)
        super().__init__(problem, **where)


class DateError(DataError):
    """The date column is unusable: unparseable, repeated, out of order, or of no supported frequency."""


class DateParseError(DateError):
    """A date cell is empty or cannot be parsed as a date."""


class DuplicateDateError(DateError):
    """The same date appears twice (for the same asset, in a long file)."""


class UnsortedDatesError(DateError):
    """Dates go backwards."""


class FrequencyError(DateError):
    """The spacing of dates is not business-daily, daily, weekly or monthly, or has an irregular gap."""


class MixedFrequencyError(FrequencyError):
    """The spacing of dates changes regime part way through (e.g. daily rows, then monthly rows)."""


class PriceError(DataError):
    """A price cell is not a finite positive number."""


class NonNumericPriceError(PriceError):
    """A price cell is not a number."""


class NonPositivePriceError(PriceError):
    """A price is zero or negative (log returns need prices > 0)."""


class InfinitePriceError(PriceError):
    """A price is +inf or -inf."""


class MissingPriceError(DataError):
    """Prices are missing where the chosen policy does not allow it."""


class InteriorGapError(MissingPriceError):
    """A price is missing between an asset's first and last price (gaps='raise')."""


class EdgeGapError(MissingPriceError):
    """An asset starts later or ends earlier than the others (edges='raise')."""


class MissingValueError(DataError):
    """A required non-price cell (e.g. the asset name in a long file) is empty."""


class InsufficientHistoryError(DataError):
    """Fewer observations than asked for (after date selection and trimming)."""


class SplitError(DataError):
    """A chronological split was asked for with invalid arguments or would leave one side empty."""


class ZeroVarianceError(DataError):
    """A column has zero variance, so it cannot be standardized."""


__all__ += ["StrategyError", "LookAheadError", "PluginLoadError"]


class StrategyError(StressgenError, ValueError):
    """A strategy plugin broke its contract (bad shape, NaN weights, leverage beyond the cap, not a frozen
    dataclass): names the strategy and what was wrong."""

    def __init__(self, strategy: str, problem: str):
        self.strategy, self.problem = strategy, problem
        super().__init__(f"strategy {strategy}: {problem}")


class LookAheadError(StrategyError):
    """A vectorized strategy's weights up to day t changed when only returns after t were changed."""

    def __init__(self, strategy: str, first_day: int, detail: str):
        self.first_day = first_day
        super().__init__(strategy, f"looks ahead: its weights on day {first_day} changed when only later "
                                   f"returns were changed ({detail}); use returns up to each row only")


class PluginLoadError(StressgenError, ImportError):
    """A strategy reference (`file.py:Class`, `module:attr`, built-in or entry-point name) could not be loaded."""


# --- Model files and persistence (stressgen.persist) ---------------------------------------------------------
__all__ += ["ModelFileError", "UnsavableGeneratorError"]


class ModelFileError(DataError):
    """A saved model directory cannot be loaded: missing, foreign, corrupt, truncated or mismatched files.

    Loading never executes code, so a file that is not our JSON + safetensors format is refused as such.
    """


class UnsavableGeneratorError(StressgenError, TypeError):
    """The generator family does not implement `export_fitted`/`restore_fitted`, so it cannot be saved."""


# --- Plausibility gate (stressgen.metrics.plausibility, [report] strict) -----------------------------------
__all__ += ["ImplausibleWorldsError"]


class ImplausibleWorldsError(StressgenError, ValueError):
    """`[report] strict = true` and the run's worlds failed plausibility checks: raised before any output
    is written. `checks` holds the failed `PlausibilityCheck`s; the message names each (check, asset, value,
    bound, worst world) on one line."""

    def __init__(self, checks, summary: str):
        self.checks = tuple(checks)
        super().__init__(f"{summary} ([report] strict = true: no report written)")
