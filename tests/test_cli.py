"""The CLI through typer's CliRunner: exit codes, one-line errors on stderr, --debug tracebacks, and the
run / fit / sample / report commands on a small spec."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from stressgen import generators, pipeline, rng
from stressgen.cli import app
from stressgen.spec import load_spec

SPECS = Path(__file__).parent / "data" / "specs"
SMALL = SPECS / "small.toml"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_error(result, code=1):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stressgen: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("what, name", [("generators", "garch"), ("strategies", "ma_crossover"),
                                        ("datasets", "sp500-20")])
def test_list(what, name):
    result = invoke("list", what)
    assert result.exit_code == 0 and name in result.stdout


def test_list_strategies_shows_parameters_and_defaults():
    result = invoke("list", "strategies")
    assert result.exit_code == 0 and "parameters (defaults)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "ma_crossover" in line)
    assert "fast=10" in row and "slow=50" in row


def test_data_options_are_checked_before_any_compute(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the pipeline ran")

    monkeypatch.setattr(pipeline, "run", never)
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL.read_text().replace('dataset = "sp500-20"', 'file = "p.csv"\nedges = "drop"'))
    line = _one_line_error(invoke("run", spec, "--quiet"))
    assert "data.edges: 'drop' is not valid" in line and "'trim'" in line


def test_list_unknown_is_a_usage_error():
    assert invoke("list", "models").exit_code == 2


def test_bad_spec_gives_one_line(tmp_path):
    bad = SPECS / "bad" / "unknown_param.toml"
    line = _one_line_error(invoke("run", bad, "--out", tmp_path / "out"))
    assert str(bad) in line and "strategies[0].params.evry" in line
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback():
    result = invoke("run", SPECS / "bad" / "unknown_param.toml", "--debug")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr and "ConfigError" in result.stderr


def test_missing_spec_and_bad_override(tmp_path):
    assert "spec file not found" in _one_line_error(invoke("run", tmp_path / "none.toml"))
    assert "command line: simulation.worlds" in _one_line_error(invoke("run", SMALL, "--worlds", "0"))


def test_internal_error_exit_code(monkeypatch):
    def boom(spec, progress=None, **_):
        raise RuntimeError("unexpected\nstate")

    monkeypatch.setattr(pipeline, "run", boom)
    line = _one_line_error(invoke("run", SMALL, "--quiet"), code=3)
    assert "internal error: RuntimeError: unexpected state (rerun with --debug)" in line


def test_failing_strategy_leaves_no_results(tmp_path):
    plugin = tmp_path / "nan.py"
    plugin.write_text("import dataclasses\nimport jax.numpy as jnp\nfrom stressgen.strategy import StepStrategy\n"
                      "@dataclasses.dataclass(frozen=True)\nclass Nan(StepStrategy):\n"
                      "    def init(self, n_assets):\n        return ()\n"
                      "    def step(self, state, obs):\n        return state, jnp.full(obs.log_return.shape, jnp.nan)\n")
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL.read_text().replace('plugin = "equal_weight"', 'plugin = "nan.py:Nan"')
                    .replace("params = { every = 5 }\n", "", 1))
    line = _one_line_error(invoke("run", spec, "--out", tmp_path / "out", "--quiet"))
    assert "NaN" in line
    assert "_stressgen_plugin_" not in line and "nan.py:Nan" in line  # the file the user wrote, not a hash
    assert not (tmp_path / "out").exists()


def test_run_then_report(tmp_path):
    out = tmp_path / "results"
    result = invoke("run", SMALL, "--worlds", 64, "--seed", 1, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    # a summary table, one row per strategy (parameter set), before the report path
    assert lines[0].split()[:3] == ["strategy", "plugin", "mean"] and "VaR 95%" in lines[0]
    assert [line.split()[0] for line in lines[2:5]] == ["equal_weight", "ma_crossover[fast=5]",
                                                        "ma_crossover[fast=10]"]
    assert all(line.split()[1] in ("equal_weight", "ma_crossover") and line.split()[2].endswith("%")
               for line in lines[2:5])
    for name in ("report.html", "summary.json", "metrics.parquet"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["run"]["seed"], summary["run"]["n_worlds"]) == (1, 64)  # the overrides went through
    before = (out / "summary.json").read_text()
    again = invoke("report", out)
    assert again.exit_code == 0, again.stderr
    assert (out / "summary.json").read_text() == before
    # no temporary files left; the re-render replaced the run's version (one set in the store)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".stressgen"]
    assert len(list((out / ".stressgen" / "versions").iterdir())) == 1


def test_report_of_a_missing_directory(tmp_path):
    assert "results file not found" in _one_line_error(invoke("report", tmp_path))


def test_fit_then_sample_from_the_saved_model(tmp_path):
    model = tmp_path / "model"
    result = invoke("fit", SMALL, "-o", model, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (model / "model.json").is_file() and (model / "arrays.safetensors").is_file()
    spec = tmp_path / "from_model.toml"
    text = SMALL.read_text().replace('family = "bootstrap"\nmean_block = 10\nhistory_days = 300',
                                     f'model = "{model}"')
    spec.write_text(text)
    worlds = tmp_path / "worlds.safetensors"
    result = invoke("sample", spec, "-o", worlds, "--worlds", 50, "--quiet")
    assert result.exit_code == 0, result.stderr
    tensors = load_file(str(worlds))
    # the same worlds as drawing directly from a fresh fit with the spec's sample key
    s = load_spec(SMALL)
    gen = generators.get("bootstrap")
    root = rng.root(s.simulation.seed)
    fitted = gen.fit(s.data.load(), key=rng.stream(root, rng.FIT), config=s.generator.config)
    want = gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=50, horizon=20)
    assert np.array_equal(tensors["log_returns"], np.asarray(want.log_returns))
    assert np.array_equal(tensors["history"], np.asarray(want.history))
    from safetensors import safe_open
    with safe_open(str(worlds), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == pipeline.WORLDS_FORMAT and json.loads(meta["assets"]) == ["AAPL", "JPM", "XOM"]
    assert meta["params_digest"] == fitted.digest


def test_model_with_other_assets_is_refused(tmp_path):
    model = tmp_path / "model"
    assert invoke("fit", SMALL, "-o", model, "--quiet").exit_code == 0
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL.read_text().replace('family = "bootstrap"\nmean_block = 10\nhistory_days = 300',
                                              f'model = "{model}"').replace('"XOM"', '"WMT"'))
    line = _one_line_error(invoke("sample", spec, "-o", tmp_path / "w.safetensors", "--quiet"))
    assert "was fitted on assets" in line and "WMT" in line


def test_sample_needs_a_safetensors_name(tmp_path):
    assert "*.safetensors" in _one_line_error(invoke("sample", SMALL, "-o", tmp_path / "w.npy", "--quiet"))


@pytest.mark.parametrize("make", ["file", "under_file"])
def test_output_dir_is_checked_before_any_compute(tmp_path, monkeypatch, make):
    def never(*args, **kwargs):
        raise AssertionError("the pipeline ran")

    monkeypatch.setattr(pipeline, "run", never)
    (tmp_path / "taken").write_text("a file")
    out = tmp_path / "taken" if make == "file" else tmp_path / "taken" / "sub"
    line = _one_line_error(invoke("run", SMALL, "--quiet", "--out", out))
    assert str(tmp_path / "taken") in line and "is a file" in line
