"""Secrets never at rest (issue 13, case 1 and the PFX password): ``ANSIBLE_KEEP_REMOTE_FILES=1`` with site.yml over
the lab inventory, and a PFX import over the collection's connection, leave no file - at any moment of the run -
that holds the WinRM password or the PFX password, in clear text or inside an AnsiballZ payload.

The run gets temporary directories of its own (``ANSIBLE_LOCAL_TEMP``, ``ANSIBLE_REMOTE_TMP``, ``TMPDIR``,
``ANSIBLE_PERSISTENT_CONTROL_PATH_DIR``, ``HOME``); a watcher thread reads every file in them every 20 ms while the
run lasts (the AnsiballZ wrapper's payload directory exists only while a module runs), and once more at the end.
An AnsiballZ wrapper is decoded: its ``params`` (the module arguments, JSON) and every member of its ``zip_data``
(base64 zip). The test proves the watcher sees the module files and their arguments (the send connector's name is
found in them), so "no password found" is meaningful.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
from labtools import BIN, REPO, Lab, playbook_env, self_signed_pfx

pytestmark = pytest.mark.slow

PFX_PASSWORD = "Pfx-At-Rest-'$(whoami)`-\u00e9-7f3a"


def secret_forms(secret: str) -> list[bytes]:
    """The secret as it could be stored: UTF-8, JSON-escaped, Python-repr-escaped (the wrapper's params)."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
             repr(json.dumps(secret))[1:-1]}
    return [f.encode("utf-8") for f in forms if f]


def ansiballz_parts(data: bytes) -> list[tuple[str, bytes]]:
    """The decoded pieces of an AnsiballZ wrapper: ('params', JSON) and ('zip:<member>', bytes) for each member."""
    text = data.decode("utf-8", "replace")
    if "_ansiballz_main(" not in text:
        return []
    parts = []
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_ansiballz_main":
            for keyword in node.keywords:
                value = ast.literal_eval(keyword.value) if isinstance(keyword.value, ast.Constant) else None
                if keyword.arg == "params" and isinstance(value, str):
                    parts.append(("params", value.encode("utf-8")))
                    parts.append(("params-decoded", json.dumps(json.loads(value), ensure_ascii=False).encode()))
                if keyword.arg == "zip_data" and isinstance(value, str):
                    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(value)))
                    parts.extend(("zip:" + name, archive.read(name)) for name in archive.namelist())
    return parts


class Watcher(threading.Thread):
    """Reads every file under ``roots`` again and again; records where a secret was found and what it saw."""

    def __init__(self, roots, secrets: dict[str, str], marker: str):
        super().__init__(daemon=True)
        self.roots = [Path(r) for r in roots]
        self.secrets = dict((name, secret_forms(value)) for name, value in secrets.items())
        self.marker = marker.encode()
        self.found: list[tuple[str, str, str]] = []
        self.seen: dict[str, int] = {}
        self.ansiballz_with_marker = 0
        self.ansiballz = 0
        self.stop = threading.Event()
        self._checked: dict[str, tuple] = {}

    def run(self):
        while not self.stop.is_set():
            self.scan()
            time.sleep(0.02)
        self.scan()

    def scan(self):
        for root in self.roots:
            for dirpath, _dirnames, filenames in os.walk(root):
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    try:
                        info = os.lstat(path)
                        if not os.path.isfile(path) or os.path.islink(path):
                            continue
                        key = (info.st_mtime_ns, info.st_size, info.st_ino)
                        if self._checked.get(path) == key:
                            continue
                        data = Path(path).read_bytes()
                    except OSError:
                        continue
                    self._checked[path] = key
                    self.check(path, data)

    def check(self, path, data):
        self.seen[path] = self.seen.get(path, 0) + 1
        pieces = [("file", data)]
        try:
            decoded = ansiballz_parts(data)
        except Exception as exc:  # a half-written wrapper: read again at the next scan
            self._checked.pop(path, None)
            decoded = [("undecodable " + type(exc).__name__, b"")]
        if any(where == "params" for where, _unused in decoded):
            self.ansiballz += 1
            if any(self.marker in piece for where, piece in decoded if where == "params"):
                self.ansiballz_with_marker += 1
        pieces.extend(decoded)
        if path.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(data))
                pieces.extend(("zip:" + n, archive.read(n)) for n in archive.namelist())
            except (zipfile.BadZipFile, OSError, EOFError):
                self._checked.pop(path, None)
        for where, piece in pieces:
            for name, forms in self.secrets.items():
                if any(form in piece for form in forms):
                    self.found.append((name, path, where))


