"""The reverse stage of `stressgen run` (a spec's [reverse], docs/reverse.md): on a tiny garch spec the stage's
numbers equal `reverse_stress`'s for the same seed, the report has a "Reverse stress" section naming the
strategy, summary.json validates and carries the paths' summaries, and the results directory stores every
reverse result exactly (an optimised result included) so `stressgen report DIR` re-renders the section."""

import dataclasses
import json
from pathlib import Path

import jax.numpy as jnp
import jsonschema
import numpy as np
import pytest
from safetensors.numpy import load as load_tensors

from stressgen import rng
from stressgen.pipeline import run
from stressgen.report import _store
from stressgen.report.load import load_results
from stressgen.report.render import render_html
from stressgen.report.summary import SUMMARY_SCHEMA, build_summary
from stressgen.report.writers import render_outputs, write_outputs
from stressgen.results import SUMMARY_SCHEMA_VERSION
from stressgen.spec import load_spec
from stressgen.studies.reverse import ReverseConfig, reverse_stress
from stressgen.studies.reverse_opt import gaussian_noise_model, most_likely_paths

SPEC = Path(__file__).parent / "data" / "specs" / "reverse_small.toml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def result(spec):
    return run(spec)


@pytest.fixture(scope="module")
def with_optimised(result):
    """The run's result with a (small, real) optimised search attached, to round-trip every field."""
    model = gaussian_noise_model(np.zeros(3), np.eye(3) * 1e-4, result.horizon)
    opt = most_likely_paths(model, lambda r: -jnp.sum(r) / 3.0, 0.06, key=rng.root(0), starts=4, steps=100)
    return dataclasses.replace(result, reverse=(dataclasses.replace(result.reverse[0], optimised=opt),))


def _same(a, b, where="result"):
    """Exact equality of nested dataclasses, tuples and arrays (dtype, shape and bits; NaN equal to NaN)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert type(b) is float and (a == b or (np.isnan(a) and np.isnan(b))), where
    else:
        assert type(a) is type(b) and a == b, where


def test_stage_selects_and_resolves(spec, result):
    assert "reverse" in result.timings
    (r,) = result.reverse
    assert r.config == ReverseConfig(strategy="hold", loss=0.06, horizon=24, n_worlds=128, k=3, method="empirical")
    assert r.n_losing > 0 and len(r.most_plausible) == 3 and len(r.worst) == 3
    best = r.most_plausible[0]
    assert best.weights.shape == (24, 3) and best.equity.shape == (25,)
    assert best.loss >= 0.06
    assert np.isclose(best.contributions.total, best.equity[-1] - 1.0, atol=2e-5)


def test_stage_equals_reverse_stress(spec, result):
    alone = reverse_stress(spec, ReverseConfig(strategy="hold", loss=0.06, k=3))
    staged = result.reverse[0]
    assert alone.config == staged.config
    assert alone.probability == staged.probability and alone.n_losing == staged.n_losing
    assert alone.tilt == staged.tilt and alone.ess_kish == staged.ess_kish
    np.testing.assert_array_equal(alone.mean_path, staged.mean_path)
    for a, b in zip(alone.most_plausible + alone.worst, staged.most_plausible + staged.worst, strict=True):
        assert (a.world, a.loss, a.plausibility, a.percentile) == (b.world, b.loss, b.plausibility, b.percentile)
        np.testing.assert_array_equal(a.path, b.path)
        np.testing.assert_array_equal(a.weights, b.weights)


def test_report_section_names_the_strategy(with_optimised):
    html = render_html(with_optimised)
    assert "Reverse stress" in html and "hold: loss of 6" in html
    assert 'id="fig-rev0-path"' in html and 'id="fig-rev0-drivers"' in html
    assert "Optimised path" in html and "Mahalanobis" in html and "worst" in html


def test_no_section_without_reverse(result):
    plain = dataclasses.replace(result, reverse=())
    assert "Reverse stress" not in render_html(plain)
    assert build_summary(plain)["reverse"] == []


def test_summary_validates_and_carries_the_paths(with_optimised):
    summary = json.loads(json.dumps(build_summary(with_optimised), allow_nan=False))
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert summary["schema_version"] == SUMMARY_SCHEMA_VERSION == "1.4"
    (entry,) = summary["reverse"]
    r = with_optimised.reverse[0]
    assert entry["strategy"] == "hold" and entry["loss"] == 0.06 and entry["method"] == "empirical"
    assert entry["probability"]["value"] == pytest.approx(r.probability.value)
    assert [w["world"] for w in entry["most_plausible"]] == [w.world for w in r.most_plausible]
    assert [w["world"] for w in entry["worst"]] == [w.world for w in r.worst]
    top = entry["most_plausible"][0]
    assert top["percentile"] == pytest.approx(r.most_plausible[0].percentile) and len(top["drivers"]) == 3
    assert top["drivers"][0]["contribution"] == pytest.approx(r.most_plausible[0].contributions.top(1)[0][1])
    assert entry["optimised"]["starts"] == 4 and entry["optimised"]["exact"] is False


def test_store_round_trip_is_exact(with_optimised):
    tensors = load_tensors(render_outputs(with_optimised)[_store.ARRAYS_FILE]).__getitem__
    _, manifest = _store.encode(with_optimised)
    manifest = json.loads(_store.manifest_json(manifest))
    metrics = _store.metrics_frame(with_optimised)
    _same(with_optimised.reverse, _store.decode(manifest, tensors, metrics).reverse, "reverse")
    old = {k: v for k, v in manifest.items() if k != "reverse"}  # written before reverse results were kept
    assert _store.decode(old, tensors, metrics).reverse == ()


def test_results_directory_rerenders_the_section(result, tmp_path):
    write_outputs(result, tmp_path)
    loaded = load_results(tmp_path)
    _same(result.reverse, loaded.reverse, "reverse")
    assert "Reverse stress" in render_html(loaded)
    assert json.loads((tmp_path / "summary.json").read_text())["reverse"][0]["strategy"] == "hold"
