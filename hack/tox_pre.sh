#!/usr/bin/env bash
# tox-ansible.ini's commands_pre: tox-ansible's own preparation of an environment, with ansible-core from the package
# index. tox-ansible runs `ade install --acv stable-<X.Y>`, which downloads the stable-<X.Y> branch archive from
# GitHub; CI reaches only the package index, so the newest ansible-core <X.Y>.* release is installed from there
# first and ade (ansible-dev-environment, as tox-ansible calls it) then installs the collection next to it without
# touching ansible-core, built from the tarball's content, in a git repository of its own as tox-ansible does for
# sanity (ansible/ansible#68499).
#
# usage: tox_pre.sh ENV_NAME ENV_DIR      (ENV_NAME as tox-ansible names it: <type>-py<X.Y>-<core X.Y>)
set -euo pipefail
env_name="$1" env_dir="$2"
IFS=- read -r kind py core <<<"$env_name"
py="${py#py}"
case "$core" in
  [0-9]*.[0-9]*) ;;
  *) echo "tox_pre.sh: $env_name: the ansible-core factor must be a release (X.Y) here" >&2; exit 2 ;;
esac
next="${core%%.*}.$(( ${core#*.} + 1 ))"
"$env_dir/bin/python" -m pip install --quiet "ansible-core>=$core,<$next"
"$env_dir/bin/ansible" --version | head -1
# Not editable: ansible-test does not follow ade's per-entry symlinks; every kind gets the collection built from the
# tarball's content (what users install).
set +e
"$env_dir/bin/ade" install --venv "$env_dir" --no-seed --im none .
rc=$?
set -e
# ade exits 2 for warnings (tox-ansible accepts it too).
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then exit "$rc"; fi
installed="$env_dir/lib/python$py/site-packages/ansible_collections/mailops/exchange"
# ansible-test lists a collection's files with git when it sits inside a git work tree - here the repository's
# .tox/, which .gitignore hides - so it would see no file at all (ansible/ansible#68499): a repository of its own.
(cd "$installed" && { git init -q -b main . 2>/dev/null || git init -q .; })
# ansible-test bootstraps pip in the virtual environments it makes for sanity tests with a script it downloads from
# outside the package index; hack/ansible_test_get_pip.py stands in for it (as in hack/check.sh), in this
# environment's own HOME (tox-ansible.ini).
if [ "$kind" = sanity ]; then
  pip_version="$("$env_dir/bin/python" -c 'import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])')"
  mkdir -p "$HOME/.ansible/test/cache"
  cp hack/ansible_test_get_pip.py "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
fi
