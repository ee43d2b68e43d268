"""Acceptance tests of issue 19: the look-ahead corpus (lookahead_corpus.py) is refused through every entry
point (stressgen.engine.backtest, stressgen.backtest, the CLI), and honest strategies written with plain
jax.numpy idioms, and the built-ins, all pass.

The corpus is checked first on its own (no engine involved): every look-ahead strategy really changes a
traded decision when only later returns change, on the very input the run gives it, and no honest one
does; so an engine that lets one through is at fault, not the corpus.
"""

import functools
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import lookahead_corpus as lc
import numpy as np
import pandas as pd
import pytest
from enginekit import make_scenarios
from typer.testing import CliRunner

import strategies
import stressgen
from stressgen import engine
from stressgen.cli import app
from stressgen.engine import BacktestConfig
from stressgen.errors import LookAheadError, StrategyError
from stressgen.strategy import Rebalance, grid

CORPUS_FILE = Path(lc.__file__)
SMALL_SPEC = Path(__file__).parents[1] / "data" / "specs" / "small.toml"

N_HIST, HORIZON = 100, 60           # 160 rows: row 99 is close 0, row 159 is close 60
LONG_HIST, LONG_HORIZON = 280, 40   # 320 rows: more than 300, and a history longer than 256


@functools.cache
def scenarios(kind: str):
    if kind == "short":
        return make_scenarios(n_worlds=4, horizon=HORIZON, n_assets=3, n_hist=N_HIST, seed=11)
    if kind == "tiny":  # debug mode runs day by day without jit: keep it short
        return make_scenarios(n_worlds=2, horizon=12, n_assets=3, n_hist=40, seed=13)
    assert kind == "long"
    return make_scenarios(n_worlds=4, horizon=LONG_HORIZON, n_assets=3, n_hist=LONG_HIST, seed=12)


def world0(scen) -> jax.Array:
    """The ``[history + horizon, assets]`` rows a vectorized strategy sees in world 0."""
    return jnp.concatenate([jnp.asarray(scen.history, jnp.float32), jnp.asarray(scen.log_returns[0], jnp.float32)])


def _target(strategy, x):
    out = strategy.weights(x)
    w, trade = (out.weights, out.trade) if isinstance(out, Rebalance) else (out, True)
    return jnp.asarray(w, jnp.float32), jnp.broadcast_to(jnp.asarray(trade, bool), x.shape[:1])


def peeking_rows(strategy, x, first_cut: int) -> list[int]:
    """Rows whose weights or trade flag change when every row after a cut is changed, for EVERY cut from
    `first_cut` to the second-to-last row (independent of the engine's proof)."""
    n = x.shape[0]
    cuts = np.arange(first_cut, n - 1)
    rows = jnp.arange(n)[:, None]
    other = -1.3 * x + 0.01 * jnp.sin(0.9 * rows + 0.4 * jnp.arange(x.shape[1])[None, :])
    xs = jnp.where(rows[None] > jnp.asarray(cuts)[:, None, None], other[None], x[None])
    bw, bt = (np.asarray(a) for a in jax.jit(_target)(strategy, x))
    pw, pt = (np.asarray(a) for a in jax.jit(jax.vmap(_target, in_axes=(None, 0)))(strategy, xs))
    changed = (np.abs(pw - bw) > 1e-6 + 1e-5 * np.abs(bw)).any(-1) | (pt != bt)
    changed &= np.arange(n)[None, :] <= cuts[:, None]
    return [int(r) for r in np.flatnonzero(changed.any(0))]


def close_of(row: int, n_hist: int = N_HIST) -> int:
    return row - (n_hist - 1)


