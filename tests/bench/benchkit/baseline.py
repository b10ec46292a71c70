"""The per-cmdlet baseline: every command line of :mod:`benchkit.procedure` as its own ``winrm.Session.run_ps``.

Each ``run_ps`` opens a WinRM shell, starts ``powershell.exe -EncodedCommand`` and, in that script, loads the
Exchange shell the way the Exchange Management Shell does (``RemoteExchange.ps1`` and ``Connect-ExchangeServer``
with an explicit credential) before the one command line - so every cmdlet pays one PowerShell start and one Exchange-shell
load, as when the procedure is typed into a fresh Exchange Management Shell per command.

Run as ``python -m benchkit.baseline --state DIR --org FILE`` (the harness does, so that its CPU time is measured
like ansible-playbook's): the organisation-wide steps run first on the first server, then every server's steps
run in parallel, one thread per server (the same parallelism as ``forks = servers``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchkit import procedure
from benchkit.procedure import Command, Organisation, ps_quote

LAB_ROOT = Path(__file__).resolve().parents[3] / "tests" / "lab"

# The Exchange Management Shell's own loading (RemoteExchange.ps1, Connect-ExchangeServer), as an administrator's
# EMS window does: objects arrive rebuilt with Exchange's types, so the seeds' own lines work as written - e.g.
# "<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)", which through a plain Import-PSSession gets no Issuer or Subject
# (tests/lab/README.md, Fidelity).
LOAD_EXCHANGE = """$ErrorActionPreference = 'Stop'
$password = ConvertTo-SecureString {password} -AsPlainText -Force
$cred = New-Object System.Management.Automation.PSCredential -ArgumentList {username}, $password
. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"
Connect-ExchangeServer -Auto -Credential $cred
"""


class BaselineError(RuntimeError):
    pass


def stderr_errors(stderr: bytes) -> str:
    """The error records of a CLIXML stderr stream (progress records dropped), or the plain text."""
    text = stderr.decode("utf-8", "replace")
    if not text.startswith("#< CLIXML"):
        return text.strip()
    try:
        root = ET.fromstring(text.split("\n", 1)[1] if "\n" in text else text[len("#< CLIXML"):])
    except ET.ParseError:
        return text.strip()
    lines = [(node.text or "").replace("_x000D__x000A_", "\n") for node in root.iter()
             if node.tag.endswith("}S") and node.attrib.get("S") == "Error"]
    return "".join(lines).strip()


class ServerShell:
    """One server's endpoint; :meth:`run` is one ``run_ps`` with its own Exchange-shell load."""

    def __init__(self, endpoints: dict, server: str, log: list):
        import winrm  # the real pywinrm client

        info = endpoints["servers"][server]
        self.server = server
        self.fqdn = info["fqdn"]
        self.session = winrm.Session(info["https"], auth=(endpoints["username"], endpoints["password"]), transport="ntlm",
                                     server_cert_validation="validate", ca_trust_path=endpoints["ca_bundle"])
        self.load = LOAD_EXCHANGE.format(password=ps_quote(endpoints["password"]), username=ps_quote(endpoints["username"]),
                                         uri=ps_quote(f"http://{self.fqdn}/PowerShell/"))
        self.log = log

    def run(self, command: Command) -> str:
        started = time.monotonic()
        result = self.session.run_ps(self.load + command.line + "\n")
        seconds = time.monotonic() - started
        errors = stderr_errors(result.std_err)
        self.log.append({"server": self.server, "step": command.step, "writes": command.writes,
                         "seconds": round(seconds, 4), "rc": result.status_code,
                         "cmdlet": command.line.split(" ", 1)[0]})
        if result.status_code != 0:
            raise BaselineError(f"{self.server}: step {command.step} ({command.purpose}) failed: "
                                f"{command.line[:160]}: {errors or result.std_out.decode('utf-8', 'replace')[-500:]}")
        return result.std_out.decode("utf-8", "replace")


