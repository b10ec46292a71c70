"""The lab stands alone (issue 15): what the collection ships never runs the lab, and the certificate role's CA hook
(``mailops_certificate.ca_command``) is what the lab's inventories use to have the lab's CA answer.

- The built tarball: no role, plugin or playbook refers to the lab (``exchange_lab``) or to its variables.
- The hook, through the real ``site.yml`` (step 6 alone) against a lab: not run in check mode; its argv reaches the
  program as given (no shell); its environment names the request, the answer and the server; an answer it leaves
  completes the request in the same run; a failing CA fails the run for the server, with what the CA said.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

from labtools import BIN, LAB_ROOT, REPO, Lab
from test_review_before_you_touch import recap, site

LAB_NAMES = (b"exchange_lab", b"sign_with_lab_ca", b"mailops_lab_")


def test_the_built_collection_does_not_run_the_lab(tmp_path):
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, text=True, cwd=str(REPO))
    tarball = next(tmp_path.glob("mailops-exchange-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        assert not [m.name for m in members if m.name.startswith("tests/lab")]
        shipped = [m for m in members if m.name.startswith(("roles/", "plugins/", "playbooks/", "meta/", "docs/"))]
        assert [m for m in shipped if m.name.startswith("roles/certificate/")]
        found = sorted("%s: %s" % (m.name, name.decode()) for m in shipped
                       for name in LAB_NAMES if name in tar.extractfile(m).read())
    assert found == []


HOOK = '''import json, os, subprocess, sys
record = {"argv": sys.argv[1:], "csr": os.environ.get("MAILOPS_CSR_PATH"),
          "answer": os.environ.get("MAILOPS_ANSWER_PATH"), "server": os.environ.get("MAILOPS_SERVER")}
with open(%(log)r, "a") as log:
    log.write(json.dumps(record) + "\\n")
if %(fail)r:
    sys.stderr.write("the CA is unreachable (test)\\n")
    sys.exit(3)
sys.exit(subprocess.call([sys.executable, "-m", "exchange_lab", "sign-csr", "--state", %(state)r],
                         env=dict(os.environ, PYTHONPATH=%(lab)r)))
'''


def _hook(tmp_path, lab, name, fail=False):
    script = tmp_path / ("%s.py" % name)
    log = tmp_path / ("%s.jsonl" % name)
    script.write_text(HOOK % {"log": str(log), "fail": fail, "state": str(lab.state_dir), "lab": str(LAB_ROOT)})
    # Arguments a shell would split or expand: they must reach the program as they are.
    return [sys.executable, str(script), "two words; echo shell", "$HOME"], log


def _records(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_ca_hook_answers_the_request_in_the_same_run(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        requests = lab.state_dir / "requests"
        certificate = {"subject_name": "C=US, O=Contoso, CN=mail.contoso.com", "friendly_name": "Contoso mail",
                       "request_dir": str(requests), "services": ["IIS", "SMTP"]}

        command, log = _hook(tmp_path, lab, "review")
        review = site(lab, "--check", "--tags", "step6", extra_vars={"mailops_certificate": dict(certificate, ca_command=command)})
        assert review.returncode == 0, review.stdout[-6000:]
        assert _records(log) == []  # check mode: the CA is not asked
        assert "EX01 is waiting for its CA" in " ".join(review.stdout.split())

        command, log = _hook(tmp_path, lab, "failing", fail=True)
        failing = site(lab, "--tags", "step6", extra_vars={"mailops_certificate": dict(certificate, ca_command=command)})
        assert failing.returncode != 0
        hosts = recap(failing.stdout)
        assert hosts["EX01"]["failed"] == 1 and hosts["EX02"]["failed"] == 1, hosts
        assert "the CA is unreachable (test)" in failing.stdout
        assert sorted(r["server"] for r in _records(log)) == ["EX01", "EX02"]
        assert not list(requests.glob("*.cer"))

        command, log = _hook(tmp_path, lab, "answering")
        answered = site(lab, "--tags", "step6", extra_vars={"mailops_certificate": dict(certificate, ca_command=command)})
        assert answered.returncode == 0, answered.stdout[-6000:]
        hosts = recap(answered.stdout)
        assert all(c["failed"] == 0 for c in hosts.values()), hosts
        records = sorted(_records(log), key=lambda r: r["server"])
        assert records == [{"argv": ["two words; echo shell", "$HOME"], "csr": str(requests / ("%s.req" % server)),
                            "answer": str(requests / ("%s.cer" % server)), "server": server}
                           for server in ("EX01", "EX02")]
        # Completed, enabled and checked in the same run (the step's own check: status, services, names).
        assert (requests / "EX01.cer").is_file() and (requests / "EX02.cer").is_file()
        assert "is waiting for its CA:" not in answered.stdout

        again = site(lab, "--tags", "step6", extra_vars={"mailops_certificate": dict(certificate, ca_command=command)})
        assert again.returncode == 0, again.stdout[-6000:]
        assert len(_records(log)) == 2  # nothing pending any more: the CA is not asked again
        assert all(c["changed"] == 0 for c in recap(again.stdout).values()), recap(again.stdout)
    finally:
        lab.stop()
