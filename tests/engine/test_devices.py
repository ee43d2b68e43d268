"""Worlds split over devices: the same bits as on one device, and the explicit CPU-device setup."""

import os
import subprocess
import sys
import threading

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import strategies
from stressgen import devices
from stressgen import BacktestConfig, backtest
from stressgen.engine._run import CPU_CHUNK_PER_DEVICE, chunk_worlds
from stressgen.errors import ConfigError, StrategyError
from stressgen.strategy import StepStrategy, grid

from enginekit import SoftMomentum, make_scenarios

split = pytest.mark.skipif(jax.device_count() < 2, reason="needs two devices of the default backend")


def test_suite_runs_with_two_cpu_devices():
    # tests/conftest.py asks for two, so the split path below is exercised on any CPU machine
    assert len(jax.devices("cpu")) >= 2


@split
@pytest.mark.parametrize("n_worlds", [7, 1])  # 7: the split pads to whole worlds per device; 1: fewer than devices
@pytest.mark.parametrize("strategy", [
    SoftMomentum(),                                            # vectorized tier
    strategies.MACrossover(fast=3, slow=8),                    # step tier
    grid(strategies.InverseVolatility(window=10), every=[1, 5]),  # a grid of a step strategy
], ids=["vector", "step", "grid"])
def test_world_i_is_the_same_on_any_number_of_devices(strategy, n_worlds):
    scen = make_scenarios(n_worlds=n_worlds)
    cfg = BacktestConfig(fee_bps=5, lag=1)
    one = backtest(strategy, scen, cfg, devices=1)
    for kw in ({"devices": 2}, {"devices": 2, "chunk_size": 3}, {"devices": 2, "chunk_size": 4}):
        split = backtest(strategy, scen, cfg, **kw)
        np.testing.assert_array_equal(np.asarray(split.pnl), np.asarray(one.pnl))
        np.testing.assert_array_equal(np.asarray(split.equity), np.asarray(one.equity))
        for k, v in one.summary.items():
            np.testing.assert_array_equal(split.summary[k], v, err_msg=f"{k} {kw}")
    # daily series come back on one device, so they mix with arrays made the usual way
    assert len(split.pnl.devices()) == 1
    _ = split.pnl + jax.numpy.zeros(split.pnl.shape)


@split
def test_probe_sees_worlds_0_and_1_whatever_the_split():
    @dataclasses.dataclass(frozen=True)
    class BadInWorld1(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):  # NaN only where world 1's first return is (the scenario's own value)
            return state, jnp.where(obs.log_price_ago(obs.t - 1)[0] == self.mark, jnp.nan, 0.1) * jnp.ones(
                obs.log_return.shape)

        mark: float = 0.0

    scen = make_scenarios(n_worlds=2)
    mark = float(np.asarray(scen.history).sum(0)[0] + np.asarray(scen.log_returns)[1, 0, 0])
    bad = BadInWorld1(mark=mark)
    for kw in ({"devices": 1}, {"devices": 2}, {"devices": 2, "metrics_only": True}):
        with pytest.raises(StrategyError, match="NaN.*probe world 1"):
            backtest(bad, scen, **kw)


@split
def test_small_inputs_placed_once_and_never_stale():
    # the placement is reused across runs, keyed by value: a changed parameter, cost or history must
    # still change the results, and the cache stays bounded
    from stressgen.engine import _run
    scen = make_scenarios(n_worlds=4)
    other = scen.replace(history=scen.history[::-1])  # same worlds, a different warm-up
    ma = strategies.MACrossover(fast=3, slow=8)
    cheap, dear = BacktestConfig(fee_bps=5), BacktestConfig(fee_bps=20)
    runs = [(ma, scen, cheap), (dataclasses.replace(ma, gross=0.5), scen, cheap), (ma, scen, dear),
            (ma, other, cheap), (ma, scen, cheap)]
    out = [backtest(s, sc, c, devices=2, metrics_only=True).summary for s, sc, c in runs]
    for (s, sc, c), got in zip(runs, out):  # each against a run on one device, which places nothing
        ref = backtest(s, sc, c, devices=1, metrics_only=True).summary
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    for changed in out[1:4]:  # the test's runs do differ from the first
        assert not np.array_equal(changed["total_return"], out[0]["total_return"])
    for i in range(2 * _run._PLACED_MAX):
        backtest(dataclasses.replace(ma, gross=1.0 - i / 100), scen, devices=2, metrics_only=True)
    assert len(_run._PLACED) <= _run._PLACED_MAX


