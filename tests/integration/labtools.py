"""Helpers of the integration tests: the collection's modules, run by real ``ansible-playbook``, against the lab.

``lab_factory(version)`` starts ``python -m exchange_lab serve`` once per Exchange version per test session
(subprocess, ``--base-port 0``, waits for ``endpoints.json``, SIGTERM at the end) and returns a :class:`Lab`:

- ``lab.run_module(name, args, check=False, diff=False, server="EX01")`` runs ``mailops.exchange.<name>`` through
  ``ansible-playbook`` (connection options only in ``EXCHANGE_*`` environment variables) and returns the module's
  result dict (``failed``/``msg`` on failure). ``lab.last_run`` holds the transcript lines and counter deltas of
  that run.
- ``lab.lab_state()`` - ``python -m exchange_lab show-state`` as JSON;
- ``lab.mark()`` / ``lab.transcript(since)`` - parsed ``transcript.jsonl`` lines after a mark;
- ``lab.counters()`` - ``counters.json`` per server.

Fixtures: ``lab_factory``, ``lab`` (2019). Set ``MAILOPS_LAB_VERSIONS`` (e.g. ``2019`` or ``2013,2016,2019``) to
restrict the versions that version-parametrised tests use.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


REPO = Path(__file__).resolve().parents[2]
LAB_ROOT = REPO / "tests" / "lab"
# The DNS records the tests' labs hold: the tests run the lab inventory's organisation (inventory/lab: contoso.com,
# mail.contoso.com, owa.contoso.com, internal URLs = external ones), whose records - the seeds' tables - are the
# demo organisation's zones file. A test that needs others passes its own ``zones`` (a mapping or a file).
DEMO_ZONES = LAB_ROOT / "zones" / "demo.json"
COLLECTIONS = REPO / ".collections"
BIN = Path(sys.executable).parent


def _ansible_playbook() -> str:
    candidate = BIN / "ansible-playbook"
    return str(candidate) if candidate.exists() else "ansible-playbook"


def _lab_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
    return env


class Lab:
    """One running lab (one Exchange version) and the helpers tests use."""

    def __init__(self, version: str, state_dir: Path, servers: tuple = ("EX01", "EX02"), zones=DEMO_ZONES):
        self.version = version
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / "lab-process.log"
        if isinstance(zones, dict):  # the records a test expects, written out for the lab
            path = self.state_dir / "zones-given.json"
            path.write_text(json.dumps(zones, indent=1))
            zones = path
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exchange_lab", "serve", "--state", str(self.state_dir), "--version", version,
             "--servers", ",".join(servers), "--domain", "corp.contoso.com", "--base-port", "0",
             "--zones", str(zones)],
            env=_lab_env(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO),
        )
        self.endpoints = self._wait_for_endpoints()
        self.password = self.endpoints["password"]
        self.last_run: dict = {}
        self._work = Path(tempfile.mkdtemp(prefix="mailops-it-"))

    # -- lifecycle ----------------------------------------------------------------------------------------

    def _wait_for_endpoints(self, timeout: float = 90.0) -> dict:
        path = self.state_dir / "endpoints.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the lab (%s) exited with %s before listening:\n%s"
                                   % (self.version, self.process.returncode, self.log()))
            if path.exists():
                try:
                    return json.loads(path.read_text())
                except ValueError:  # being written
                    pass
            time.sleep(0.1)
        raise TimeoutError("the lab did not write %s within %s s:\n%s" % (path, timeout, self.log()))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    # -- observation ----------------------------------------------------------------------------------------

    def lab_state(self) -> dict:
        out = subprocess.run([sys.executable, "-m", "exchange_lab", "show-state", "--state", str(self.state_dir)],
                             env=_lab_env(), capture_output=True, text=True, check=True, cwd=str(REPO))
        return json.loads(out.stdout)

    def mark(self) -> int:
        path = self.state_dir / "transcript.jsonl"
        if not path.exists():
            return 0
        with path.open("rb") as handle:
            return sum(1 for _ in handle)

    def transcript(self, since: int = 0) -> list[dict]:
        path = self.state_dir / "transcript.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()[since:]
        return [json.loads(line) for line in lines if line.strip()]

    def counters(self) -> dict:
        path = self.state_dir / "counters.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text()).get("servers", {})

    # -- running modules ----------------------------------------------------------------------------------------

    def server(self, name: str = "EX01") -> dict:
        return self.endpoints["servers"][name]

    def env(self, server: str = "EX01", scheme: str = "https") -> dict:
        endpoint = self.server(server)
        url = endpoint[scheme]
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("EXCHANGE_"):
                del env[key]
        env.update({
            "EXCHANGE_HOST": host,
            "EXCHANGE_PORT": port,
            "EXCHANGE_SCHEME": scheme,
            "EXCHANGE_USERNAME": self.endpoints["username"],
            "EXCHANGE_PASSWORD": self.password,
            "EXCHANGE_SERVER_FQDN": endpoint["fqdn"],
            "EXCHANGE_CA_TRUST_PATH": self.endpoints["ca_bundle"],
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
        })
        return env

    def run_module(self, name: str, args: dict, check: bool = False, diff: bool = False, server: str = "EX01",
                   extra_env: dict | None = None, scheme: str = "https") -> dict:
        """Run mailops.exchange.<name> with ``args`` through ansible-playbook; return the registered result."""
        run_dir = Path(tempfile.mkdtemp(dir=self._work))
        result_path = run_dir / "result.json"
        # JSON is YAML: the arguments go in verbatim (tests avoid Jinja delimiters in values).
        playbook = [{
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "run the module", "mailops.exchange.%s" % name: args, "register": "module_result",
                 "ignore_errors": True},
                {"name": "save the result", "ansible.builtin.copy": {
                    "content": "{{ module_result | to_json }}", "dest": str(result_path)},
                 "check_mode": False, "diff": False},
            ],
        }]
        playbook_path = run_dir / "play.yml"
        playbook_path.write_text(json.dumps(playbook, indent=1))
        command = [_ansible_playbook(), "-i", "localhost,", "-c", "local",
                   "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook_path)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        env = self.env(server, scheme)
        env.update(extra_env or {})
        mark = self.mark()
        counters_before = self.counters()
        started = time.monotonic()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=str(REPO), timeout=600)
        duration = time.monotonic() - started
        counters_after = self.counters()
        self.last_run = {
            "stdout": completed.stdout, "stderr": completed.stderr, "returncode": completed.returncode,
            "transcript": self.transcript(mark), "duration": duration,
            "counters": _delta(counters_before, counters_after),
        }
        if not result_path.exists():
            raise AssertionError("ansible-playbook did not record a result (rc=%s):\n%s\n%s"
                                 % (completed.returncode, completed.stdout[-4000:], completed.stderr[-4000:]))
        return json.loads(result_path.read_text())


def playbook_env(lab: Lab) -> dict:
    """The environment of an ``ansible-playbook`` run against ``lab`` through the lab inventory: no EXCHANGE_*
    variable of the caller, the repository's ansible.cfg and collection, plain output."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("EXCHANGE_"):
            del env[key]
    env.update({
        "MAILOPS_LAB_STATE": str(lab.state_dir), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1",
        "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
    })
    return env


