"""Worlds split over devices: the same bits as on one device, and the CPU-device setup at import."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import strategies
from stressgen import devices
from stressgen.engine import BacktestConfig, backtest
from stressgen.errors import ConfigError
from stressgen.strategy import grid

from enginekit import SoftMomentum, make_scenarios


def test_suite_runs_with_two_cpu_devices():
    # tests/conftest.py asks for two, so the split path below is exercised on any machine
    assert jax.device_count() >= 2


@pytest.mark.parametrize("strategy", [
    SoftMomentum(),                                            # vectorized tier
    strategies.MACrossover(fast=3, slow=8),                    # step tier
    grid(strategies.InverseVolatility(window=10), every=[1, 5]),  # a grid of a step strategy
], ids=["vector", "step", "grid"])
def test_world_i_is_the_same_on_any_number_of_devices(strategy):
    scen = make_scenarios(n_worlds=7)  # odd: the split pads the worlds to a whole number per device
    cfg = BacktestConfig(fee_bps=5, lag=1)
    one = backtest(strategy, scen, cfg, devices=1)
    for kw in ({}, {"devices": 2}, {"devices": 2, "chunk_size": 3}):
        split = backtest(strategy, scen, cfg, **kw)
        np.testing.assert_array_equal(np.asarray(split.pnl), np.asarray(one.pnl))
        np.testing.assert_array_equal(np.asarray(split.equity), np.asarray(one.equity))
        for k, v in one.summary.items():
            np.testing.assert_array_equal(split.summary[k], v, err_msg=f"{k} {kw}")
    # daily series come back on one device, so they mix with arrays made the usual way
    assert len(split.pnl.devices()) == 1
    _ = split.pnl + jax.numpy.zeros(split.pnl.shape)


def test_devices_argument_is_checked():
    scen = make_scenarios(n_worlds=2)
    for bad in (0, jax.device_count() + 1, 1.5, True):
        with pytest.raises(ConfigError, match="devices="):
            backtest(SoftMomentum(), scen, devices=bad)


def test_bad_environment_variable_is_named(monkeypatch):
    monkeypatch.setenv(devices.ENV, "many")
    with pytest.raises(ConfigError, match=f"{devices.ENV}='many'.*positive integer"):
        devices.use_cpu_cores()
    with pytest.raises(ConfigError, match="positive integer"):
        devices.use_cpu_cores(0)


def _device_count_at_import(env: dict, code: str = "") -> int:
    out = subprocess.run([sys.executable, "-c", code + "import stressgen, jax; print(jax.device_count())"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_import_asks_for_one_cpu_device_per_core_unless_told_otherwise():
    clean = {k: v for k, v in os.environ.items() if k not in (devices.ENV, "XLA_FLAGS")}
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    assert _device_count_at_import(clean) == cores
    assert _device_count_at_import({**clean, devices.ENV: "3"}) == 3
    # the user's own choice wins: JAX's config, XLA_FLAGS, or JAX started before stressgen was imported
    assert _device_count_at_import(clean, "import jax; jax.config.update('jax_num_cpu_devices', 1); ") == 1
    assert _device_count_at_import({**clean, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}) == 1
    assert _device_count_at_import(clean, "import jax; jax.numpy.zeros(1); ") == 1
