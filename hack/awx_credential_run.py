# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module the way an AWX job with the Exchange credential runs it (hack/check.sh, step lab).

The credential's inputs are taken from the running lab's endpoints.json (one server); the injectors of
awx/credential_type.yml are rendered as AWX renders them (sandboxed Jinja2, file injector written to a temporary
file, its path in ``tower.filename``); then ``ansible localhost -m mailops.exchange.exchange_info`` runs with that
environment and NO connection option on its command line - the module must reach the lab through the injected
``EXCHANGE_*`` variables alone.

usage: awx_credential_run.py ENDPOINTS_JSON SERVER WORKDIR
"""

import json
import os
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def main(endpoints_path, server, workdir):
    with open(endpoints_path) as handle:
        lab = json.load(handle)
    with open(os.path.join(ROOT, "awx", "credential_type.yml")) as handle:
        credential_type = yaml.load(handle, Loader=_Loader)["mailops_exchange_credential_type"]
    with open(lab["ca_bundle"]) as handle:
        ca_pem = handle.read()
    https = urlsplit(lab["servers"][server]["https"])
    inputs = {
        "host": https.hostname, "port": str(https.port), "username": lab["username"], "password": lab["password"],
        "ca_trust_pem": ca_pem, "server_fqdn": lab["servers"][server]["fqdn"],
    }
    namespace = {field["id"]: field.get("default") for field in credential_type["inputs"]["fields"]}
    namespace.update(inputs)
    environment = ImmutableSandboxedEnvironment()
    files = {}
    for name, template in (credential_type["injectors"].get("file") or {}).items():
        handle, path = tempfile.mkstemp(dir=workdir, prefix="awx_")
        with os.fdopen(handle, "w") as out:
            out.write(environment.from_string(template).render(**namespace))
        files[name.split(".", 1)[1]] = path
    namespace["tower"] = {"filename": files}
    env = {name: environment.from_string(template).render(**namespace)
           for name, template in credential_type["injectors"]["env"].items()}

    run_env = {key: value for key, value in os.environ.items() if not key.startswith("EXCHANGE_")}
    run_env.update(env)
    command = ["ansible", "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "mailops.exchange.exchange_info", "-a", "gather=accepted_domains"]
    result = subprocess.run(command, env=run_env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    print(result.stdout.replace(lab["password"], "********"))
    if result.returncode != 0 or "SUCCESS" not in result.stdout:
        sys.exit("the module did not reach the lab through the credential's environment (%s)" % sorted(env))
    print("AWX credential injection OK: %s" % ", ".join(sorted(env)))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.rsplit("usage: ", 1)[1])
    main(*sys.argv[1:])
