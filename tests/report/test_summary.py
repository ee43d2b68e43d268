"""summary.json: strict JSON, valid against the documented schema, numbers equal to the result's tables."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from stressgen.report import SUMMARY_SCHEMA, build_summary, write_outputs
from stressgen.results import SUMMARY_SCHEMA_VERSION


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def summary(run_result, tmp_path_factory):
    out = tmp_path_factory.mktemp("summary")
    write_outputs(run_result, out)
    return _strict((out / "summary.json").read_text())


def test_validates_against_schema(summary):
    jsonschema.Draft202012Validator.check_schema(SUMMARY_SCHEMA)
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    assert summary["schema_version"] == SUMMARY_SCHEMA_VERSION


def test_schema_rejects_a_broken_summary(summary):
    validator = jsonschema.Draft202012Validator(SUMMARY_SCHEMA)
    bad = json.loads(json.dumps(summary))
    del bad["strategies"][0]["summary"]
    assert not validator.is_valid(bad)
    bad = json.loads(json.dumps(summary))
    bad["schema_version"] = "0.9"
    assert not validator.is_valid(bad)


def test_numbers_match_the_result(summary, run_result):
    assert summary["run"]["n_worlds"] == run_result.n_worlds
    for got, s in zip(summary["strategies"], run_result.strategies):
        assert got["name"] == s.name and got["params"] == s.params
        for (metric, stat), row in s.aggregate.summary.iterrows():
            cell = got["summary"][metric][stat]
            for col in ("value", "ci_low", "ci_high"):
                want = float(row[col])
                assert cell[col] is None if not math.isfinite(want) else cell[col] == want
        for event, row in s.aggregate.probabilities.iterrows():
            assert got["probabilities"][event]["value"] == float(row["value"])
        assert got["worst_worlds"] == list(s.worst_worlds)
        assert got["real_rank"]["total_return"] == s.real_rank["total_return"]
    np.testing.assert_array_equal(np.array(summary["head_to_head"]["p_row_beats_column"]),
                                  run_result.head_to_head.to_numpy())
    assert summary["fidelity"]["failures"] == []


def test_non_finite_becomes_null(run_result):
    s0 = run_result.strategies[0]
    s = dataclasses.replace(s0, real={**s0.real, "sharpe": float("nan"), "calmar": float("inf")})
    out = build_summary(dataclasses.replace(run_result, strategies=[s]))
    assert out["strategies"][0]["real"]["sharpe"] is None
    assert out["strategies"][0]["real"]["calmar"] is None
    json.dumps(out, allow_nan=False)


def test_schema_is_documented():
    """docs/report.md names every top-level key and the current schema version."""
    doc = (Path(__file__).parents[2] / "docs" / "report.md").read_text()
    for key in SUMMARY_SCHEMA["properties"]:
        assert re.search(rf"`{key}`", doc), key
    assert SUMMARY_SCHEMA_VERSION in doc
