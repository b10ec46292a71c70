#!/usr/bin/env bash
# Debian packages the lab needs (BIND 9 for the lab's public and private DNS views), and what `make check` needs to
# build the execution environment's Kerberos support (pykerberos: a C compiler and the Kerberos headers, as
# bindep.txt's compile profile names them).
# Installs only what is missing, so a warm machine pays nothing.
set -euo pipefail
missing=()
command -v named >/dev/null 2>&1 || missing+=(bind9)
command -v named-checkconf >/dev/null 2>&1 || missing+=(bind9-utils)
command -v krb5-config >/dev/null 2>&1 || missing+=(libkrb5-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root or install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
