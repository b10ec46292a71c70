"""The lab carries its own cmdlet contract (``exchange_lab/data/exchange-cmdlets.json``), and
``tests/lab/tools/build_cmdlet_contract.py`` regenerates it from Microsoft's cmdlet reference.

The sample pages in ``fixtures/office_docs/`` are unmodified copies from MicrosoftDocs/office-docs-powershell at
commit 93336da2bca96c31c0fc8acc52658a30ef8a6c94 (CC-BY-4.0, see the README there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exchange_lab.exchange import contract

LAB_ROOT = Path(__file__).resolve().parents[1]  # tests/lab
REPO_ROOT = LAB_ROOT.parents[1]
DATA = LAB_ROOT / "exchange_lab" / "data" / "exchange-cmdlets.json"
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "office_docs"
SAMPLE_CMDLETS = ("Enable-ExchangeCertificate", "Get-AcceptedDomain", "Set-AutodiscoverVirtualDirectory")
COMMIT = "93336da2bca96c31c0fc8acc52658a30ef8a6c94"


def _builder():
    path = LAB_ROOT / "tools" / "build_cmdlet_contract.py"
    spec = importlib.util.spec_from_file_location("build_cmdlet_contract", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return _builder()


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


# --- (a) the lab's default is its own copy, inside the repository ---------------------------------------------


def test_default_contract_is_the_package_copy_inside_the_repository():
    path = contract._default_contract_path()
    assert path == DATA.resolve()
    assert path.is_file()
    assert path.is_relative_to(REPO_ROOT)
    assert "shared" not in path.relative_to(REPO_ROOT).parts


def test_the_environment_variable_still_overrides_the_default(tmp_path, monkeypatch, data):
    other = tmp_path / "contract.json"
    only = {"Get-AcceptedDomain": data["cmdlets"]["Get-AcceptedDomain"]}
    other.write_text(json.dumps({"source": "test", "cmdlets": only}))
    monkeypatch.setenv(contract.CONTRACT_ENV, str(other))
    assert list(contract.load_contract.__wrapped__()) == ["Get-AcceptedDomain"]  # __wrapped__: past the cache
    monkeypatch.delenv(contract.CONTRACT_ENV)
    assert len(contract.load_contract.__wrapped__()) == len(data["cmdlets"])


def test_a_copy_of_the_lab_package_alone_loads_its_contract(tmp_path, data):
    """No shared/ folder anywhere above the copy and no EXCHANGE_LAB_CMDLETS_JSON: the package data is enough."""
    copy = tmp_path / "lab"
    shutil.copytree(LAB_ROOT / "exchange_lab", copy / "exchange_lab", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in (contract.CONTRACT_ENV, "PYTHONPATH")}
    env["PYTHONPATH"] = str(copy)
    script = ("from exchange_lab.exchange import contract as c; import json; "
              "print(json.dumps([str(c._default_contract_path()), len(c.load_contract())]))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    path, count = json.loads(result.stdout)
    assert Path(path) == (copy / "exchange_lab" / "data" / "exchange-cmdlets.json").resolve()
    assert count == len(data["cmdlets"])


def test_the_data_file_records_its_source_and_is_in_the_generators_layout(builder, data):
    assert data["source"] == builder.SOURCE_FORMAT.format(commit=COMMIT)
    assert builder.dumps(data) == DATA.read_text(encoding="utf-8")


# --- (b) the regeneration script --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_CMDLETS)
def test_the_script_turns_a_real_page_into_the_entry_of_the_data_file(builder, data, name):
    text = (SAMPLES / f"{name}.md").read_text(encoding="utf-8")
    entry = builder.parse_cmdlet(text, name)
    assert entry == data["cmdlets"][name]
    # Same order too: the file is compared as text when regenerated.
    assert list(entry["parameters"]) == list(data["cmdlets"][name]["parameters"])
    assert list(entry["parameter_sets"]) == list(data["cmdlets"][name]["parameter_sets"])


def test_the_script_builds_and_checks_a_contract_from_a_folder_of_pages(tmp_path, builder, data):
    out = tmp_path / "exchange-cmdlets.json"
    expected = {"source": builder.SOURCE_FORMAT.format(commit=COMMIT),
                "cmdlets": {name: data["cmdlets"][name] for name in SAMPLE_CMDLETS}}
    out.write_text(json.dumps(expected, indent=1), encoding="utf-8")
    assert builder.main(["--docs", str(SAMPLES), "--commit", COMMIT, "--out", str(out), "--check"]) == 0
    listing = tmp_path / "cmdlets.txt"
    listing.write_text("# the samples\n" + "\n".join(reversed(SAMPLE_CMDLETS)) + "\n")
    regenerated = tmp_path / "regenerated.json"
    assert builder.main(["--docs", str(SAMPLES), "--commit", COMMIT, "--out", str(regenerated),
                         "--cmdlets", str(listing)]) == 0
    assert regenerated.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_versions_are_normalised_and_cloud_entries_dropped(builder):
    assert builder.normalise_versions(
        "Exchange Server 2010, Exchange Server 2013, Exchange Server SE, Exchange Online, Security & Compliance"
    ) == ["2010", "2013", "SE"]
    assert builder.normalise_versions("Exchange Online, Built-in security add-on for on-premises mailboxes") == []


def test_an_unclosed_syntax_block_runs_to_the_next_heading(builder):
    """As Set-Mailbox's ProvideConsent block at the recorded commit."""
    page = "\n".join([
        "---", "applicable: Exchange Server 2016, Exchange Online", "title: Set-Thing", "---", "",
        "## SYNTAX", "",
        "### A", "```", "Set-Thing [-Identity] <String> [-One]", "```", "",
        "### B", "```", "Set-Thing [-Identity] <String>", " [-Two <Int32>]", "",
        "### C", "```", "```", "",
        "## PARAMETERS", "",
        "### -Identity", "", "> Applicable: Exchange Server 2016", "", "text", "", "```yaml", "Type: String",
        "Parameter Sets: (All)", "Aliases:", "", "Required: True", "Position: 1", "Default value: None",
        "Accept pipeline input: True", "Accept wildcard characters: False", "```", "",
    ])
    entry = builder.parse_cmdlet(page, "Set-Thing")
    assert entry["applicable"] == ["2016"]
    assert entry["parameter_sets"] == {"A": ["Identity", "One", "Thing"], "B": ["Identity", "Thing", "Two"], "C": []}
    assert entry["parameters"] == {"Identity": {"type": "String", "required": "True", "position": "1",
                                                "pipeline_input": "True", "parameter_sets": "(All)",
                                                "applicable": ["2016"]}}
