#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write plugins/doc_fragments/connection.py from the connection options' one table
(plugins/module_utils/connection_options.py).

ansible-test's sanity tests read a doc fragment's text as a literal, so the fragment is written, not computed; it
holds what every module documents (DOCUMENTATION) and what the mailops.exchange.exchange connection documents and
reads its options from (CONNECTION_PLUGIN):

    python hack/connection_docs.py            # (re)write the fragment
    python hack/connection_docs.py --check    # exit 1 when the fragment is not what the table gives

``make check`` runs ``--check`` in its docs step; tests/unit/modules/test_mailflow_docs.py holds it as well.
"""

import argparse
import difflib
import importlib.util
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "plugins", "module_utils", "connection_options.py")
FRAGMENT = os.path.join(ROOT, "plugins", "doc_fragments", "connection.py")

HEADER = '''# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by hack/connection_docs.py from plugins/module_utils/connection_options.py - edit the table, not this file.


class ModuleDocFragment:
    # The connection options of every mailops.exchange module (CONNECTION_ARGUMENT_SPEC).
    DOCUMENTATION = r\'\'\'
{documentation}\'\'\'

    # The same options for the mailops.exchange.exchange connection (extends_documentation_fragment:
    # mailops.exchange.connection.connection_plugin), each read from the variables and environment it lists.
    CONNECTION_PLUGIN = r\'\'\'
{connection}\'\'\'
'''


class _Dumper(yaml.SafeDumper):
    """Block YAML with indented sequences (ansible-lint's and yamllint's indentation)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _yaml(data):
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=116, allow_unicode=True)


def table():
    spec = importlib.util.spec_from_file_location("connection_options", TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render():
    options = table()
    return HEADER.format(documentation=_yaml(options.module_fragment()),
                         connection=_yaml(options.connection_fragment()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the fragment is not what the table gives")
    args = parser.parse_args(argv)
    text = render()
    with open(FRAGMENT, encoding="utf-8") as handle:
        current = handle.read()
    if args.check:
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       FRAGMENT, "generated"))
            print("%s is not what the table gives: run python hack/connection_docs.py" % FRAGMENT, file=sys.stderr)
            return 1
        return 0
    if current != text:
        with open(FRAGMENT, "w", encoding="utf-8") as handle:
            handle.write(text)
        print("wrote %s" % os.path.relpath(FRAGMENT, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
