"""Plugin mistakes give typed errors (issue 19, point 6): a `StrategyError` naming the strategy as
``file.py:Class``, the line of the plugin's code (or where its method is defined) and the fix; in the CLI,
exit 1 and never "internal error"."""

import dataclasses
import re
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from enginekit import make_scenarios
from stressgen.cli import app
from stressgen.engine import backtest
from stressgen.errors import StrategyError
from stressgen.plugins import load_strategy
from stressgen.strategy import StepStrategy, grid, strategy_name

PLUGIN = textwrap.dedent('''\
    import dataclasses

    import jax.numpy as jnp
    import numpy as np
    import pandas as pd

    from stressgen.strategy import StepStrategy, VectorStrategy


    @dataclasses.dataclass(frozen=True)
    class IfOnField(StepStrategy):
        level: float = 0.5

        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            if self.level > 0:  # MARK if-field
                return state, jnp.full(obs.log_return.shape, 0.1)
            return state, jnp.zeros(obs.log_return.shape)


    @dataclasses.dataclass(frozen=True)
    class IfOnObs(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            w = jnp.full(obs.log_return.shape, 0.1)
            if obs.log_return[0] > 0:  # MARK if-obs
                w = w * 2
            return state, w


    @dataclasses.dataclass(frozen=True)
    class UsesNumpy(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            return state, np.clip(obs.log_return, 0.0, 0.1)  # MARK numpy


    @dataclasses.dataclass(frozen=True)
    class UsesPandas(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            clipped = pd.Series(obs.log_return).clip(0.0, 0.1)  # MARK pandas
            return state, jnp.asarray(clipped.to_numpy())


    @dataclasses.dataclass(frozen=True)
    class PythonFloat(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            x = float(obs.log_return[0])  # MARK float
            return state, jnp.full(obs.log_return.shape, x)


    @dataclasses.dataclass(frozen=True)
    class NoReturn(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK no-return
            jnp.zeros(obs.log_return.shape)


    @dataclasses.dataclass(frozen=True)
    class NoneWeights(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK none-weights
            return state, None


    @dataclasses.dataclass(frozen=True)
    class WeightsOnly(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK weights-only
            return jnp.full(obs.log_return.shape, 0.1)


    @dataclasses.dataclass(frozen=True)
    class ComplexWeights(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK complex
            return state, jnp.full(obs.log_return.shape, 0.1) + 0j


    @dataclasses.dataclass(frozen=True)
    class BoolWeights(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK bool
            return state, obs.log_return > 0


    @dataclasses.dataclass(frozen=True)
    class NanWeights(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # MARK nan
            return state, jnp.full(obs.log_return.shape, 0.1) / (obs.t - obs.t)


    @dataclasses.dataclass(frozen=True)
    class Typo(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            return state, obs.log_retrun * 0.0  # MARK typo


    @dataclasses.dataclass(frozen=True)
    class NoStep(StepStrategy):
        def init(self, n_assets):
            return ()


    @dataclasses.dataclass(frozen=True)
    class VectorIf(VectorStrategy):
        level: float = 0.5

        def weights(self, x):
            if self.level > 0:  # MARK vector-if
                return x * 0.0 + 0.1
            return x * 0.0


    @dataclasses.dataclass(frozen=True)
    class VectorNone(VectorStrategy):
        level: float = 0.5

        def weights(self, x):  # MARK vector-none
            x * self.level
''')


def line_of(mark: str) -> int:
    """1-based line of the plugin's line tagged ``# MARK <mark>``."""
    [line] = [i for i, text in enumerate(PLUGIN.splitlines(), 1) if text.endswith(f"# MARK {mark}")]
    return line


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "plug.py"
    path.write_text(PLUGIN)
    return lambda cls: load_strategy(f"{path}:{cls}")


@pytest.fixture(scope="module")
def tiny():
    return make_scenarios(n_worlds=2, horizon=6, n_assets=3, n_hist=8)


def refused(plugin, tiny, cls, **kwargs) -> str:
    with pytest.raises(StrategyError) as err:
        backtest(plugin(cls)(), tiny, **kwargs)
    message = str(err.value)
    assert err.value.strategy == f"plug.py:{cls}" and f"strategy plug.py:{cls}:" in message
    assert "_stressgen_plugin_" not in message
    return message


def test_plugin_classes_are_named_after_their_file(plugin):
    assert strategy_name(plugin("IfOnField")()) == "plug.py:IfOnField"
    assert strategy_name(grid(plugin("IfOnField")(), level=[0.1, 0.2])) == "plug.py:IfOnField"


def test_python_if_on_a_traced_field_says_declare_it_static(plugin, tiny):
    message = refused(plugin, tiny, "IfOnField")
    assert f"plug.py:{line_of('if-field')}" in message and "`if self.level > 0:`" in message
    assert "declare the field static (level: float = static(0.5)) or use jnp.where" in message


def test_python_if_on_an_observation_says_jnp_where(plugin, tiny):
    with pytest.raises(StrategyError) as err:
        backtest(plugin("IfOnObs")(), tiny)
    message = str(err.value)
    assert f"plug.py:{line_of('if-obs')}" in message and "jnp.where" in message
    assert isinstance(err.value.__cause__, jax.errors.TracerBoolConversionError)  # JAX's explanation, chained


@pytest.mark.parametrize("cls, mark", [("UsesNumpy", "numpy"), ("UsesPandas", "pandas")])
def test_numpy_or_pandas_inside_the_strategy_says_jax_numpy_only(plugin, tiny, cls, mark):
    message = refused(plugin, tiny, cls)
    assert f"plug.py:{line_of(mark)}" in message
    assert "numpy or pandas" in message and "use jax.numpy (jnp) only" in message


