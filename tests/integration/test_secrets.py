"""Secrets (issue 7): the account password and the PFX password never leak; TLS validation is the default;
insecure settings warn; CSR files are private.

One playbook run at ``-vvvv`` with ``--diff`` and an Ansible log file does everything that could leak: a write with a
diff, a certificate request (CSR file), a PFX import, a PFX import with a wrong PFX password, and a run with a wrong
account password passed as a module option. Every output is then searched for every secret: the registered results,
the ``-vvvv`` stdout/stderr, the log file, the lab transcript (the command lines for every secret; every field for
the account password), and every file the run left on the controller (under /tmp, $HOME and the repository).
The secrets reach the playbook only through environment lookups, so the playbook file itself holds none.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from labtools import REPO, _ansible_playbook, self_signed_pfx

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import CONNECTION_ARGUMENT_SPEC

pytestmark = pytest.mark.slow

PFX_PASSWORD = "Pfx-S3cret-'$(whoami)`-\u00e9"
WRONG_PASSWORD = "Wr0ng-Acc0unt-Passw0rd-x9"



def _files_changed_since(roots, since: float, exclude):
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if any(str(dirpath).startswith(str(ex)) for ex in exclude):
                dirnames[:] = []
                continue
            dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules", "proc")]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_mtime >= since and info.st_size < 20_000_000:
                    yield path


def test_secrets_never_leak(lab, tmp_path):
    work = tmp_path / "controller"
    work.mkdir()
    pfx = work / "secret.pfx"
    self_signed_pfx(pfx, PFX_PASSWORD, "secret-test.contoso.com", b"secret-test")
    csr = work / "secret.req"
    results = work / "results.json"
    log = work / "ansible.log"
    password = lab.password
    secrets = {"account password": password, "PFX password": PFX_PASSWORD, "wrong password": WRONG_PASSWORD}

    tasks = [
        {"name": "a write with a diff", "mailops.exchange.exchange_send_connector": {
            "name": "Secret test", "usage": "Internet", "address_spaces": ["*"], "dns_routing_enabled": True,
            "fqdn": "mail.contoso.com", "comment": "secrets test"}, "register": "r_write"},
        {"name": "a certificate request", "mailops.exchange.exchange_certificate": {
            "server": "EX02", "state": "requested", "subject_name": "CN=secret-req.contoso.com",
            "domain_names": ["secret-req.contoso.com"], "csr_path": str(csr)}, "register": "r_request"},
        {"name": "a PFX import", "mailops.exchange.exchange_certificate": {
            "server": "EX02", "pfx_path": str(pfx), "pfx_password": "{{ lookup('env', 'T_PFX_PASSWORD') }}",
            "services": ["IMAP"]}, "register": "r_pfx"},
        {"name": "a wrong PFX password", "mailops.exchange.exchange_certificate": {
            "server": "EX02", "pfx_path": str(pfx), "pfx_password": "{{ lookup('env', 'T_WRONG_PASSWORD') }}"},
         "register": "r_pfx_wrong", "ignore_errors": True},
        {"name": "a wrong account password", "mailops.exchange.exchange_info": {
            "gather": ["accepted_domains"], "exchange_password": "{{ lookup('env', 'T_WRONG_PASSWORD') }}"},
         "register": "r_auth_wrong", "ignore_errors": True},
        {"name": "save the results", "ansible.builtin.copy": {
            "content": "{{ {'write': r_write, 'request': r_request, 'pfx': r_pfx, 'pfx_wrong': r_pfx_wrong, "
                       "'auth_wrong': r_auth_wrong} | to_json }}", "dest": str(results)}, "diff": False},
    ]
    playbook = work / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], indent=1))
    for name, secret in secrets.items():
        assert secret not in playbook.read_text(), name

    env = lab.env("EX02")
    env.update(T_PFX_PASSWORD=PFX_PASSWORD, T_WRONG_PASSWORD=WRONG_PASSWORD, ANSIBLE_LOG_PATH=str(log))
    since = time.time() - 1
    mark = lab.mark()
    completed = subprocess.run([_ansible_playbook(), "-vvvv", "--diff", "-i", "localhost,", "-c", "local",
                                "-e", "ansible_python_interpreter=%s" % os.sys.executable, str(playbook)],
                               env=env, capture_output=True, text=True, cwd=str(REPO), timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    outcome = json.loads(results.read_text())

    # The tasks did what they should (so the search below covers real work, not early failures).
    assert outcome["write"]["changed"] is True and "diff" in outcome["write"], outcome["write"]
    assert outcome["request"]["changed"] is True, outcome["request"]
    assert outcome["pfx"]["changed"] is True, outcome["pfx"]
    assert outcome["pfx_wrong"]["failed"] is True and "wrong password" in outcome["pfx_wrong"]["msg"]
    assert outcome["auth_wrong"]["failed"] is True and "authentication failed" in outcome["auth_wrong"]["msg"]
    assert "ConvertTo-SecureString '********'" in " ".join(outcome["pfx"]["commands"])

    # CSR file: private.
    assert stat.S_IMODE(os.stat(csr).st_mode) == 0o600

    # Nowhere in what the controller showed or kept.
    shown = {"results": results.read_text(), "-vvvv stdout": completed.stdout, "-vvvv stderr": completed.stderr,
             "ansible log": log.read_text(errors="replace")}
    assert "--diff" not in shown["results"]  # sanity: the results file is the module output
    for where, text in shown.items():
        for name, secret in secrets.items():
            assert secret not in text, (name, where)
    # The -vvvv output does show the module arguments (masked), so the search above is meaningful.
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in completed.stdout

    # The lab's transcript: no secret on any command line; the account password in no field (the lab masks the
    # passwords it knows, so "masked" must not name a command line either).
    transcript = lab.transcript(mark)
    assert transcript
    for line in transcript:
        command_line = line.get("command_line") or ""
        for name, secret in secrets.items():
            assert secret not in command_line, (name, line)
        assert "command_line" not in line.get("masked", []), line
        for key, value in line.items():
            if isinstance(value, str):
                assert password not in value, (key, line)

    # Files left on the controller by the run: none holds a secret (the lab's own state directory, which stores
    # its user's password by design, and this test's PFX are excluded).
    leftovers = list(_files_changed_since([Path("/tmp"), Path.home(), REPO], since,
                                          exclude=[lab.state_dir, Path("/proc")]))
    assert str(results) in leftovers and str(csr) in leftovers  # the search does see the run's files
    for path in leftovers:
        if path == str(pfx):
            continue
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        for name, secret in secrets.items():
            assert secret.encode("utf-8") not in data, (name, path)
    # Ansible's remote temp files (the module with its arguments) are gone. Other tests' ansible runs on the other
    # pytest worker have theirs in flight for a few seconds; a leftover is one that is still there after that.
    temp_files = [p for p in leftovers if "AnsiballZ" in p or "ansible-tmp-" in p]
    if temp_files:
        time.sleep(10)
    assert not [p for p in temp_files if os.path.exists(p)], temp_files


def test_tls_validation_is_on_by_default():
    assert CONNECTION_ARGUMENT_SPEC["exchange_cert_validation"]["default"] == "validate"
    assert CONNECTION_ARGUMENT_SPEC["exchange_scheme"]["default"] == "https"
    assert CONNECTION_ARGUMENT_SPEC["exchange_password"]["no_log"] is True


def test_default_connection_refuses_an_unknown_ca_and_does_not_warn(lab):
    import certifi  # the public CAs: what a controller trusts without exchange_ca_trust_path

    result = lab.run_module("exchange_info", {"gather": ["accepted_domains"]},
                            extra_env={"EXCHANGE_CA_TRUST_PATH": certifi.where()})
    assert result.get("failed") is True
    assert "TLS certificate validation failed" in result["msg"] and "exchange_ca_trust_path" in result["msg"]
    result = lab.run_module("exchange_info", {"gather": ["accepted_domains"]})
    assert result.get("failed") is not True, result
    assert not [w for w in result.get("warnings", []) if "clear text" in w or "not checked" in w]


def test_insecure_settings_warn(lab):
    result = lab.run_module("exchange_info", {"gather": ["accepted_domains"]}, scheme="http",
                            extra_env={"EXCHANGE_TRANSPORT": "basic"})
    assert result.get("failed") is not True, result
    assert any("clear text" in w for w in result.get("warnings", [])), result.get("warnings")
    assert lab.password not in json.dumps(result) + lab.last_run["stdout"]
    # The lab saw Basic over plain HTTP (what the warning is about).
    assert any(line.get("kind") == "http" and line.get("encrypted") is False for line in lab.last_run["transcript"])

    result = lab.run_module("exchange_info", {"gather": ["accepted_domains"]},
                            extra_env={"EXCHANGE_CERT_VALIDATION": "ignore"})
    assert result.get("failed") is not True, result
    assert any("not checked" in w for w in result.get("warnings", [])), result.get("warnings")
