#!/usr/bin/env bash
# Build the collection's documentation site (plugins, roles, docs/docsite guides) as HTML with antsibull-docs and
# Sphinx, offline (hack/check.sh, step docs).
#
# Offline, Sphinx cannot fetch the intersphinx inventories of docs.ansible.com and docs.python.org, so the few
# references antsibull-docs' templates make into Ansible's own documentation stay unresolved; those (and only
# those) are allowed: the labels below and ANSIBLE_* environment variables. Any other warning fails the build.
#
# usage: docsite.sh COLLECTIONS_PATH DEST
set -euo pipefail
collections="$1" dest="$2"
allowed_labels="action_plugins|ansible_configuration_settings|common_return_values"
rm -rf "$dest"
mkdir -p "$dest"
ANSIBLE_COLLECTIONS_PATH="$collections" antsibull-docs sphinx-init --use-current --dest-dir "$dest" mailops.exchange \
  >/dev/null
python - "$dest/conf.py" <<'PYEOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
text, count = re.subn(r"(?ms)^intersphinx_mapping = \{.*?^\}\n", "intersphinx_mapping = {}  # offline\n", text)
if count != 1:
    sys.exit("conf.py: no intersphinx_mapping to replace")
open(path, "w").write(text)
PYEOF
mkdir -p "$dest/rst"
chmod og-w "$dest/rst"
ANSIBLE_COLLECTIONS_PATH="$collections" antsibull-docs --config-file "$dest/antsibull-docs.cfg" collection \
  --cleanup everything --use-current --dest-dir "$dest/rst" mailops.exchange >/dev/null
sphinx-build -M html "$dest/rst" "$dest/build" -c "$dest" -q --keep-going -w "$dest/warnings.txt" || true
unexpected="$(grep -v -E "undefined label: '($allowed_labels)'|reference target not found: ANSIBLE_[A-Z_]+ \[ref.envvar\]" \
  "$dest/warnings.txt" || true)"
if [ -n "$unexpected" ]; then
  echo "the documentation site has warnings:"; echo "$unexpected"; exit 1
fi
for page in index.html collections/mailops/exchange/index.html \
            collections/mailops/exchange/docsite/guide_procedure.html \
            collections/mailops/exchange/docsite/guide_review_awx.html \
            collections/mailops/exchange/exchange_send_connector_module.html \
            collections/mailops/exchange/send_connector_role.html; do
  [ -s "$dest/build/html/$page" ] || { echo "the documentation site lacks $page"; exit 1; }
done
echo "documentation site built: $(find "$dest/build/html/collections" -name '*.html' | wc -l) pages," \
     "$(grep -c . "$dest/warnings.txt" || true) warnings (unresolved references into Ansible's own docs, offline)"
