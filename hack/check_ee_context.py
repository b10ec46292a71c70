# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the build context `ansible-builder create` generated from execution-environment.yml (hack/check.sh).

There is no container engine in CI, so the image itself is not built; what the build would do is checked instead:

* the Containerfile installs the collection from the tarball copied into the context, with the ansible-core and
  Python the EE file asks for, and runs ansible-builder's introspection of the installed collections;
* the tarball in the context is byte for byte the one `ansible-galaxy collection build` produced;
* the introspection that runs inside the build (the same code, ``ansible-builder introspect``), applied to that
  tarball installed into an empty collections path, yields the collection's Python requirements (pywinrm and the
  rest of requirements.txt, without ansible-core, which the EE installs itself) and its bindep.txt.

usage: check_ee_context.py CONTEXT TARBALL INSTALLED_COLLECTIONS_PATH REPO_ROOT
"""

import filecmp
import os
import re
import subprocess
import sys

import yaml


def fail(message):
    sys.stderr.write("EE context check failed: %s\n" % message)
    sys.exit(1)


def requirement_names(path):
    names = []
    with open(path) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(re.split(r"[<>=!~\[; ]", line, 1)[0].lower())
    return names


def main(context, tarball, installed, root):
    with open(os.path.join(root, "execution-environment.yml")) as handle:
        ee = yaml.safe_load(handle)
    if ee.get("version") != 3:
        fail("execution-environment.yml must use ansible-builder schema version 3")

    containerfile = None
    for name in ("Containerfile", "Dockerfile"):
        if os.path.exists(os.path.join(context, name)):
            containerfile = os.path.join(context, name)
    if containerfile is None:
        fail("no Containerfile in %s" % context)
    with open(containerfile) as handle:
        text = handle.read()

    base = ee["images"]["base_image"]["name"]
    expected_lines = [
        'ARG EE_BASE_IMAGE="%s"' % base,
        'ARG PYCMD="%s"' % ee["dependencies"]["python_interpreter"]["python_path"],
        "COPY _build/collections/ /build/collections/",
        "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml",
        "introspect.py introspect",
        "/output/scripts/install-from-bindep",
    ]
    for line in expected_lines:
        if line not in text:
            fail("%s lacks %r" % (containerfile, line))
    core = ee["dependencies"]["ansible_core"]["package_pip"]
    if core not in text:
        fail("%s does not install %s" % (containerfile, core))

    copied = os.path.join(context, "_build", "collections", os.path.basename(tarball))
    if not os.path.exists(copied) or not filecmp.cmp(copied, tarball, shallow=False):
        fail("the context does not hold the built tarball %s" % os.path.basename(tarball))

    with open(os.path.join(context, "_build", "requirements.yml")) as handle:
        galaxy = yaml.safe_load(handle)
    entries = galaxy.get("collections") or []
    if entries != [{"name": "/build/collections/mailops-exchange.tar.gz", "type": "file"}]:
        fail("unexpected galaxy requirements in the context: %r" % (entries,))
    if "mv /build/collections/mailops-exchange-*.tar.gz /build/collections/mailops-exchange.tar.gz" not in text:
        fail("the Containerfile does not put the tarball where requirements.yml expects it")

    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    output = subprocess.check_output([builder, "introspect", "--sanitize", installed], universal_newlines=True)
    data = yaml.safe_load(output.split("\n", 1)[1] if output.startswith("#") else output) or {}
    python = [re.split(r"[<>=!~\[; ]", entry, 1)[0].lower() for entry in data.get("python") or []]
    system = [entry.split("#", 1)[0].strip() for entry in data.get("system") or []]

    # meta/ee-requirements.txt is requirements.txt (ansible-core aside) with pywinrm's Kerberos and CredSSP extras.
    with open(os.path.join(root, "meta", "execution-environment.yml")) as handle:
        meta = yaml.safe_load(handle)
    if meta["dependencies"]["python"] != "meta/ee-requirements.txt":
        fail("meta/execution-environment.yml must name meta/ee-requirements.txt")
    wanted = [name for name in requirement_names(os.path.join(root, "requirements.txt")) if name != "ansible-core"]
    ee_names = requirement_names(os.path.join(root, "meta", "ee-requirements.txt"))
    if sorted(ee_names) != sorted(wanted):
        fail("meta/ee-requirements.txt lists %s, requirements.txt %s" % (sorted(ee_names), sorted(wanted)))
    extras = set()
    for entry in data.get("python") or []:
        match = re.match(r"pywinrm\[([^\]]*)\]", entry.strip(), re.I)
        if match:
            extras.update(extra.strip().lower() for extra in match.group(1).split(","))
    if not {"kerberos", "credssp"} <= extras:
        fail("the EE's pywinrm lacks the kerberos/credssp extras (got %s)" % (data.get("python"),))
    missing = sorted(set(wanted) - set(python))
    if missing:
        fail("introspection of the installed collection misses Python requirements %s (got %s)" % (missing, python))
    if "ansible-core" in python:
        fail("ansible-core must not come from the collection's requirements inside the EE")
    for line in open(os.path.join(root, "bindep.txt")):
        line = line.split("#", 1)[0].strip()
        if line and line not in system:
            fail("introspection misses the bindep entry %r (got %s)" % (line, system))
    # The builder stage compiles pykerberos: the compiler and the Kerberos headers for the base image's packaging
    # (rpm), and the chosen interpreter's headers from the EE file.
    for needed in ("gcc [compile platform:rpm]", "krb5-devel [compile platform:rpm]"):
        if needed not in system:
            fail("bindep.txt lacks %r for the builder stage" % needed)
    interpreter = ee["dependencies"]["python_interpreter"]["package_system"]
    ee_system = ee["dependencies"].get("system") or []
    if "%s-devel [compile platform:rpm]" % interpreter not in ee_system:
        fail("execution-environment.yml does not add %s-devel to the builder stage" % interpreter)
    with open(os.path.join(context, "_build", "bindep.txt")) as handle:
        if "%s-devel" % interpreter not in handle.read():
            fail("the context's _build/bindep.txt lacks %s-devel" % interpreter)
    print("EE context OK: %s; Python %s; system %d bindep entries" % (os.path.basename(containerfile),
                                                                  ", ".join(python), len(system)))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        fail(__doc__.rsplit("usage: ", 1)[1])
    main(*sys.argv[1:])