@split
@pytest.mark.parametrize("mode", ["metrics", "full"])
def test_split_program_has_no_cross_device_traffic(mode):
    # every device runs its own worlds start to finish: a collective (e.g. a probe slice taken across the
    # split) makes the devices wait for each other at a rendezvous, which cost ~10% of a 10,000-world run
    from stressgen.engine import _run
    from stressgen.metrics.running import RunningRisk
    from stressgen.metrics import RiskConfig
    scen = make_scenarios(n_worlds=8)
    reducer = RunningRisk(RiskConfig(var_levels=(0.95,)))
    _, _, tier, batched, inputs = _run._prepare(strategies.MACrossover(fast=3, slow=8), scen, BacktestConfig(),
                                                reducer)
    mesh = devices.world_mesh(2)
    text = _run._program.lower(tier, batched, _run._place(jnp.asarray(scen.log_returns), 0, 8, mesh), inputs,
                               lag=0, long_only=True, mode=mode, reducer=reducer, periods_per_year=252,
                               n_devices=2).compile().as_text()
    for op in ("collective-permute", "all-gather", "all-reduce", "all-to-all", "reduce-scatter"):
        assert op not in text, op


def test_default_chunks_are_equal_and_padding_small():
    per = CPU_CHUNK_PER_DEVICE
    assert chunk_worlds(100_000, 2, None, auto=True) == 20_000        # 5 equal chunks, no padding
    assert chunk_worlds(2 * per + 1, 2, None, auto=True) == per + 2   # 2 chunks, not one full + one nearly empty
    assert chunk_worlds(10_000, 2, None, auto=True) == 10_000         # one chunk
    assert chunk_worlds(10_000, 2, None, auto=False) == 10_000
    assert chunk_worlds(7, 2, 3, auto=False) == 4                     # whole worlds per device
    assert chunk_worlds(7, 4, 1, auto=False) == 8                     # the probe's two worlds on device 0
    assert chunk_worlds(1, 2, None, auto=False) == 2


def test_devices_argument_is_checked():
    scen = make_scenarios(n_worlds=2)
    for bad in (0, jax.device_count() + 1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="devices="):
            backtest(SoftMomentum(), scen, devices=bad)
    assert backtest(SoftMomentum(), scen, devices=np.int64(1)).summary["total_return"].shape == (2,)


def test_bad_environment_variable_is_named(monkeypatch):
    monkeypatch.setenv(devices.ENV, "many")
    with pytest.raises(ConfigError, match=f"{devices.ENV}='many'.*positive integer"):
        devices.use_cpu_cores()
    with pytest.raises(ConfigError, match="positive integer"):
        devices.use_cpu_cores(0)


_SETUP = "from stressgen import devices; devices.use_cpu_cores(); "


def _device_count(env: dict, code: str = "", setup: str = _SETUP) -> int:
    out = subprocess.run([sys.executable, "-c", code + "import stressgen, jax; " + setup
                          + "print(len(jax.devices('cpu')))"], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_use_cpu_cores_asks_for_one_cpu_device_per_core_unless_told_otherwise():
    clean = {k: v for k, v in os.environ.items() if k not in (devices.ENV, "XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    assert _device_count(clean) == cores
    assert _device_count({**clean, devices.ENV: "3"}) == 3
    assert _device_count({**clean, devices.ENV: ""}) == cores  # empty means unset
    # the user's own choice wins: JAX's config, XLA_FLAGS, or JAX started before the call
    assert _device_count(clean, "import jax; jax.config.update('jax_num_cpu_devices', 1); ") == 1
    assert _device_count({**clean, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}) == 1
    assert _device_count(clean, "import jax; jax.numpy.zeros(1); ") == 1


def test_importing_stressgen_changes_no_global_jax_setting():
    # no hidden state: without the explicit call, the package leaves JAX's CPU device count alone
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env[devices.ENV] = "3"
    assert _device_count(env, setup="import stressgen.cli, stressgen.pipeline; ") == 1


def test_strategies_with_lapack_calls_in_two_threads_finish_with_the_same_numbers():
    # Regression: two programs with batched LU (jnp.linalg.solve) running at once from two threads wedged
    # XLA-CPU's intra-op pool forever, on one device or two (a spec with two minimum-variance strategies, whose
    # backtests run in threads, never finished). The engine runs such programs one at a time.
    scen = make_scenarios(n_worlds=512, horizon=60, n_assets=8)
    runs = [strategies.MinimumVariance(window=10, every=1), strategies.MinimumVariance(window=12, every=1)]
    want = [np.asarray(backtest(s, scen, check=False).equity) for s in runs]
    for _ in range(3):
        got = {}

        def one(i):
            got[i] = np.asarray(backtest(runs[i], scen, check=False).equity)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "two LAPACK programs at once never finished"
        for i in range(2):
            np.testing.assert_array_equal(got[i], want[i])