def _delta(before: dict, after: dict) -> dict:
    out = {}
    for server, values in after.items():
        old = before.get(server, {})
        out[server] = {key: value - old.get(key, 0) for key, value in values.items() if isinstance(value, (int, float))}
    return out


def versions() -> list[str]:
    wanted = os.environ.get("MAILOPS_LAB_VERSIONS")
    if wanted:
        return [v.strip() for v in wanted.split(",") if v.strip()]
    return ["2013", "2016", "2019"]


def assert_one_session(lab: Lab, server: str = "EX01") -> None:
    """The last run used one shell, one PowerShell process, one Exchange-shell load; no password on a command line."""
    delta = lab.last_run["counters"].get(server, {})
    assert delta.get("shells") == 1, delta
    assert delta.get("ps_processes") == 1, delta
    assert delta.get("exchange_loads") == 1, delta
    for other, values in lab.last_run["counters"].items():
        if other != server:
            assert not values.get("shells"), (other, values)
    for line in lab.last_run["transcript"]:
        for key, value in line.items():
            if isinstance(value, str):
                assert lab.password not in value, (key, line)
        command_line = line.get("command_line")
        if command_line is not None:
            assert "command_line" not in line.get("masked", []), line
    assert lab.password not in lab.last_run["stdout"]
    assert lab.password not in lab.last_run["stderr"]


def script_texts(lab: Lab) -> list[str]:
    """The PowerShell the last run sent: each stdin line's base64 payload decoded (masked payloads kept raw)."""
    import base64
    import re

    texts = []
    for line in lab.last_run["transcript"]:
        text = line.get("script")
        if not isinstance(text, str):
            continue
        match = re.search(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", text)
        if match:
            try:
                texts.append(base64.b64decode(match.group(1)).decode("utf-8"))
                continue
            except ValueError:
                pass
        texts.append(text)
    return texts


def write_commands(lab: Lab) -> list[str]:
    """Exchange write cmdlets (Set-/New-/Remove-/Update-/Enable-/Import-) in the scripts of the last run."""
    import re

    found = []
    for text in script_texts(lab):
        found += re.findall(r"\b(?:Set|New|Remove|Update|Enable|Import)-(?!PSSession\b|Object\b|Module\b)[A-Za-z]+", text)
    return found


def assert_scripts(lab: Lab, expected: int, server: str = "EX01") -> None:
    """The last run sent ``expected`` scripts: the Exchange-shell load, ONE read and, if it changed, ONE write batch."""
    delta = lab.last_run["counters"].get(server, {})
    assert delta.get("scripts") == expected, delta


def set_faults(lab: Lab, **values) -> None:
    """Arm faults in the lab's ``faults.json`` (merged into what is there, replaced atomically).

    Not ``exchange_lab.faults.Faults.update``: the running lab rewrites the file through ``faults.tmp`` as it consumes
    counted faults, and the two writers must not share a temporary file.
    """
    path = lab.state_dir / "faults.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(values)
    tmp = path.with_suffix(".test-tmp")
    tmp.write_text(json.dumps(current))
    os.replace(tmp, path)


def faults(lab: Lab) -> dict:
    return json.loads((lab.state_dir / "faults.json").read_text())


def self_signed_pfx(path: Path, password: str, common_name: str, friendly_name: bytes):
    """Write a self-signed certificate with its RSA key to ``path`` as a password-protected PFX; return the certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        friendly_name, key, cert, None, serialization.BestAvailableEncryption(password.encode())))
    return cert
