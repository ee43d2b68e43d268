"""The project's one atomic writer: a failed or interrupted write leaves the previous file(s) or none, never
half a file.

Every file is first written in full to a temporary file in the target directory (same file system, so the
final `os.replace` is an atomic rename), flushed and fsynced. `write_files` stages every file of a set before
renaming any, in order (callers put the file that vouches for the others last, e.g. ``report.html``); an
exception at any point before the renames (rendering, encoding, a full disk, Ctrl-C) removes the temporary
files and leaves the directory as it was. `atomic_file` does the same for one file written as a stream;
`publish_files` replaces a set of files as a whole, so that even a SIGKILL between two renames leaves one
complete set (results directories and saved models: see the section at the end).

Where: a top-level module that imports nothing from stressgen, so every layer (report pages, study caches,
the pipeline's worlds file, saved models) writes through the same code.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "write_files", "atomic_file", "fsync_write", "publish_files", "STORE"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # make the renames themselves durable; not every platform can open a directory
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _staged(directory: Path, name: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temporary file next to ``directory / name``, open for binary writing; flushed and fsynced when
    the block ends, removed if it raises."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; outputs get the permissions of any new file (0666 less the umask)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f, Path(tmp)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _stage(directory: Path, name: str, data: bytes) -> Path:
    with _staged(directory, name) as (f, tmp):
        f.write(data)
    return tmp


def write_files(directory, files: Mapping[str, bytes]) -> None:
    """Write every ``name -> bytes`` into `directory` all-or-nothing (up to the final renames), in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            staged.append((_stage(directory, name, data), directory / name))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    _fsync_dir(directory)


def atomic_write(path, data: bytes | str) -> Path:
    """Write one file atomically (text is UTF-8)."""
    path = Path(path)
    write_files(path.parent, {path.name: data.encode("utf-8") if isinstance(data, str) else data})
    return path


@contextlib.contextmanager
def atomic_file(path) -> Iterator[BinaryIO]:
    """Write one file as a stream: yields a binary file; `path` appears, complete, only if the block ends
    without an exception (for outputs too large to build in memory first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staged(path.parent, path.name) as (f, tmp):
        yield f
    os.replace(tmp, path)
    _fsync_dir(path.parent)


Payload = bytes | Callable[[BinaryIO], None]  # a file's bytes, or a function that writes them into it


def fsync_write(path, payload: Payload) -> None:
    """Write and fsync `path` in place: for files inside a version directory that `publish_files` then
    switches in. A callable payload streams into the open file (a file too large to hold in memory)."""
    with open(path, "wb") as f:
        if callable(payload):
            payload(f)
        else:
            f.write(payload)
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------------ published file sets
#
# `write_files` renames a set of files one by one, so a kill between two renames leaves new files beside old
# ones (a report of one run with the metrics of another). `publish_files` makes a set of files change as a
# whole: each set (a "group": the run's outputs, the scorecard's) lives in its own complete version directory
# under ``<directory>/.stressgen/versions/``; one symlink per group, ``.stressgen/<group>``, names the current
# version, and each public name is a fixed relative symlink through it (``report.html ->
# .stressgen/run/report.html``). Publishing writes and fsyncs a new version, then replaces the group's symlink
# by a rename, which is atomic: at any moment every public name resolves into one complete version, the old
# or the new. Versions no group points to (a killed run's) are removed by the next publish.

STORE = ".stressgen"


def _symlink_atomically(target: str, link: Path) -> None:
    """Make `link` a symlink to `target`, replacing what is there in one rename."""
    tmp = link.parent / f".{link.name}.{os.getpid()}.link.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _clean(directory: Path, store: Path, names=()) -> None:
    """Remove what killed writes left: versions no group points to, staged links, and the staged copies of
    `names` that `write_files` leaves when killed (``.<name>.<random>.tmp``; nothing else is touched)."""
    versions = store / "versions"
    live = {os.path.basename(os.readlink(p)) for p in store.iterdir() if p.is_symlink()}
    if versions.is_dir():
        for v in versions.iterdir():
            if v.name not in live:
                shutil.rmtree(v, ignore_errors=True)
    debris = [*store.glob(".*.link.tmp"), *directory.glob(".*.link.tmp")]
    debris += [p for name in names for p in directory.glob(f".{glob.escape(name)}.*.tmp")]
    for tmp in debris:
        with contextlib.suppress(OSError):
            tmp.unlink()


def publish_files(directory, files: Mapping[str, Payload], *, group: str) -> None:
    """Write the set `files` (name -> bytes, or a function writing them, see `fsync_write`) into `directory`
    so that it replaces the group's previous set as a whole, even if the process is killed at any moment
    (see above). Names of other groups are untouched.

    A name that exists in `directory` as a regular file (written before sets were published, or by hand) is
    replaced by its symlink once the new version is in place.
    """
    directory = Path(directory)
    store = directory / STORE
    versions = store / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    _clean(directory, store, files)
    staged = Path(tempfile.mkdtemp(prefix=f"{group}-", dir=versions))
    try:
        for name, data in files.items():
            fsync_write(staged / name, data)
            os.chmod(staged / name, 0o666 & ~_umask())
        os.chmod(staged, 0o777 & ~_umask())
        _fsync_dir(staged)
        _symlink_atomically(f"versions/{staged.name}", store / group)  # the switch: old set -> new set
    except BaseException:
        if not (store / group).is_symlink() or os.readlink(store / group) != f"versions/{staged.name}":
            shutil.rmtree(staged, ignore_errors=True)
        raise
    _fsync_dir(store)
    for name in files:  # fixed links: they change only when a name is new or was a plain file
        link, target = directory / name, f"{STORE}/{group}/{name}"
        if not (link.is_symlink() and os.readlink(link) == target):
            _symlink_atomically(target, link)
    for link in directory.iterdir():  # names the group's previous set had and this one has not
        if link.is_symlink() and os.readlink(link).startswith(f"{STORE}/{group}/") and link.name not in files:
            link.unlink()
    _fsync_dir(directory)
    _clean(directory, store, files)
