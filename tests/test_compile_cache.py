"""The on-disk compilation cache the CLI turns on (`devices.use_compilation_cache`): where it goes, that it
can be turned off, and that a second process reuses the first one's programs. Runs in subprocesses, because
the cache directory is process-wide JAX configuration."""

from __future__ import annotations

import os
import subprocess
import sys

PROGRAM = """
import logging, jax, jax.numpy as jnp, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # jax logs each persistent-cache hit
from stressgen import devices
print(devices.use_compilation_cache(), flush=True)
if sys.argv[1:] == ["--where"]:  # only where the cache goes: no program to compile
    sys.exit()
def body(x):
    for i in range(60):  # unrolled: a program that takes long enough to compile (about 2 s) to be kept
        x = jnp.tanh(x @ x.T * (1.0 / (i + 1))) + jnp.cumsum(x, axis=0) * 1e-3
    return x
jax.jit(body)(jnp.ones((16, 16))).block_until_ready()
"""


def _run(env, *, hits: list | None = None, where_only: bool = False):
    out = subprocess.run([sys.executable, "-c", PROGRAM, *(["--where"] if where_only else [])], capture_output=True,
                         text=True, check=True, env={**os.environ, **env})
    if hits is not None:
        hits += [line for line in out.stderr.splitlines()
                 if "Persistent compilation cache hit for 'jit_body'" in line]
    return out.stdout.strip().splitlines()[0]


def test_off_and_default_locations(tmp_path):
    assert _run({"STRESSGEN_COMPILE_CACHE": "off"}, where_only=True) == "None"
    assert _run({"STRESSGEN_COMPILE_CACHE": "", "XDG_CACHE_HOME": str(tmp_path)},
                where_only=True) == str(tmp_path / "stressgen" / "xla")


def test_a_second_process_reuses_the_programs(tmp_path):
    cache = tmp_path / "xla"
    assert _run({"STRESSGEN_COMPILE_CACHE": str(cache)}) == str(cache)
    first = sorted(p.name for p in cache.iterdir() if p.name.endswith("-cache"))
    assert any(name.startswith("jit_body-") for name in first)  # the program was written
    hits = []
    _run({"STRESSGEN_COMPILE_CACHE": str(cache)}, hits=hits)
    assert len(hits) == 1  # the second process read it instead of compiling
    _run({"STRESSGEN_COMPILE_CACHE": "off"}, hits=(off := []))
    assert off == []