def sign_request(state_dir: Path, server: str, request_pem: str) -> bytes:
    """The organisation's CA answers the request: the lab CA via ``python -m exchange_lab sign-csr`` (as the
    lab inventory's CA hook, ``mailops_certificate.ca_command``, has it answer the playbook's)."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{server}-", dir=state_dir))
    csr, cer = work / f"{server}.req", work / f"{server}.cer"
    csr.write_text(request_pem)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-m", "exchange_lab", "sign-csr", "--state", str(state_dir), "--csr", str(csr),
                    "--out", str(cer)], env=env, check=True, capture_output=True)
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(cer.read_bytes()).public_bytes(Encoding.DER)


def run_server(org: Organisation, endpoints: dict, state_dir: Path, server: str, log: list,
               organisation_first: bool) -> None:
    shell = ServerShell(endpoints, server, log)
    if organisation_first:
        for command in procedure.organisation_commands(org):
            shell.run(command)
    request_text = ""
    for command in procedure.server_commands_until_request(org, server):
        request_text = shell.run(command)
    der = sign_request(state_dir, server, procedure.extract_request(request_text))
    thumbprint = hashlib.sha1(der).hexdigest().upper()
    for command in procedure.certificate_commands(org, server, base64.b64encode(der).decode("ascii"), thumbprint):
        shell.run(command)
    shown: list[dict] = []
    for command in procedure.client_smtp_commands_before_tls(org, server, thumbprint):
        # The EMS load prints its welcome banner and a tip first; the certificate's record is the one that matters.
        shown = [r for r in procedure.parse_list_output(shell.run(command)) if "Issuer" in r and "Subject" in r]
    if not shown:
        raise BaselineError(f"{server}: Get-ExchangeCertificate -Thumbprint {thumbprint} showed no Issuer/Subject")
    tls_name = procedure.tls_certificate_name(shown[0]["Issuer"], shown[0]["Subject"])
    for command in procedure.client_smtp_commands_after_tls(org, server, tls_name):
        shell.run(command)


def run_baseline(org: Organisation, endpoints: dict, state_dir: Path) -> dict:
    servers = [s["name"] for s in org.servers]
    log: list = []
    lock = threading.Lock()  # list.append is atomic; the lock only guards the error list
    errors: list[str] = []
    started = time.monotonic()
    # Steps 1-3 are organisation-wide: typed once, before the per-server steps (as the playbook's run_once tasks).
    first = ServerShell(endpoints, servers[0], log)
    for command in procedure.organisation_commands(org):
        first.run(command)

    def one(server: str) -> None:
        try:
            run_server(org, endpoints, state_dir, server, log, organisation_first=False)
        except Exception as error:  # reported, and the baseline counts as failed
            with lock:
                errors.append(f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        list(pool.map(one, servers))
    return {"wall_s": time.monotonic() - started, "run_ps": len(log), "errors": errors,
            "writes": sum(1 for entry in log if entry["writes"]), "log": log}


def organisation_from_json(data: dict) -> Organisation:
    return Organisation(servers=data["servers"], plan=data["plan"], send_connector=data["send_connector"],
                        accepted_domains=data["accepted_domains"], email_address_policy=data["email_address_policy"],
                        certificate=data["certificate"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchkit.baseline")
    parser.add_argument("--state", required=True, type=Path, help="the running lab's state directory")
    parser.add_argument("--org", required=True, type=Path, help="the organisation values (JSON, see benchkit.organisation)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the result (JSON)")
    args = parser.parse_args(argv)
    endpoints = json.loads((args.state / "endpoints.json").read_text())
    org = organisation_from_json(json.loads(args.org.read_text()))
    try:
        result = run_baseline(org, endpoints, args.state)
    except Exception as error:
        result = {"errors": [f"{type(error).__name__}: {error}"], "log": []}
    args.out.write_text(json.dumps(result, indent=1))
    for error in result["errors"]:
        print(error, file=sys.stderr)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
