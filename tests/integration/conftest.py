"""Fixtures of the integration tests (see labtools.py for the Lab helper).

``lab_factory(version)`` starts one lab per Exchange version per test session and stops it (SIGTERM) at the end;
``lab`` is the 2019 lab.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labtools import Lab  # noqa: E402


@pytest.fixture(scope="session")
def lab_factory(tmp_path_factory):
    labs: dict[str, Lab] = {}

    def get(version: str = "2019") -> Lab:
        if version not in labs:
            labs[version] = Lab(version, tmp_path_factory.mktemp("lab-%s-" % version))
        return labs[version]

    yield get
    for lab in labs.values():
        lab.stop()


@pytest.fixture(scope="session")
def lab(lab_factory) -> Lab:
    return lab_factory("2019")
