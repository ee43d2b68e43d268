"""Fixtures of the engine tests."""

import pytest

from enginekit import make_scenarios


@pytest.fixture(scope="module")
def scen():
    return make_scenarios()
