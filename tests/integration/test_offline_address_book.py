"""exchange_offline_address_book against the lab: the Exchange 2013 step, and explicit virtual directories."""

import pytest
from labstate import changes
from labtools import assert_one_session, versions, write_commands

pytestmark = pytest.mark.slow


def books(lab):
    result = lab.run_module("exchange_info", {"gather": ["offline_address_books"]})
    assert result.get("failed") is not True, result
    return {b["name"]: b for b in result["offline_address_books"]}


@pytest.mark.parametrize("version", versions())
def test_the_2013_step(lab_factory, version):
    lab = lab_factory(version)
    args = {"name": "*", "global_web_distribution_enabled": True}
    before_books = books(lab)
    assert before_books, "the lab has no offline address book"
    state0 = lab.lab_state()
    needs_change = any(not b["global_web_distribution_enabled"] or b["virtual_directories"]
                       for b in before_books.values())

    result = lab.run_module("exchange_offline_address_book", args, check=True, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is needs_change
    assert write_commands(lab) == []
    assert changes(state0, lab.lab_state()) == []

    result = lab.run_module("exchange_offline_address_book", args, diff=True)
    assert result["changed"] is needs_change, result
    assert write_commands(lab) == ["Set-OfflineAddressBook"] * len(result["commands"])
    assert_one_session(lab)
    for line in result["commands"]:
        assert "-GlobalWebDistributionEnabled:$true" in line or "-VirtualDirectories $null" in line
    after_books = books(lab)
    for name, book in after_books.items():
        assert book["global_web_distribution_enabled"] is True, book
        assert book["virtual_directories"] == [], book
    assert set(after_books) == set(before_books)

    result = lab.run_module("exchange_offline_address_book", args)
    assert result["changed"] is False, result
    assert write_commands(lab) == []
    assert_one_session(lab)


def test_virtual_directories_then_back(lab):
    args = {"global_web_distribution_enabled": False, "virtual_directories": ["EX01", "EX02\\OAB (Default Web Site)"]}
    result = lab.run_module("exchange_offline_address_book", args, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["diff"]["after"]["offline_address_books"][0]["virtual_directories"] == [
        "EX01\\OAB (Default Web Site)", "EX02\\OAB (Default Web Site)"]
    book = books(lab)["Default Offline Address Book"]
    assert book["global_web_distribution_enabled"] is False
    assert [v.casefold() for v in book["virtual_directories"]] == ["ex01\\oab (default web site)",
                                                                   "ex02\\oab (default web site)"]
    result = lab.run_module("exchange_offline_address_book", dict(args, virtual_directories=["ex02", "ex01"]))
    assert result["changed"] is False, result

    result = lab.run_module("exchange_offline_address_book", {"global_web_distribution_enabled": True})
    assert result["changed"] is True
    assert result["commands"] == ["Set-OfflineAddressBook -Identity '%s' -GlobalWebDistributionEnabled:$true "
                                  "-VirtualDirectories $null" % result["commands"][0].split("'")[1]]
    book = books(lab)["Default Offline Address Book"]
    assert book["global_web_distribution_enabled"] is True and book["virtual_directories"] == []


def test_refusals(lab):
    before = lab.lab_state()
    for args, message in [
        ({"virtual_directories": ["EX07"]}, "is not an OAB virtual directory of this organisation"),
        ({"name": "No such OAB", "global_web_distribution_enabled": True}, "offline address book 'No such OAB' not found"),
        ({"global_web_distribution_enabled": True, "virtual_directories": ["EX01"]}, "cannot be combined"),
    ]:
        result = lab.run_module("exchange_offline_address_book", args)
        assert result.get("failed") is True, (args, result)
        assert message in result["msg"]
        assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []
