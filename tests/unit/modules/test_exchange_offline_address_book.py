"""exchange_offline_address_book: planning and the module run against a fake session."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # helpers next to this file (importlib mode)
from clientaccess_fakes import FakeSession, run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.modules import exchange_offline_address_book as oab


def answer(global_enabled=False, vdirs=("EX01\\OAB (Default Web Site)",), extra_oab=False):
    books = [{"name": "Default Offline Address Book", "identity": "\\Default Offline Address Book", "is_default": True,
              "global_web_distribution_enabled": global_enabled, "virtual_directories": list(vdirs)}]
    if extra_oab:
        books.append({"name": "Sales OAB", "identity": "\\Sales OAB", "is_default": False,
                      "global_web_distribution_enabled": False, "virtual_directories": []})
    return {"offline_address_books": books,
            "virtual_directories": [{"identity": "EX01\\OAB (Default Web Site)", "server": "EX01"},
                                    {"identity": "EX02\\OAB (Default Web Site)", "server": "EX02"}]}


def params(**kw):
    base = {"name": "Default Offline Address Book", "global_web_distribution_enabled": None,
            "virtual_directories": None}
    base.update(kw)
    return base


def test_the_2013_step():
    commands, before, after = oab.plan(params(name="*", global_web_distribution_enabled=True), answer(extra_oab=True))
    assert commands == [
        "Set-OfflineAddressBook -Identity '\\Default Offline Address Book' -GlobalWebDistributionEnabled:$true "
        "-VirtualDirectories $null",
        "Set-OfflineAddressBook -Identity '\\Sales OAB' -GlobalWebDistributionEnabled:$true",
    ]
    assert before[0]["virtual_directories"] == ["EX01\\OAB (Default Web Site)"]
    assert after[0] == {"name": "Default Offline Address Book", "global_web_distribution_enabled": True,
                        "virtual_directories": [], "is_default": True}


def test_the_2013_step_is_idempotent():
    commands, before, after = oab.plan(params(name="*", global_web_distribution_enabled=True),
                                       answer(global_enabled=True, vdirs=()))
    assert commands == [] and before == after


def test_virtual_directories_by_server_name_and_identity_case_insensitive():
    commands, _unused, after = oab.plan(params(virtual_directories=["ex02", "EX01\\oab (default web site)"]), answer())
    assert commands == ["Set-OfflineAddressBook -Identity '\\Default Offline Address Book' -VirtualDirectories "
                        "@('EX02\\OAB (Default Web Site)', 'EX01\\OAB (Default Web Site)')"]
    assert after[0]["virtual_directories"] == ["EX01\\OAB (Default Web Site)", "EX02\\OAB (Default Web Site)"]
    same, _unused, _unused2 = oab.plan(params(virtual_directories=["EX01"]), answer())
    assert same == []


def test_clear_virtual_directories():
    commands, _unused, _unused2 = oab.plan(params(virtual_directories=[]), answer())
    assert commands == ["Set-OfflineAddressBook -Identity '\\Default Offline Address Book' -VirtualDirectories $null"]


@pytest.mark.parametrize("kw, message", [
    ({"virtual_directories": ["EX03"]}, "not an OAB virtual directory"),
    ({"name": "Nope", "global_web_distribution_enabled": True}, "not found; the organisation has: Default Offline"),
])
def test_plan_refusals(kw, message):
    with pytest.raises(ValueError, match=message):
        oab.plan(params(**kw), answer())


@pytest.mark.parametrize("kw, message", [
    ({"global_web_distribution_enabled": True, "virtual_directories": ["EX01"]}, "cannot be combined"),
    ({}, "nothing to manage"),
    ({"name": " ", "global_web_distribution_enabled": True}, "must not be empty"),
    ({"virtual_directories": ["EX*"]}, "not a virtual directory identity"),
])
def test_validate_refusals(kw, message):
    with pytest.raises(ValueError, match=message):
        oab.validate(params(**kw))


def test_module_run_check_mode_and_diff(monkeypatch, capsys):
    session = FakeSession({"Get-OfflineAddressBook": answer()})
    result = run_module(monkeypatch, capsys, oab.main,
                        {"name": "*", "global_web_distribution_enabled": True, "_ansible_check_mode": True,
                         "_ansible_diff": True}, session)
    assert result["changed"] and session.executed == [] and len(session.queries) == 1
    assert result["diff"]["before"]["offline_address_books"][0]["global_web_distribution_enabled"] is False
    assert result["diff"]["after"]["offline_address_books"][0]["global_web_distribution_enabled"] is True


def test_module_run_applies_one_batch(monkeypatch, capsys):
    session = FakeSession({"Get-OfflineAddressBook": answer()},
                          answers_after_write={"Get-OfflineAddressBook": answer(global_enabled=True, vdirs=())})
    result = run_module(monkeypatch, capsys, oab.main, {"global_web_distribution_enabled": True}, session)
    assert session.executed == [result["commands"]] and len(result["commands"]) == 1
    assert result["offline_address_books"][0]["virtual_directories"] == []


def test_module_refusal_before_any_read(monkeypatch, capsys):
    session = FakeSession({"Get-OfflineAddressBook": answer()})
    result = run_module(monkeypatch, capsys, oab.main,
                        {"global_web_distribution_enabled": True, "virtual_directories": ["EX01"]}, session)
    assert result["failed"] and "cannot be combined" in result["msg"]
    assert session.queries == [] and session.executed == []
