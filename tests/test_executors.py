"""Executors (stressgen.executors): chunk tasks run on a Ray cluster or a spawned process pool give the
results they give in process; a worker killed mid-task is retried, an exception raised by the task is
not; bad executor names and options are refused as ConfigError."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import _executor_tasks as tasks
import pytest

from stressgen.errors import ConfigError
from stressgen.executors import RayExecutor, executor_for

TESTS = str(Path(__file__).parent)
SIZES = [1000 * k for k in range(1, 7)]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray instance for this module (Ray takes ~4 s to start); executors use it as it is."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2,
             _node_ip_address="127.0.0.1", logging_level="ERROR", log_to_driver=False,
             # cloudpickle sends a function of an importable module by name, and Ray's workers do not get
             # pytest's sys.path: they find _executor_tasks through PYTHONPATH
             runtime_env={"env_vars": {"PYTHONPATH": TESTS}})
    yield ray
    ray.shutdown()


def test_ray_results_equal_in_process_results(ray_cluster):
    with RayExecutor(max_retries=1) as ex:
        futures = [ex.submit(tasks.checksum, n, seed=3) for n in SIZES]
        assert all(isinstance(f, cf.Future) for f in futures)
        assert [f.result(timeout=60) for f in futures] == [tasks.checksum(n, seed=3) for n in SIZES]
        assert list(ex.map(tasks.checksum, SIZES, timeout=60)) == [tasks.checksum(n) for n in SIZES]
        assert len(ex._remote) == 1  # one remote function per submitted function, not per call
    assert ray_cluster.is_initialized()  # it did not start Ray, so it does not stop it
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(tasks.checksum, 1)


def test_ray_worker_killed_mid_task_is_retried(ray_cluster, tmp_path):
    with RayExecutor(max_retries=2) as ex:
        future = ex.submit(tasks.die_once, str(tmp_path / "died"), 500)
        assert future.result(timeout=60) == tasks.checksum(500)
    assert (tmp_path / "died").exists()  # the first attempt did die


def test_ray_lost_worker_surfaces_without_retries(ray_cluster, tmp_path):
    with RayExecutor(max_retries=0) as ex:
        future = ex.submit(tasks.die_once, str(tmp_path / "died"), 500)
        with pytest.raises(ray_cluster.exceptions.WorkerCrashedError):
            future.result(timeout=60)


def test_ray_task_exception_propagates_and_is_not_retried(ray_cluster, tmp_path):
    log = tmp_path / "attempts"
    # Ray's error is also an instance of the task's exception type
    with RayExecutor(max_retries=3) as ex, pytest.raises(ValueError, match="on purpose"):
        ex.submit(tasks.fail_counting, str(log)).result(timeout=60)
    assert log.read_text().count("attempt") == 1


def test_ray_executor_for_and_non_function_callables(ray_cluster):
    import functools

    with executor_for("ray") as ex:
        assert isinstance(ex, RayExecutor)
        assert ex.submit(functools.partial(tasks.checksum, seed=5), 700).result(timeout=60) == \
            tasks.checksum(700, seed=5)
    assert ray_cluster.is_initialized()


def test_ray_tasks_are_cancelled_when_the_block_raises(ray_cluster):
    # a failed run (or Ctrl-C) must not wait for, or leave running, the chunks still in flight
    t0 = time.perf_counter()
    with pytest.raises(KeyError), executor_for("ray") as ex:
        future = ex.submit(tasks.nap, 60)
        raise KeyError("the driver failed")
    with pytest.raises(ray_cluster.exceptions.TaskCancelledError):
        future.result(timeout=30)
    assert time.perf_counter() - t0 < 30


def test_processes_executor_runs_tasks_like_in_process():
    with executor_for("processes", workers=2) as ex:
        assert isinstance(ex, cf.ProcessPoolExecutor)
        assert ex._mp_context.get_start_method() == "spawn"
        assert list(ex.map(tasks.checksum, SIZES)) == [tasks.checksum(n) for n in SIZES]
    with executor_for("local") as ex:
        assert ex is None


@pytest.mark.parametrize("name, options, match", [
    ("dask", {}, "expected one of local, processes, ray"),
    ("", {}, "expected one of"),
    ("local", {"address": "10.0.0.1:6379"}, "for executor 'ray' only"),
    ("processes", {"address": "auto"}, "for executor 'ray' only"),
    ("ray", {"workers": 4}, "for executor 'processes' only"),
    ("processes", {"workers": 0}, "positive integer"),
])
def test_bad_names_and_options_are_config_errors(name, options, match):
    with pytest.raises(ConfigError, match=match), executor_for(name, **options):
        pass


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'stressgen\[ray\]'"):
        RayExecutor()
    with pytest.raises(ConfigError, match="max_retries"):
        RayExecutor(max_retries=-1)
    with pytest.raises(ConfigError, match="num_gpus"):
        RayExecutor(num_gpus=-0.5)


def test_own_connection_and_unreachable_address():
    # in a child process, where Ray is not initialised: the executor connects (here: starts a local Ray,
    # as `stressgen run --executor ray` does off a cluster), disconnects on exit, and refuses an address
    # that accepts no connection at once, naming it (Ray alone would retry for minutes)
    pytest.importorskip("ray")
    code = textwrap.dedent("""
        import operator, socket, sys
        import ray
        from stressgen.errors import ConfigError
        from stressgen.executors import RayExecutor, executor_for
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()  # a closed port
        for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
            try:
                RayExecutor(address=address)
            except ConfigError as exc:
                assert address in str(exc), exc
            else:
                sys.exit("connected to " + address)
        assert not ray.is_initialized()
        with executor_for("ray") as ex:
            assert ray.is_initialized()
            assert ex.submit(operator.mul, 6, 7).result(timeout=60) == 42  # a builtin, through _call
        assert not ray.is_initialized()
        print("ok")
    """)
    # RAY_ADDRESS=local: start a fresh instance even if this machine runs a `ray start` cluster
    env = {**os.environ, "RAY_ADDRESS": "local"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


KILLER = '''
import os
import signal
from pathlib import Path

from strategies import EqualWeight  # noqa: F401  - the strategy this plugin file offers

# Armed by the test with the driver's pid: the first other process that loads this file (a Ray worker
# rebuilding the run for its first chunk task) is SIGKILLed, like a worker lost mid-run.
_here = Path(__file__)
_armed, _died = _here.with_suffix(".armed"), _here.with_suffix(".died")
if _armed.exists() and _armed.read_text() != str(os.getpid()) and not _died.exists():
    _died.touch()
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_run_on_ray_with_a_worker_killed_mid_run_equals_the_local_run(ray_cluster, tmp_path):
    """Issue 20's acceptance: chunk tasks on a local 2-worker Ray cluster, one worker killed mid-run; Ray
    retries its task and the merged result is bit-identical to the in-process run."""
    import numpy as np

    from stressgen import pipeline
    from stressgen.report import _store
    from stressgen.spec import load_spec

    (tmp_path / "killer.py").write_text(KILLER)
    small = Path(TESTS) / "data" / "specs" / "small.toml"
    # small.toml with the killer in place of equal_weight and without its grid strategy: one strategy is
    # enough to lose a worker mid-run, and the run (done twice here, in process and on Ray) compiles half
    text = small.read_text().replace('plugin = "equal_weight"', f'plugin = "{tmp_path / "killer.py"}:EqualWeight"')
    grid = '[[strategies]]\nplugin = "ma_crossover"\nparams = { slow = 30 }\ngrid = { fast = [5, 10] }\n'
    assert grid in text
    text = text.replace(grid, "")
    (tmp_path / "run.toml").write_text(text)
    spec = load_spec(tmp_path / "run.toml").with_overrides(out=tmp_path / "out")
    local = pipeline.run(spec)
    (tmp_path / "killer.armed").write_text(str(os.getpid()))
    with RayExecutor(max_retries=2) as ex:
        remote = pipeline.run(spec, executor=ex, chunks=tmp_path / "chunks")
    assert (tmp_path / "killer.died").exists()  # a worker did die mid-run
    (ta, _), (tb, _) = _store.encode(local), _store.encode(remote)
    assert [k for k in ta if not np.array_equal(ta[k], tb[k], equal_nan=True)] == []
    assert _store.metrics_frame(local).equals(_store.metrics_frame(remote))