# (id, strategy, scenarios, config, expected LookAheadError.first_day or None when several rows peek)
VECTOR_CASES = [
    ("ShiftConcat", lc.ShiftConcat(), "short", BacktestConfig(), None),
    ("RollBack", lc.RollBack(), "short", BacktestConfig(), None),
    ("PadShift", lc.PadShift(), "short", BacktestConfig(), None),
    ("GatherNext", lc.GatherNext(), "short", BacktestConfig(), None),
    ("FullSampleMax", lc.FullSampleMax(), "short", BacktestConfig(), None),
    ("FullSampleZScore", lc.FullSampleZScore(), "short", BacktestConfig(), None),
    ("WholeSampleDemean", lc.WholeSampleDemean(), "short", BacktestConfig(), None),
    ("SuffixSum", lc.SuffixSum(), "short", BacktestConfig(), None),
    ("CentredConvolution", lc.CentredConvolution(), "short", BacktestConfig(), None),
    ("WholeSampleQuantile", lc.WholeSampleQuantile(), "short", BacktestConfig(), None),
    ("WholeSampleRank", lc.WholeSampleRank(), "short", BacktestConfig(), None),
    ("FinalPriceAnchor", lc.FinalPriceAnchor(), "short", BacktestConfig(), None),
    ("FutureCumMax", lc.FutureCumMax(), "short", BacktestConfig(), None),
    ("ReverseScan", lc.ReverseScan(), "short", BacktestConfig(), None),
    ("FFTLowPass", lc.FFTLowPass(), "short", BacktestConfig(), None),
    ("TradeMaskPeek", lc.TradeMaskPeek(), "short", BacktestConfig(), None),
    ("LongInputPeek", lc.LongInputPeek(), "long", BacktestConfig(), None),
    ("LastRowsPeek", lc.LastRowsPeek(), "short", BacktestConfig(), None),
    ("SingleRowPeek", lc.SingleRowPeek(), "short", BacktestConfig(), close_of(N_HIST + HORIZON - 37)),
    ("SingleRowPeek-long", lc.SingleRowPeek(), "long", BacktestConfig(),
     close_of(LONG_HIST + LONG_HORIZON - 37, LONG_HIST)),
    ("SingleRowAt-mid-horizon", lc.SingleRowAt(), "short", BacktestConfig(), close_of(128)),
    ("SingleRowAt-close-minus-1-lag1", lc.SingleRowAt(at=N_HIST - 2), "short", BacktestConfig(lag=1), -1),
    ("SingleRowAt-last-traded-close", lc.SingleRowAt(at=N_HIST + HORIZON - 2), "short", BacktestConfig(),
     HORIZON - 1),
    ("SingleRowPeek-warmup60", lc.SingleRowPeek(), "long", BacktestConfig(warmup=60),
     close_of(60 + LONG_HORIZON - 37, 60)),
    ("HorizonPeek", lc.HorizonPeek(), "short", BacktestConfig(), None),
    ("MixPeek-1.0", lc.MixPeek(peek=1.0), "short", BacktestConfig(), None),
    ("LagOnePeek-lag1", lc.LagOnePeek(), "short", BacktestConfig(lag=1), None),
    ("DebugPeek", lc.DebugPeek(), "short", BacktestConfig(), None),
]


def _class_name(strategy) -> str:
    return type(strategy).__name__


# ------------------------------------------------------------------------ the corpus itself (no engine)


