"""The ``[data]`` section of a run spec: which market history, and how to read a user's price file.

Kept apart from `stressgen.spec` so that the loader's options (`stressgen.data.read_prices`) are listed and
checked in one place: every key is validated when the spec is loaded, before any compute, and a bad value
raises `ConfigError` naming ``[data].key`` and what was expected (the loader's own errors suggest these
keys, e.g. "or edges='trim'", so a spec must accept exactly the names the loader uses).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import data
from .data._parse import LAYOUTS
from .data._read import check_delimiter
from .data._validate import EDGES, GAPS
from .errors import ConfigError
from .generators._base import config_from_dict, did_you_mean

__all__ = ["DataSpec", "parse_data", "resolve_path", "FILE_OPTIONS"]

# read_prices options that only make sense for a user's file (bundled sets are already clean and fixed).
FILE_OPTIONS = ("layout", "date_column", "asset_column", "price_column", "gaps", "edges", "min_obs",
                "date_format", "delimiter")


def _choice(name: str, value: str, valid: tuple[str, ...], meaning: str) -> None:
    if value not in valid:
        raise ConfigError(f"{name}: {value!r} is not valid; expected one of {', '.join(map(repr, valid))} "
                          f"({meaning})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Market history: a bundled `dataset` or a price `file` (absolute once loaded), dates and assets.

    `suspects`: likely bad prints and unadjusted splits are always listed; ``"repair"`` also fixes them.
    The other fields are `stressgen.data.read_prices` options for a `file` (see there): `layout`,
    `date_column`, `asset_column`, `price_column`, `gaps` ("raise" | "ffill"), `edges` ("raise" | "trim"),
    `min_obs`, `date_format` (strptime, e.g. "%d/%m/%Y") and `delimiter` (one character; default: guessed,
    and a guess other than ',' is listed in the market's repairs).
    """

    dataset: str | None = None
    file: str | None = None
    start: str | None = None
    end: str | None = None
    assets: tuple[str, ...] | None = None
    suspects: str = "report"
    layout: str = "auto"
    date_column: str | None = None
    asset_column: str | None = None
    price_column: str | None = None
    gaps: str = "raise"
    edges: str = "raise"
    min_obs: int = 2
    date_format: str | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.file is None):
            raise ConfigError("dataset: give exactly one of dataset (bundled: "
                              f"{', '.join(data.datasets())}) or file (a CSV/Parquet price file)")
        if self.dataset is not None and self.dataset not in data.datasets():
            hint = did_you_mean(self.dataset, data.datasets())
            raise ConfigError(f"dataset: unknown data set {self.dataset!r}{hint}; "
                              f"valid choices: {', '.join(data.datasets())}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise ConfigError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD") from None
        if self.start and self.end and pd.Timestamp(self.start) >= pd.Timestamp(self.end):
            raise ConfigError(f"end: {self.end} is not after start {self.start}")
        if self.assets is not None and (not self.assets or len(set(self.assets)) != len(self.assets)):
            raise ConfigError(f"assets: expected a non-empty list of distinct names, got {list(self.assets)}")
        _choice("suspects", self.suspects, ("report", "repair"), "'report' lists likely bad prints and "
                "unadjusted splits; 'repair' also fixes them, each fix listed")
        self._check_file_options()

    def _check_file_options(self) -> None:
        if self.dataset is not None:
            given = [k for k in FILE_OPTIONS if getattr(self, k) != _DEFAULTS[k]]
            if given:
                raise ConfigError(f"{given[0]}: applies to file = \"...\" only; the bundled data set "
                                  f"{self.dataset!r} is read one fixed way (remove {', '.join(given)})")
            return
        _choice("layout", self.layout, LAYOUTS, "'wide': a date column and one column per asset; 'long': "
                "date, asset, price rows")
        _choice("gaps", self.gaps, GAPS, "'ffill' carries the last price over a missing one, each fill listed "
                "in the repairs")
        _choice("edges", self.edges, EDGES, "'trim' keeps only the dates where every asset has a price, listed "
                "in the repairs")
        if self.layout == "wide" and (self.asset_column or self.price_column):
            raise ConfigError("layout: asset_column and price_column apply to layout = \"long\" (or \"auto\") "
                              "only; got layout = \"wide\"")
        for name in ("date_column", "asset_column", "price_column"):
            if getattr(self, name) == "":
                raise ConfigError(f"{name}: expected a column name from the file's header, got ''")
        if self.min_obs < 2:
            raise ConfigError(f"min_obs: expected an integer >= 2 (returns need two dates), got {self.min_obs}")
        if self.date_format is not None and "%" not in self.date_format:
            raise ConfigError(f"date_format: {self.date_format!r} has no % directive; expected a strptime "
                              "format such as \"%d/%m/%Y\"")
        try:
            check_delimiter(self.delimiter)
        except ConfigError as exc:
            raise ConfigError(f"delimiter: {str(exc).partition(' is not valid; ')[2]}, got "
                              f"{self.delimiter!r}") from None

    def load(self):
        """The `MarketData` this section describes (raises the loaders' typed `DataError`s)."""
        assets = list(self.assets) if self.assets else None
        if self.dataset is not None:
            return data.load(self.dataset, start=self.start, end=self.end, assets=assets,
                             suspects=self.suspects)
        options = {k: getattr(self, k) for k in FILE_OPTIONS}
        # the window is the loader's, not a selection afterwards: the file is validated (frequency, gaps,
        # edges, suspects) on the dates and assets the spec asks for, so a hole outside them does not stop
        # the run (the loaders' errors say "load a window without it")
        return data.read_prices(self.file, suspects=self.suspects, start=self.start, end=self.end, assets=assets,
                                **options)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(DataSpec)}


def resolve_path(path: str, base: Path) -> str:
    """`path` made absolute against `base` (the spec file's directory): the one rule for every spec path."""
    p = Path(path).expanduser()
    return os.path.normpath(p if p.is_absolute() else (base / p).absolute())


def parse_data(raw: dict[str, Any], where: str, base: Path) -> DataSpec:
    """``[data]`` from its TOML table; `file` resolved against `base` and checked to exist."""
    raw = dict(raw)
    for name in ("start", "end"):  # TOML dates arrive as date objects; the spec keeps ISO strings
        if isinstance(raw.get(name), date | datetime):
            raw[name] = raw[name].isoformat()[:10]
    if isinstance(raw.get("assets"), str):
        raw["assets"] = [raw["assets"]]
    spec = config_from_dict(DataSpec, raw, where=where)
    if spec.file is not None:
        path = resolve_path(spec.file, base)
        if not Path(path).is_file():
            raise ConfigError(f"{where}.file: {path} does not exist (paths resolve relative to the spec file)")
        spec = dataclasses.replace(spec, file=path)
    return spec