def run_watched(tmp_path: Path, lab: Lab, argv: list[str], secrets: dict[str, str], marker: str, extra_env=None):
    area = Path(tempfile.mkdtemp(prefix="mxr-"))  # short: a Unix socket path has at most 107 bytes
    dirs = {name: area / name for name in ("local", "remote", "tmp", "pc", "home")}
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    env = playbook_env(lab)
    env.update({
        "ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_LOCAL_TEMP": str(dirs["local"]),
        "ANSIBLE_REMOTE_TMP": str(dirs["remote"]), "TMPDIR": str(dirs["tmp"]),
        "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(dirs["pc"]), "HOME": str(dirs["home"]),
    })
    env.update(extra_env or {})
    watcher = Watcher([area], secrets, marker)
    watcher.start()
    try:
        completed = subprocess.run([str(BIN / "ansible-playbook")] + argv, env=env, cwd=str(REPO),
                                   capture_output=True, text=True, timeout=1200)
    finally:
        watcher.stop.set()
        watcher.join(60)
        shutil.rmtree(area, ignore_errors=True)
    return completed, watcher


def exchange_module_files(watcher) -> list[str]:
    """Module files of the Exchange modules that run over the connection (exchange_validate runs on the controller)."""
    return sorted(p for p in watcher.seen if "AnsiballZ_exchange_" in p and "exchange_validate" not in p)


def test_site_with_keep_remote_files_leaves_no_password_at_any_moment(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        completed, watcher = run_watched(tmp_path, lab, ["site.yml", "-i", "inventory/lab", "-vvv"],
                                         {"WinRM password": lab.password}, marker="requests")
        assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
        # The watcher saw the kept module file of the module that still runs as a process in a first run (the file
        # task that makes the directory for the certificate requests), with its arguments (that directory) ...
        assert watcher.ansiballz >= 1 and watcher.ansiballz_with_marker >= 1, (watcher.ansiballz, len(watcher.seen))
        # ... and none of an Exchange module run over the connection: they run inside Ansible's worker, no file.
        assert exchange_module_files(watcher) == [], exchange_module_files(watcher)
        print("site.yml: %d files read (%d reads), %d AnsiballZ wrappers decoded, %d with the marker"
              % (len(watcher.seen), sum(watcher.seen.values()), watcher.ansiballz, watcher.ansiballz_with_marker))
        assert watcher.found == [], watcher.found[:5]
        for text in (completed.stdout, completed.stderr):
            assert lab.password not in text
    finally:
        lab.stop()


def test_pfx_import_over_the_connection_leaves_no_pfx_password_at_any_moment(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        pfx = tmp_path / "at-rest.pfx"
        self_signed_pfx(pfx, PFX_PASSWORD, "at-rest.contoso.com", b"at-rest")
        tasks = [
            {"name": "a PFX import", "mailops.exchange.exchange_certificate": {
                "server": "EX02", "pfx_path": str(pfx), "pfx_password": "{{ lookup('env', 'T_PFX_PASSWORD') }}",
                "services": ["IMAP"]}, "register": "r_pfx"},
            {"name": "a wrong PFX password", "mailops.exchange.exchange_certificate": {
                "server": "EX02", "pfx_path": str(pfx), "pfx_password": "wrong-{{ lookup('env', 'T_PFX_PASSWORD') }}"},
             "register": "r_wrong", "ignore_errors": True},
            {"name": "outcome", "ansible.builtin.assert": {"that": [
                "r_pfx is changed", "r_wrong is failed", "'wrong password' in r_wrong.msg"]}},
            # A module that still runs as a process, with the marker in its arguments: proves the watcher sees them.
            {"name": "a module file the watcher must see", "ansible.builtin.stat": {"path": str(pfx)},
             "delegate_to": "localhost"},
        ]
        playbook = tmp_path / "pfx.yml"
        playbook.write_text(json.dumps([{"hosts": "EX02", "gather_facts": False, "tasks": tasks}]))
        completed, watcher = run_watched(
            tmp_path, lab, [str(playbook), "-i", "inventory/lab", "-vvvv"],
            {"PFX password": PFX_PASSWORD, "WinRM password": lab.password}, marker="at-rest.pfx",
            extra_env={"T_PFX_PASSWORD": PFX_PASSWORD})
        assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
        assert watcher.ansiballz_with_marker >= 1, (watcher.ansiballz, len(watcher.seen))
        assert exchange_module_files(watcher) == [], exchange_module_files(watcher)
        assert watcher.found == [], watcher.found[:5]
        for text in (completed.stdout, completed.stderr):
            assert PFX_PASSWORD not in text and lab.password not in text
        # It went over the connection, and Exchange received the password (the lab's transcript is the server).
        assert any("Import-ExchangeCertificate" in (e.get("script") or "") for e in lab.transcript())
    finally:
        lab.stop()
