"""Shared fixtures for the lab's tests.

- ``lab_process``: a factory that starts ``python -m exchange_lab serve`` as a subprocess and returns the parsed
  ``endpoints.json`` (the form integration tests use); every lab it started is stopped with SIGTERM at teardown.
- ``lab_endpoints``: one such lab (Exchange 2019, EX01 and EX02 in corp.contoso.com) shared by the whole session.
- ``winrm_lab``: an in-process lab whose commands run in a scripted fake process (see ``FakeProcess``), for tests of
  the WinRM endpoint that must not depend on the PowerShell interpreter or the Exchange model.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test directory on sys.path: make lab_support importable
# (for this file and for the tests) without turning the directory into a package.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from lab_support import FakeOrganization, FakeProcesses, LabProcess, WinRMLab, serve_args


@pytest.fixture
def lab_process(tmp_path_factory):
    """``start(state_dir=None, version="2019", servers=("EX01", "EX02"), domain="corp.contoso.com", extra_args=())``
    starts a lab subprocess and returns its endpoints.json (plus ``"process"``: the LabProcess). Pass None for
    version, servers and domain to restart an existing state directory as it is."""
    started: list[LabProcess] = []

    def start(state_dir=None, version="2019", servers=("EX01", "EX02"), domain="corp.contoso.com", extra_args=()) -> dict:
        state = Path(state_dir) if state_dir else tmp_path_factory.mktemp("lab")
        lab = LabProcess(state, serve_args(version, tuple(servers) if servers else None, domain, *extra_args))
        started.append(lab)
        endpoints = lab.wait_for_endpoints()
        endpoints["process"] = lab
        return endpoints

    yield start
    for lab in started:
        lab.stop()


@pytest.fixture(scope="session")
def lab_endpoints(tmp_path_factory):
    """One lab subprocess for the session: Exchange 2019, EX01 and EX02, corp.contoso.com."""
    lab = LabProcess(tmp_path_factory.mktemp("session-lab"), serve_args())
    try:
        endpoints = lab.wait_for_endpoints()
        endpoints["process"] = lab
        yield endpoints
    finally:
        lab.stop()


# --------------------------------------------------------------------------------------------------------------
# An in-process lab with a fake organisation and a scripted fake process


@pytest.fixture(scope="session")
def _winrm_lab_session(tmp_path_factory):
    from exchange_lab.ca import LabCA
    from exchange_lab.context import LabContext
    from exchange_lab.faults import Faults
    from exchange_lab.lab import Lab
    from exchange_lab.observe import Observer
    from exchange_lab.users import Users

    state = tmp_path_factory.mktemp("winrm-lab")
    org = FakeOrganization()
    users = Users(state / "users.txt", org.netbios_domain)
    # A second user, for per-user quotas and shell ownership.
    second = ("operator", "Op-" + base64.b32encode(os.urandom(10)).decode())
    with users.path.open("a") as handle:
        handle.write(f"{org.netbios_domain}:{second[0]}:{second[1]}\n")
    users = Users(users.path, org.netbios_domain)
    context = LabContext(state, org, users, LabCA(state), Faults(state), Observer(state, users.passwords()))
    processes = FakeProcesses()
    lab = Lab.start(state, context=context, process_factory=processes)
    try:
        yield WinRMLab(lab, processes, (f"{org.netbios_domain}\\{second[0]}", second[1]))
    finally:
        lab.stop()


@pytest.fixture
def winrm_lab(_winrm_lab_session):
    """The in-process fake lab with faults, counters and transcript reset and no shells left from an earlier test."""
    from exchange_lab.faults import DEFAULTS

    lab = _winrm_lab_session
    lab.context.faults.update(dict(DEFAULTS))
    for service in lab.lab.services.values():
        service.shells.close_all()
    lab.processes.started.clear()
    lab.context.observer.reset()
    yield lab
    for service in lab.lab.services.values():
        service.shells.close_all()
