"""Two sessions on two servers of one organisation interleave, as on a real multi-session Exchange organisation
(issue 16): each cmdlet is atomic (the organisation lock, like one Active Directory write), a script is not. A read
that another session's create overtakes sees the object absent, and the second create of the same name gets
Exchange's duplicate error - nothing is created twice.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

winrm = pytest.importorskip("winrm")

SNAPIN = "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"
# Read, then create when absent: the read-then-write window every configuration tool has.
CHECK_THEN_CREATE = SNAPIN + (
    "$found = Get-SendConnector -Identity 'To internet' -ErrorAction SilentlyContinue\n"
    "if ($null -eq $found) {\n"
    "    New-SendConnector -Name 'To internet' -Usage Internet -AddressSpaces '*' -ErrorAction Stop | Out-Null\n"
    "    Write-Output 'created'\n"
    "} else { Write-Output 'found' }\n"
)


def _session(endpoints, server):
    return winrm.Session(endpoints["servers"][server]["https"], auth=(endpoints["username"], endpoints["password"]),
                         transport="ntlm", server_cert_validation="validate", ca_trust_path=endpoints["ca_bundle"])


def _set_faults(state_dir: Path, **values) -> None:
    path = state_dir / "faults.json"
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data))


def test_two_sessions_interleave_and_the_second_create_gets_the_duplicate_error(lab_process, tmp_path):
    endpoints = lab_process(state_dir=tmp_path / "lab", servers=("EX01", "EX02"))
    # A slow domain controller: every Get-SendConnector answers 1.5 s after it read, outside the organisation lock.
    _set_faults(tmp_path / "lab", cmdlet_delays=[{"cmdlet": "Get-SendConnector", "seconds": 1.5}])
    results: dict = {}

    def run(server):
        started = time.monotonic()
        answer = _session(endpoints, server).run_ps(CHECK_THEN_CREATE)
        results[server] = (answer, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(server,)) for server in ("EX01", "EX02")]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    wall = time.monotonic() - started

    outputs = {server: answer.std_out.decode().strip() for server, (answer, _) in results.items()}
    errors = {server: answer.std_err.decode(errors="replace") for server, (answer, _) in results.items()}
    # Both reads ran before either create: both saw no connector; one create won, the other was refused with AD's
    # duplicate error (ADObjectAlreadyExistsException), as real Exchange answers a second New-SendConnector.
    assert sorted(outputs.values()) == ["", "created"], (outputs, errors, wall, [d for _, d in results.values()])
    loser = next(server for server, text in outputs.items() if not text)
    assert "already exists." in errors[loser] and "Active Directory operation failed on" in errors[loser], errors
    # Interleaved, not one session after the other: the two 1.5 s reads overlapped.
    durations = sorted(duration for _, duration in results.values())
    assert wall < durations[0] + 1.5, (wall, durations)
    listing = _session(endpoints, "EX01").run_ps(SNAPIN + "@(Get-SendConnector).Count")
    assert listing.std_out.decode().strip() == "1"


def test_a_barrier_holds_the_first_reads_until_every_party_has_read(lab_process, tmp_path):
    """``cmdlet_barriers``: the first two Get-SendConnector answers wait for each other, so two sessions that start
    apart still both read before either creates - the race is certain, whatever the timing - and later reads are not
    held."""
    endpoints = lab_process(state_dir=tmp_path / "lab", servers=("EX01", "EX02"))
    _set_faults(tmp_path / "lab", cmdlet_barriers=[{"cmdlet": "Get-SendConnector", "parties": 2, "timeout": 30}])
    results: dict = {}

    def run(server):
        results[server] = _session(endpoints, server).run_ps(CHECK_THEN_CREATE)

    first = threading.Thread(target=run, args=("EX01",))
    first.start()
    time.sleep(2.0)  # EX01 has read and is held; without the barrier it would have created by now
    assert "EX01" not in results
    second = threading.Thread(target=run, args=("EX02",))
    second.start()
    first.join(60)
    second.join(60)
    outputs = sorted(results[server].std_out.decode().strip() for server in ("EX01", "EX02"))
    assert outputs == ["", "created"], {s: (r.std_out, r.std_err) for s, r in results.items()}
    started = time.monotonic()
    listing = _session(endpoints, "EX01").run_ps(SNAPIN + "@(Get-SendConnector).Count")
    assert listing.std_out.decode().strip() == "1" and time.monotonic() - started < 10


@pytest.mark.parametrize("create", [
    ("New-SendConnector", "-Name", "Internet", "-Internet", "-AddressSpaces", "*"),
    ("New-AcceptedDomain", "-Name", "contoso.com", "-DomainName", "contoso.com", "-DomainType", "Authoritative"),
    ("New-EmailAddressPolicy", "-Name", "Contoso", "-IncludedRecipients", "AllRecipients",
     "-EnabledPrimarySMTPAddressTemplate", "@corp.contoso.com"),
])
def test_a_second_create_of_the_same_name_is_exchanges_duplicate_error(tmp_path, create):
    """What a run that lost the race gets: AD's ADObjectAlreadyExistsException, its text naming the DN, and an error
    id that names the exception (real remote PowerShell: ``[FailureCategory=Cmdlet-ADObjectAlreadyExistsException]``),
    non-terminating like every proxied Exchange error; the organisation keeps one object."""
    from test_exchange_helpers import Shell, open_org

    from exchange_lab.errors import PSError

    sh = Shell(open_org(tmp_path, "2019", servers=("EX01", "EX02")))
    sh(*create)
    with pytest.raises(PSError) as caught:
        sh(*create)
    error = caught.value
    assert error.exception_type == "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
    assert error.message.startswith("Active Directory operation failed on DC01.corp.contoso.com. The object 'CN=")
    assert error.message.endswith("' already exists.")
    assert "ADObjectAlreadyExistsException" in error.error_id
    getter = create[0].replace("New-", "Get-")
    name = create[create.index("-Name") + 1]
    assert len([o for o in sh(getter) if str(o.get("Name")) == name]) == 1
