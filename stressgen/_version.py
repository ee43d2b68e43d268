"""The package version, in a module of its own so that code inside the package (persist's manifests) can
read it without importing the package root, which imports every layer and entry point; and the digest of
the package's sources, which caches of computed results are keyed by."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["__version__", "source_digest"]

__version__ = "0.1.0"


def source_digest() -> str:
    """SHA-256 of the package's own Python sources (each file's path inside the package and its bytes, in path
    order). A result cached under it is not reused after any change to the code that computed it: the version
    number does not move with every commit, and a generator whose sampler changed under an unchanged config
    would otherwise be served its old worlds. Reads the files on each call (a few milliseconds)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
