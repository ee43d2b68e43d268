"""`stressgen list` reads the plugins' sources (stressgen.catalog) instead of importing them: the tables must
name the registries' classes, and every description must equal what the imported class says."""

from __future__ import annotations

import subprocess
import sys

import strategies
from stressgen import catalog, generators
from stressgen.data import datasets
from stressgen.terminal import strategy_parameters


def _summary(obj) -> str:
    return " ".join((obj.__doc__ or "").strip().split("\n\n")[0].split())


def test_tables_name_the_registries_classes():
    assert {n: (c.__module__, c.__name__) for n, c in generators.BUILTIN.items()} == catalog.GENERATORS
    assert {n: (c.__module__, c.__name__) for n, c in strategies.BUILTIN.items()} == catalog.STRATEGIES
    assert datasets() == catalog.DATASETS


def test_source_descriptions_equal_the_imported_classes():
    for name, info in catalog.generators().items():
        assert info.summary == _summary(generators.BUILTIN[name]), name
    listed = catalog.strategies()
    assert list(listed) == sorted(strategies.BUILTIN)
    for name, info in listed.items():
        cls = strategies.BUILTIN[name]
        assert info.summary == _summary(cls), name
        imported = strategy_parameters(cls)
        assert [n for n, _, _ in info.fields] == [n for n, _, _ in imported], name
        for (field, _, source), (_, _, value) in zip(info.fields, imported):
            # a default built by a factory shows as the call that builds it: the same class, maybe fewer args
            assert source == value or (source.endswith(")")
                                       and value.startswith(source.split("(")[0] + "(")), \
                (name, field, source, value)


def test_listing_imports_no_jax():
    code = ("import sys; from stressgen import catalog; catalog.generators(); catalog.strategies(); "
            "print(sorted(m for m in ('jax', 'flax', 'arch', 'strategies') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_class_the_source_cannot_describe_is_imported():
    info = catalog.describe("stressgen.generators", "StationaryBootstrap")  # a re-export: not defined there
    assert info.summary == _summary(generators.BUILTIN["bootstrap"])
