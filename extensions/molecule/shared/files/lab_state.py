"""Print the lab's organisation (``python -m exchange_lab show-state``) as JSON, ready for verify.yml's assertions.

What the lab stores raw is decoded here, independently of the collection's own code:

* each Exchange certificate's DER: subject and issuer (as RDN lists), DNS names, validity, key size, signature
  hash, whether the lab's CA signed it, and ``AllowedServices`` as service names;
* private keys are never printed (``has_private_key`` says whether the certificate has one).

Usage: lab_state.py --state DIR --lab-pythonpath DIR [--ca-bundle PEM]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

# Exchange's AllowedServices flags (Get-ExchangeCertificate's Services).
SERVICES = (("IMAP", 1), ("POP", 2), ("UM", 4), ("IIS", 8), ("SMTP", 16), ("Federation", 32), ("UMCallRouter", 64))


def rdns(name: x509.Name) -> list[str]:
    """One ``KEY=value`` string per RDN, in the order Windows prints a name (the reverse of the DER sequence)."""
    return [rdn.rfc4514_string() for rdn in reversed(list(name.rdns))]


def decode_certificate(record: dict, ca: x509.Certificate | None) -> dict:
    certificate = x509.load_der_x509_certificate(base64.b64decode(record["der"]))
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [name.lower() for name in sans.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        dns_names = []
    key = certificate.public_key()
    issued_by_ca = False
    if ca is not None:
        try:
            certificate.verify_directly_issued_by(ca)
            issued_by_ca = True
        except (InvalidSignature, ValueError, TypeError):  # a bad signature, or an issuer name that differs
            issued_by_ca = False
    now = datetime.now(timezone.utc)
    services = record.get("services", 0)
    return {
        "subject": rdns(certificate.subject),
        "issuer": rdns(certificate.issuer),
        "dns_names": dns_names,
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "days_left": (certificate.not_valid_after_utc - now).days,
        "current": certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc,
        "key_size": key.key_size if isinstance(key, rsa.RSAPublicKey) else getattr(key, "key_size", None),
        "signature_hash": certificate.signature_hash_algorithm.name if certificate.signature_hash_algorithm else None,
        "issued_by_lab_ca": issued_by_ca,
        "service_names": [name for name, flag in SERVICES if isinstance(services, int) and services & flag],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--lab-pythonpath", required=True)
    parser.add_argument("--ca-bundle")
    args = parser.parse_args()

    env = dict(os.environ, PYTHONPATH=args.lab_pythonpath)
    shown = subprocess.run(
        [sys.executable, "-m", "exchange_lab", "show-state", "--state", args.state],
        env=env, capture_output=True, text=True, check=False,
    )
    if shown.returncode != 0:
        print("exchange_lab show-state failed (%d): %s" % (shown.returncode, shown.stderr.strip()), file=sys.stderr)
        return 1
    state = json.loads(shown.stdout)

    ca = None
    if args.ca_bundle:
        with open(args.ca_bundle, "rb") as handle:
            ca = x509.load_pem_x509_certificates(handle.read())[0]

    for server in state.get("servers", {}).values():
        for record in server.get("certificates", []):
            record["has_private_key"] = bool(record.pop("key", None))
            record["x509"] = decode_certificate(record, ca)
            record.pop("der", None)
            record.pop("chain", None)
    json.dump(state, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