def test_python_number_from_a_traced_value(plugin, tiny):
    message = refused(plugin, tiny, "PythonFloat")
    assert f"plug.py:{line_of('float')}" in message and "float()" in message and "jnp" in message


@pytest.mark.parametrize("cls, mark, says", [
    ("NoReturn", "no-return", "step returned None; it must end with `return state, weights`"),
    ("NoneWeights", "none-weights", "step returned None for the weights"),
    ("WeightsOnly", "weights-only", "step returned an array of shape (3,), not the pair (state, weights)"),
    ("ComplexWeights", "complex", "complex weights"),
    ("BoolWeights", "bool", "bool weights (a mask); weights must be floats: jnp.where(mask, weight, 0.0)"),
])
def test_bad_outputs_are_refused_naming_the_method(plugin, tiny, cls, mark, says):
    message = refused(plugin, tiny, cls)
    assert says in message
    assert f"step is defined at plug.py:{line_of(mark)}" in message


def test_non_finite_weights_name_the_close_and_the_fix(plugin, tiny):
    message = refused(plugin, tiny, "NanWeights")
    assert "NaN/inf weights" in message and re.search(r"close t=-?\d+", message)
    assert "jnp.where(den > 0, num / den, 0.0)" in message
    assert f"step is defined at plug.py:{line_of('nan')}" in message


def test_other_exceptions_in_plugin_code_name_the_line(plugin, tiny):
    with pytest.raises(StrategyError) as err:
        backtest(plugin("Typo")(), tiny)
    assert f"raised AttributeError at plug.py:{line_of('typo')}" in str(err.value)
    assert "log_retrun" in str(err.value) and isinstance(err.value.__cause__, AttributeError)


def test_a_missing_method_is_named(plugin, tiny):
    message = refused(plugin, tiny, "NoStep")
    assert "does not define step(); it needs init(self, n_assets) and step(self, state, obs)" in message


def test_debug_mode_gives_the_same_typed_error(plugin, tiny):
    with pytest.raises(StrategyError, match=f"AttributeError at plug.py:{line_of('typo')}"):
        backtest(plugin("Typo")(), tiny, debug=True)


def test_vectorized_strategies_too(plugin, tiny):
    message = refused(plugin, tiny, "VectorIf")
    assert f"plug.py:{line_of('vector-if')}" in message and "static(0.5)" in message
    message = refused(plugin, tiny, "VectorNone")
    assert "weights returned None" in message
    assert f"weights is defined at plug.py:{line_of('vector-none')}" in message


def test_engine_errors_without_plugin_frames_pass_through(tiny):
    """Only exceptions raised in the strategy's own code are translated: an engine bug stays a bug."""
    from enginekit import Constant

    from stressgen.engine import _plugin_errors

    with pytest.raises(RuntimeError, match="engine bug"):
        with _plugin_errors.plugin_errors(Constant()):
            raise RuntimeError("engine bug")


@pytest.mark.parametrize("make, field", [
    (lambda s: s.MACrossover(fast=0), "fast = 0"),
    (lambda s: s.MACrossover(slow=-5), "slow = -5"),
    (lambda s: s.InverseVolatility(window=0), "window = 0"),
    (lambda s: s.TimeSeriesMomentum(skip=-1), "skip = -1"),
    (lambda s: s.EqualWeight(every=0), "every = 0"),
    (lambda s: grid(s.MACrossover(), fast=[5, 0]), "fast values include 0"),
])
def test_builtin_windows_below_one_are_refused_naming_the_field(make, field):
    import strategies

    with pytest.raises(StrategyError, match=re.escape(field)):
        make(strategies)


def test_window_checks_skip_traced_values():
    import strategies

    assert strategies.TimeSeriesMomentum(skip=0).skip == 0
    # inside the engine a field may be a tracer: nothing is known about its value, nothing is checked
    out = jax.jit(lambda fast: dataclasses.replace(strategies.MACrossover(), fast=fast).fast)(np.int32(0))
    assert int(out) == 0


def test_cli_reports_a_plugin_mistake_in_one_line_with_exit_1(tmp_path):
    (tmp_path / "plug.py").write_text(PLUGIN)
    small = Path(__file__).parents[1] / "data" / "specs" / "small.toml"
    spec = tmp_path / "s.toml"
    spec.write_text(small.read_text().replace('plugin = "equal_weight"', 'plugin = "plug.py:IfOnField"')
                    .replace("params = { every = 5 }\n", "", 1))
    result = CliRunner().invoke(app, ["run", str(spec), "--worlds", "8", "--out", str(tmp_path / "out"),
                                      "--quiet"])
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("stressgen: error: strategy plug.py:IfOnField:") and "internal error" not in line
    assert f"plug.py:{line_of('if-field')}" in line and "static(0.5)" in line and "jnp.where" in line
    assert not (tmp_path / "out").exists()


@dataclasses.dataclass(frozen=True)
class ReadsTomorrow(StepStrategy):
    """Asks the observation for a negative lag: tomorrow's return."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        return state, jnp.where(obs.log_return_ago(-1) > 0, 0.2, 0.0)


def test_a_negative_lag_names_the_strategy_and_the_line():
    with pytest.raises(StrategyError, match=r"ReadsTomorrow: obs.log_return_ago\(-1\): a negative lag reads a "
                                            r"later close.* at test_plugin_errors.py:\d+") as err:
        backtest(ReadsTomorrow(), make_scenarios(n_worlds=2))
    assert "(step)" not in str(err.value)
