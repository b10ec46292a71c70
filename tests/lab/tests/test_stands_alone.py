"""The lab stands alone (issue 15): it imports nothing from the collection, its DNS records come from a zones file,
and its CA answers the certificate role's hook (``mailops_certificate.ca_command``) through the environment.

A lab that computed its DNS with the collection's own URL planner could never catch a planning mistake: validation
would compare the plan with itself.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lab_support import LAB_ROOT, serve_args

PACKAGE = LAB_ROOT / "exchange_lab"
DEMO_ZONES = LAB_ROOT / "zones" / "demo.json"
# What would tie the lab to the collection: its import names, and the repository folder.
COLLECTION_MODULES = ("plugins", "ansible_collections", "ansible", "mailops")


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_the_lab_imports_nothing_from_the_collection():
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "import_module", "__import__", "spec_from_file_location"):
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            else:
                continue
            for name in names:
                if name.split(".")[0] in COLLECTION_MODULES:
                    found.append("%s:%d imports %s" % (path.relative_to(LAB_ROOT), node.lineno, name))
    assert found == []
    assert len(_sources()) > 20  # the walk saw the lab


def test_no_path_into_the_collection_is_written_in_the_lab():
    """Not even a file path or a dynamic import by name: no 'plugins' or 'module_utils' in the lab's code."""
    found = ["%s:%d: %s" % (path.relative_to(LAB_ROOT), number, line.strip())
             for path in _sources()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "plugins" in line or "module_utils" in line or "url_plan" in line]
    assert found == []


def test_the_lab_package_imports_without_the_repository_on_the_path(tmp_path):
    """Importing every module of the lab with only tests/lab on sys.path (run from an empty directory)."""
    modules = sorted(".".join(p.relative_to(LAB_ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for p in _sources() if p.name != "__main__.py")
    code = ("import importlib, sys\n"
            "for name in %r:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
            "print(bad)\n" % (modules, COLLECTION_MODULES))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(LAB_ROOT)
    done = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r)\n%s" % (str(LAB_ROOT), code)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def _run(*args, env=None, cwd=None):
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = str(LAB_ROOT)
    return subprocess.run([sys.executable, "-m", "exchange_lab", *args], env=environment, capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def _request(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.contoso.com")]), critical=False)
           .sign(key, hashes.SHA256()))
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return key


def test_sign_csr_answers_the_certificate_roles_hook_from_the_environment(tmp_path):
    """``mailops_certificate.ca_command`` gives the paths in MAILOPS_CSR_PATH and MAILOPS_ANSWER_PATH."""
    key = _request(tmp_path / "EX01.req")
    env = dict(os.environ, MAILOPS_CSR_PATH=str(tmp_path / "EX01.req"), MAILOPS_ANSWER_PATH=str(tmp_path / "EX01.cer"),
               MAILOPS_SERVER="EX01")
    done = _run("sign-csr", "--state", str(tmp_path / "state"), env=env)
    assert done.returncode == 0, done.stderr
    answer = x509.load_pem_x509_certificate((tmp_path / "EX01.cer").read_bytes())
    assert answer.public_key().public_numbers() == key.public_key().public_numbers()

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILOPS_")}
    missing = _run("sign-csr", "--state", str(tmp_path / "state"), env=env)
    assert missing.returncode == 2
    assert "--csr is required (or MAILOPS_CSR_PATH in the environment)" in missing.stderr


def test_serve_refuses_a_wrong_zones_file_before_listening(tmp_path):
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps({"namespace": {"external_fqdn": "mail.contoso.com"}}))
    done = _run("serve", "--state", str(tmp_path / "state"), *serve_args(), "--zones", str(zones))
    assert done.returncode == 2
    assert "zones file: unknown key(s) namespace" in done.stderr
    assert not (tmp_path / "state" / "endpoints.json").exists()
    gone = _run("serve", "--state", str(tmp_path / "state"), *serve_args(), "--namespace", str(zones))
    assert gone.returncode == 2 and "unrecognized arguments: --namespace" in gone.stderr


def _query(endpoints, view, name, rtype):
    from exchange_lab.services.dns import DnsServers

    return DnsServers.attach(endpoints["state"]).query(view, name, rtype)


def test_the_lab_holds_the_records_of_its_zones_file_and_nothing_else(lab_process):
    endpoints = lab_process(extra_args=("--zones", str(DEMO_ZONES)))
    assert _query(endpoints, "public", "contoso.com", "MX") == ["10 mail.contoso.com."]
    assert _query(endpoints, "public", "mail.contoso.com", "A") == ["203.0.113.10"]
    assert _query(endpoints, "private", "owa.contoso.com", "CNAME") == ["ex01.corp.contoso.com."]
    assert _query(endpoints, "private", "ex02.corp.contoso.com", "A") == ["127.0.0.1"]
    assert json.loads(Path(endpoints["zones"]).read_text())["public"]["contoso.com"][0]["name"] == "contoso.com"
    assert set(endpoints["validate"]["endpoints"]) == {"owa.contoso.com:443", "mail.contoso.com:587"}
    assert set(endpoints["validate"]["endpoints"]["owa.contoso.com:443"]) == {"EX01", "EX02"}


def test_without_a_zones_file_the_lab_has_only_its_servers_a_records(lab_process):
    """No default organisation: a lab started without --zones has DNS nobody has set up yet."""
    endpoints = lab_process()
    from exchange_lab.services.dns import DnsServers

    assert DnsServers.attach(endpoints["state"]).zones == {"public": [], "private": ["corp.contoso.com"]}
    assert _query(endpoints, "private", "ex01.corp.contoso.com", "A") == ["127.0.0.1"]
    assert _query(endpoints, "private", "ex02.corp.contoso.com", "A") == ["127.0.0.1"]
    assert endpoints["validate"]["endpoints"] == {}
