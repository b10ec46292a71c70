# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for ansible-test's pip bootstrap script (``get-pip-<version>.py``).

ansible-test creates every sanity/units virtual environment ``--without-pip`` and then downloads
``get-pip-<version>.py`` from a host that CI cannot reach. hack/check.sh copies this file to
``~/.ansible/test/cache/get_pip_<version>.py`` (only when no real bootstrap script is cached there), where
ansible-test's ``quiet_pip.py`` runs it as ``__main__`` with get-pip's arguments, e.g.
``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.

It does what get-pip does, from reachable sources only: ``ensurepip`` (the pip wheel bundled with CPython)
puts a pip into the environment, that pip installs the exact packages ansible-test asked for from the package
index, and the setuptools that ensurepip may add is removed again when get-pip was told ``--no-setuptools``.
"""

import subprocess
import sys

GET_PIP_ONLY_FLAGS = ("--no-setuptools", "--no-wheel")


def main(argv):
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + pip_args)
    if "--no-setuptools" in argv:
        subprocess.call([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"])
    if "--no-wheel" in argv:
        subprocess.call([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "wheel"],
                        stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main(sys.argv[1:])
