"""Outputs survive a kill at any moment: a process publishing sets of files (`atomic.publish_files`, what
`stressgen run` and `evaluate` write with) is SIGKILLed at many points; every time, the public names resolve
to one complete set (the previous or the new), never a mix, and the next publish cleans up the debris."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from stressgen import atomic

NAMES = ("report.html", "summary.json", "metrics.parquet", "results.safetensors")

# Publishes sets forever: every file of set k holds k (and enough bytes that a kill often lands mid-write).
WRITER = """
import sys
from stressgen import atomic
out, k = sys.argv[1], int(sys.argv[2])
while True:
    k += 1
    payload = str(k).encode() + b"." * 400_000
    atomic.publish_files(out, {name: payload for name in %r}, group="run")
    print(k, flush=True)
""" % (NAMES,)


def _sets(directory: Path) -> set[bytes]:
    """The set number each public name holds (through its link); {} when nothing was published yet."""
    return {(directory / n).read_bytes().split(b".")[0] for n in NAMES if (directory / n).exists()}


def test_sigkill_at_any_moment_leaves_one_complete_set(tmp_path):
    out = tmp_path / "out"
    atomic.publish_files(out, {n: b"0." for n in NAMES}, group="run")
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(25):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(1000 * (trial + 1))],
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # it has published at least once: the interpreter and imports are done
        time.sleep(float(rng.uniform(0.0, 0.05)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        held = _sets(out)
        assert len(held) == 1 and all((out / n).exists() for n in NAMES), (trial, held)
        seen |= held
    assert len(seen) > 1  # the kills did land between different publishes
    # the next publish removes what the killed writers left behind
    atomic.publish_files(out, {n: b"final." for n in NAMES}, group="run")
    store = out / atomic.STORE
    assert len(list((store / "versions").iterdir())) == 1
    assert not list(store.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    assert _sets(out) == {b"final"}


def test_groups_are_independent_and_dropped_names_disappear(tmp_path):
    atomic.publish_files(tmp_path, {"report.html": b"r1", "summary.json": b"s1"}, group="run")
    atomic.publish_files(tmp_path, {"fidelity.html": b"f1", "calibration.csv": b"c1"}, group="evaluate")
    atomic.publish_files(tmp_path, {"fidelity.html": b"f2"}, group="evaluate")  # no calibration this time
    assert (tmp_path / "report.html").read_bytes() == b"r1" and \
        (tmp_path / "fidelity.html").read_bytes() == b"f2"
    assert not (tmp_path / "calibration.csv").exists() and not (tmp_path / "calibration.csv").is_symlink()
    assert len(list((tmp_path / atomic.STORE / "versions").iterdir())) == 2


def test_plain_files_from_before_are_replaced_and_debris_is_cleaned(tmp_path):
    (tmp_path / "report.html").write_bytes(b"old plain file")
    (tmp_path / ".report.html.abc123.tmp").write_bytes(b"left by a killed write_files")
    (tmp_path / "notes.txt").write_bytes(b"the user's")
    atomic.publish_files(tmp_path, {"report.html": b"new"}, group="run")
    assert (tmp_path / "report.html").is_symlink() and (tmp_path / "report.html").read_bytes() == b"new"
    assert not (tmp_path / ".report.html.abc123.tmp").exists()
    assert (tmp_path / "notes.txt").read_bytes() == b"the user's"  # nothing else is touched