@pytest.mark.parametrize("case", VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_corpus_really_peeks_on_the_runs_own_input(case):
    _, strategy, kind, config, first_day = case
    scen = scenarios(kind)
    if config.warmup is not None:
        scen = scen.replace(history=scen.history[scen.history.shape[0] - config.warmup:])
    n_hist = scen.history.shape[0]
    rows = peeking_rows(strategy, world0(scen), first_cut=n_hist - 1 - config.lag)
    assert rows, "not a look-ahead strategy on this input"
    assert all(close_of(r, n_hist) <= scenarios(kind).horizon - 1 for r in rows)  # traded decisions
    if first_day is not None:
        assert [close_of(r, n_hist) for r in rows] == [first_day]


@pytest.mark.parametrize("strategy", [cls() for cls in lc.HONEST_VECTOR] + [lc.MixPeek(0.0), lc.LongInputPeek()],
                         ids=[cls.__name__ for cls in lc.HONEST_VECTOR] + ["MixPeek-0.0", "LongInputPeek-short"])
def test_honest_corpus_is_really_causal(strategy):
    assert peeking_rows(strategy, world0(scenarios("short")), first_cut=0) == []


# ------------------------------------------------------------------------ vector tier: refused


@pytest.mark.parametrize("case", VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vector_lookahead_is_refused_by_engine_backtest(case):
    _, strategy, kind, config, first_day = case
    with pytest.raises(LookAheadError, match=_class_name(strategy)) as err:
        engine.backtest(strategy, scenarios(kind), config)
    if first_day is not None:
        assert err.value.first_day == first_day


def test_float_peek_is_proven_per_value_not_per_structure():
    scen = scenarios("short")
    engine.backtest(lc.MixPeek(peek=0.0), scen)  # honest at 0.0: proven and run
    with pytest.raises(LookAheadError, match="MixPeek"):
        engine.backtest(lc.MixPeek(peek=1.0), scen)  # the same class and structure, now peeking
    with pytest.raises(LookAheadError, match="MixPeek"):
        stressgen.backtest(lc.MixPeek(peek=1.0), scen)


def test_grid_whose_third_parameter_set_peeks_is_refused():
    g = grid(lc.GridMixPeek(), peek=[0.0, 0.0, 1.0])
    with pytest.raises(LookAheadError, match="GridMixPeek"):
        engine.backtest(g, scenarios("short"))


def test_long_input_peek_passes_short_and_is_refused_long():
    engine.backtest(lc.LongInputPeek(), scenarios("short"))  # 160 rows: honest
    with pytest.raises(LookAheadError, match="LongInputPeek"):
        engine.backtest(lc.LongInputPeek(), scenarios("long"))  # 320 rows: peeks


def test_peek_is_refused_in_debug_mode():
    with pytest.raises(LookAheadError, match="DebugPeek"):
        engine.backtest(lc.DebugPeek(), scenarios("tiny"), debug=True)


@pytest.mark.parametrize("strategy", [lc.ShiftConcat(), lc.SingleRowPeek(), lc.FullSampleZScore()],
                         ids=_class_name)
def test_top_level_backtest_refuses(strategy):
    with pytest.raises(LookAheadError, match=_class_name(strategy)):
        stressgen.backtest(strategy, scenarios("short"))


def _prices_of(scen) -> pd.DataFrame:
    """World 0 of `scen` (history, then its path) as a price DataFrame."""
    r = np.asarray(world0(scen), np.float64)
    p = 50.0 * np.exp(np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)]))
    return pd.DataFrame(p, index=pd.bdate_range("2023-01-02", periods=len(p)), columns=list(scen.assets))


@pytest.mark.parametrize("entry", ["world_metrics", "backtest_prices", "chunked", "one_device"])
def test_other_entry_points_refuse_a_single_row_peek(entry):
    scen, strategy = scenarios("short"), lc.SingleRowPeek()
    with pytest.raises(LookAheadError, match="SingleRowPeek") as err:
        if entry == "world_metrics":
            stressgen.world_metrics(strategy, scen)
        elif entry == "backtest_prices":  # real prices: the first 100 returns warm up, then 60 days
            stressgen.backtest_prices(strategy, _prices_of(scen), warmup=N_HIST)
        else:
            engine.backtest(strategy, scen, chunk_size=2 if entry == "chunked" else None,
                            devices=1 if entry == "one_device" else None)
    assert err.value.first_day == close_of(N_HIST + HORIZON - 37)


# ------------------------------------------------------------------------ the CLI


def _spec(tmp_path: Path, strategies_toml: str) -> Path:
    """small.toml with its strategies replaced; the corpus copied next to it as peeks.py."""
    shutil.copy(CORPUS_FILE, tmp_path / "peeks.py")
    text = SMALL_SPEC.read_text()
    head, _, rest = text.partition("[[strategies]]")
    tail = rest[rest.index("[costs]"):]
    spec = tmp_path / "spec.toml"
    spec.write_text(head + strategies_toml + "\n" + tail)
    return spec


def _run_cli(spec: Path, out: Path):
    return CliRunner().invoke(app, ["run", str(spec), "--worlds", "8", "--out", str(out), "--quiet"])


