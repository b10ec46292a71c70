"""site.yml with a PFX instead of a request (step 6's other source): imported and enabled on every server, validated,
and the PFX password in no line of the (verbose) output - it is never part of mailops_model, which is a fact."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from labtools import LAB_ROOT, REPO, Lab
from test_review_before_you_touch import recap, site

PFX_PASSWORD = "Pfx-Secret-7f3a9c"
NAMES = ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]


def ca_issued_pfx(lab: Lab, path) -> str:
    """A PFX whose certificate the lab's CA issued for the plan's names; returns its thumbprint (upper-case hex)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), critical=False)
           .sign(key, hashes.SHA256()))
    request, answer = path.with_suffix(".req"), path.with_suffix(".cer")
    request.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    subprocess.run([sys.executable, "-m", "exchange_lab", "sign-csr", "--state", str(lab.state_dir), "--csr",
                    str(request), "--out", str(answer)], check=True, cwd=str(REPO),
                   env=dict(os.environ, PYTHONPATH=str(LAB_ROOT)))
    certificate = x509.load_pem_x509_certificate(answer.read_bytes())
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"Contoso mail", key, certificate, None, serialization.BestAvailableEncryption(PFX_PASSWORD.encode())))
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def test_site_with_a_pfx_imports_it_everywhere_and_never_shows_its_password(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        pfx = tmp_path / "contoso.pfx"
        thumbprint = ca_issued_pfx(lab, pfx)
        certificate = {"pfx_path": str(pfx), "pfx_password": PFX_PASSWORD, "friendly_name": "Contoso mail",
                       "services": ["IIS", "SMTP"]}
        first = site(lab, "-v", extra_vars={"mailops_certificate": certificate})
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        assert PFX_PASSWORD not in first.stdout + first.stderr
        second = site(lab, "-v", extra_vars={"mailops_certificate": certificate})
        assert second.returncode == 0, second.stdout[-6000:]
        assert all(c["changed"] == 0 for c in recap(second.stdout).values()), recap(second.stdout)
        assert PFX_PASSWORD not in second.stdout + second.stderr
        for name in ("EX01", "EX02"):  # each server's own stores are read on that server
            info = lab.run_module("exchange_info", {"gather": ["certificates"], "servers": [name]}, server=name)
            installed = [c for c in info["servers"][0]["certificates"] if c["thumbprint"] == thumbprint]
            assert installed and {"IIS", "SMTP"} <= set(installed[0]["services"] or []), (name, installed)
    finally:
        lab.stop()
