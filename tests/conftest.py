"""Shared fixtures. Sizes stay small: the whole suite must run in minutes on a 2-core CPU."""

import atexit
import logging
import os
import shutil
import tempfile

# Two CPU devices on any machine, so every test of the engine also runs its split-over-devices path; tests
# that compare against one device pass devices=1. Importing stressgen sets nothing: the explicit call below
# does, before any test starts JAX's backends (as the CLI and pipeline.run do on entry).
os.environ.setdefault("STRESSGEN_CPU_DEVICES", "2")
# The CLI keeps compiled programs on disk; tests must not depend on (or fill) the user's cache. They share a
# cache of their own instead, made fresh for each run and removed after it: the process that loads this file
# first (the xdist controller, or the only process) creates it, and the workers, the notebooks' kernels, the
# CLI subprocesses and the process-pool and Ray workers inherit it through the environment, so a program one
# of them compiled is not compiled again by the others (a cache entry is keyed by the program, the backend
# and the flags: a hit is the same program).
if "STRESSGEN_COMPILE_CACHE" not in os.environ:
    _RUN_CACHE = tempfile.mkdtemp(prefix="stressgen-tests-xla-")
    os.environ["STRESSGEN_COMPILE_CACHE"] = _RUN_CACHE
    atexit.register(shutil.rmtree, _RUN_CACHE, ignore_errors=True)

import jax  # noqa: E402
import pytest  # noqa: E402

from stressgen import data, devices, generators, rng  # noqa: E402

devices.use_cpu_cores()
devices.use_compilation_cache()


@pytest.fixture(scope="session")
def sp500_20():
    return data.load("sp500-20")


@pytest.fixture(scope="session")
def small_market():
    """Four stocks over the last ~6 years: enough for every fit, small enough to be quick."""
    return data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM", "WMT"])


@pytest.fixture(scope="session")
def small_fits(small_market):
    """``name -> (generator, fitted)``: each family fitted once per session on `small_market` with the FIT
    stream of root 0 and its "tiny" preset (neural families) or default config. Fits are deterministic, so
    the tests that need this exact fit share it (the conformance suite, test_gan's: the GAN's takes ~20 s)."""
    cache = {}

    def get(name):
        if name not in cache:
            gen = generators.get(name)
            # neural families train for minutes by default; a config type's "tiny" preset trains in seconds
            preset = getattr(gen.config_type, "preset", None)
            config = preset("tiny") if preset is not None else None
            cache[name] = (gen, gen.fit(small_market, key=rng.stream(rng.root(0), rng.FIT), config=config))
        return cache[name]

    return get


@pytest.fixture
def key():
    return rng.root(0)


class CompileCounter(logging.Handler):
    """Counts XLA compilations reported by `jax.log_compiles` (the Optax `log_compilations` idea)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.count = 0
        self.names: list[str] = []  # the compiled functions' names, ``simulate`` for ``jit(simulate)``

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.count += 1
            name = message.split()[1]
            self.names.append(name[4:-1] if name.startswith("jit(") and name.endswith(")") else name)


@pytest.fixture
def count_compiles():
    """Context manager factory: `with count_compiles() as c: ...; c.count` is the number of compilations."""
    import contextlib

    @contextlib.contextmanager
    def _count():
        handler = CompileCounter()
        logger = logging.getLogger("jax")
        logger.addHandler(handler)
        try:
            with jax.log_compiles():
                yield handler
        finally:
            logger.removeHandler(handler)

    return _count


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Why: every XLA:CPU executable keeps its code in memory mappings of its own, and the whole suite compiles
    thousands of programs in one process. Past the kernel's mapping limit (vm.max_map_count, 65,530 by
    default) the next compilation dies with a segmentation fault (measured: the full suite crashed in its
    last tenth, in test_studies, while every subset of it passed). No test relies on a program compiled by
    another module.
    """
    yield
    jax.clear_caches()