@pytest.mark.parametrize("name", ["ShiftConcat", "LongInputPeek"])
def test_cli_refuses_a_peeking_plugin(tmp_path, name):
    # small.toml carries 300 history days and a 20-day horizon: 320 rows, so LongInputPeek peeks there
    spec = _spec(tmp_path, f'[[strategies]]\nplugin = "peeks.py:{name}"\n')
    result = _run_cli(spec, tmp_path / "out")
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert name in result.stderr and "look" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_refuses_the_same_plugin_listed_twice_honest_then_peeking(tmp_path):
    spec = _spec(tmp_path, '[[strategies]]\nplugin = "peeks.py:MixPeek"\nname = "honest"\nparams = { peek = 0.0 }\n\n'
                           '[[strategies]]\nplugin = "peeks.py:MixPeek"\nname = "peeking"\nparams = { peek = 1.0 }\n')
    result = _run_cli(spec, tmp_path / "out")
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert "MixPeek" in result.stderr and "look" in result.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ step tier


def test_obs_has_no_tape_to_read_tomorrow_from():
    # an error, not a silent read of the world's future rows
    with pytest.raises((AttributeError, StrategyError), match="tape"):
        engine.backtest(lc.TapePeek(), scenarios("short"))


@pytest.mark.parametrize("cls", [lc.NegativeReturnLag, lc.NegativePriceLag], ids=lambda c: c.__name__)
def test_concrete_negative_lag_is_refused(cls):
    with pytest.raises(StrategyError, match="(?i)negative lag"):
        engine.backtest(cls(), scenarios("short"))


def test_traced_negative_lag_reads_today_not_tomorrow():
    scen = scenarios("short")
    res = engine.backtest(grid(lc.TracedLag(), k=[-1, 0, 1]), scen)
    eq = np.asarray(res.equity)
    np.testing.assert_array_equal(eq[0], eq[1])      # k = -1 is clamped at today
    assert not np.allclose(eq[2], eq[1])             # and k matters: k = 1 reads yesterday
    one = np.asarray(engine.backtest(lc.TracedLag(k=-1), scen).equity)
    np.testing.assert_array_equal(one, np.asarray(engine.backtest(lc.TracedLag(k=0), scen).equity))


def test_every_public_obs_attribute_is_causal():
    """World j equals world 0 up to close T_j and differs after it: equity up to close T_j (which the
    decisions up to close T_j - 1 make) must be the same."""
    scen = scenarios("short")
    base = np.asarray(scen.log_returns[0])
    cuts = (3, 25, HORIZON - 2)
    worlds = [base]
    for t in cuts:
        w = base.copy()
        w[t:] = -1.3 * w[t:] + 0.01
        worlds.append(w)
    scen = scen.replace(log_returns=jnp.asarray(np.stack(worlds), jnp.float32))
    eq = np.asarray(engine.backtest(lc.EveryAttribute(), scen).equity)
    for j, t in enumerate(cuts, start=1):
        np.testing.assert_allclose(eq[j, :t], eq[0, :t], rtol=1e-6, err_msg=f"cut after close {t}")
        assert not np.allclose(eq[j, t:], eq[0, t:])  # the later returns did change


# ------------------------------------------------------------------------ honest strategies pass


@pytest.mark.parametrize("cls", lc.HONEST_VECTOR, ids=lambda c: c.__name__)
def test_honest_vector_strategy_passes(cls):
    res = engine.backtest(cls(), scenarios("short"))
    assert np.isfinite(np.asarray(res.equity)).all()


def test_honest_strategies_pass_as_grid_with_lag_debug_and_long_history():
    engine.backtest(grid(lc.EwmScan(), alpha=[0.1, 0.2, 0.4]), scenarios("short"))
    engine.backtest(lc.CausalConvolution(), scenarios("short"), BacktestConfig(lag=2))
    engine.backtest(lc.ShiftPlusOne(), scenarios("tiny"), debug=True)
    engine.backtest(lc.ExpandingMean(), scenarios("long"))
    stressgen.backtest(lc.RebalanceEvery5(), scenarios("long"), BacktestConfig(lag=1))


@pytest.mark.parametrize("name", sorted(strategies.BUILTIN))
def test_builtin_strategy_passes(name):
    res = engine.backtest(strategies.BUILTIN[name](), scenarios("short"))
    assert np.isfinite(np.asarray(res.equity)).all()
