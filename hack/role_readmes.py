#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write roles/<role>/README.md from the role's meta/argument_specs.yml (the authoritative reference).

Galaxy and Automation Hub refuse a collection whose roles have no README ("No role readme found"). Each README is
generated from the role's argument specification, so it cannot drift from what ``ansible-doc -t role`` shows:

    python hack/role_readmes.py            # (re)write every roles/*/README.md
    python hack/role_readmes.py --check    # exit 1 naming every README that is not what the specs generate

``make check`` runs ``--check`` in its docs step.
"""

import argparse
import difflib
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The tags playbooks/site.yml gives each role (the README's "Run it alone" line); read from the playbook itself.
SITE = os.path.join(ROOT, "playbooks", "site.yml")

MARKUP = re.compile(r"\b([CMPIBVOLUE])\(([^()]*)\)")


def plain(text):
    """Ansible doc markup to Markdown: C(x), M(x), P(x#kind), O(x), V(x), I(x), B(x)."""
    def convert(match):
        kind, value = match.group(1), match.group(2)
        if kind == "P":
            value = value.split("#", 1)[0]
        if kind == "L":
            label, _, url = value.partition(",")
            return "[%s](%s)" % (label.strip(), url.strip())
        if kind in ("I",):
            return "*%s*" % value
        if kind in ("B",):
            return "**%s**" % value
        return "`%s`" % value
    return MARKUP.sub(convert, text)


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def cell(text):
    return plain(" ".join(as_list(text))).replace("|", "\\|").replace("\n", " ")


def option_rows(options, prefix=""):
    rows = []
    for name in options or {}:
        spec = options[name] or {}
        kind = spec.get("type", "str")
        if kind == "list" and spec.get("elements"):
            kind = "list of %s" % spec["elements"]
        required = "yes" if spec.get("required") else ""
        default = ""
        if "default" in spec:
            default = "`%s`" % yaml.safe_dump(spec["default"], default_flow_style=True).strip().replace("\n...", "")
        choices = spec.get("choices")
        description = cell(spec.get("description"))
        if choices:
            description += " Choices: %s." % ", ".join("`%s`" % c for c in choices)
        rows.append("| `%s%s` | %s | %s | %s | %s |" % (prefix, name, kind, required, default, description))
        if spec.get("options"):
            rows.extend(option_rows(spec["options"], prefix="%s%s." % (prefix, name)))
    return rows


def site_tags():
    with open(SITE) as handle:
        plays = yaml.safe_load(handle)
    tags = {}
    for play in plays:
        for entry in play.get("roles", []):
            if isinstance(entry, dict) and "role" in entry:
                tags[entry["role"].rsplit(".", 1)[-1]] = as_list(entry.get("tags"))
        for task in play.get("tasks", []):  # the step roles, imported without Ansible's per-role validation
            if not isinstance(task, dict):
                continue
            imported = task.get("ansible.builtin.import_role") or task.get("import_role")
            if isinstance(imported, dict) and "name" in imported:
                tags[imported["name"].rsplit(".", 1)[-1]] = as_list(task.get("tags"))
    return tags


def render(role, specs, tags):
    main = specs["main"]
    lines = [
        "# mailops.exchange.%s" % role,
        "",
        plain(main.get("short_description", "")),
        "",
        "<!-- Generated from meta/argument_specs.yml by hack/role_readmes.py; edit the specs, not this file. -->",
        "",
    ]
    for paragraph in as_list(main.get("description")):
        lines.append("- %s" % plain(paragraph))
    lines += [
        "",
        "## Use",
        "",
        "The modules run on the controller and reach each Exchange server over WinRM; the role runs on the Mailbox",
        "servers of the inventory (the collection's playbook `mailops.exchange.site` runs every role in the",
        "documented order, see the collection's README).",
        "",
        "```yaml",
        "- name: Run %s alone" % role,
        "  hosts: exchange_mailbox",
        "  gather_facts: false",
        "  roles:",
        "    - role: mailops.exchange.%s" % role,
        "```",
        "",
    ]
    role_tags = [t for t in tags.get(role, []) if t != "always"]
    if role_tags:
        lines += [
            "In `mailops.exchange.site` it is tagged %s: `ansible-playbook mailops.exchange.site --tags %s` runs it"
            % (", ".join("`%s`" % t for t in role_tags), role_tags[0]),
            "alone.",
            "",
        ]
    for entry in sorted(specs, key=lambda name: (name != "main", name)):
        spec = specs[entry]
        heading = "Variables" if entry == "main" else "Entry point `%s`" % entry
        lines += ["## %s" % heading, ""]
        if entry != "main":
            lines += [plain(spec.get("short_description", "")), ""]
            for paragraph in as_list(spec.get("description")):
                lines.append("- %s" % plain(paragraph))
            lines.append("")
        rows = option_rows(spec.get("options"))
        if rows:
            lines += ["| Variable | Type | Required | Default | Description |", "| --- | --- | --- | --- | --- |"]
            lines += rows
        else:
            lines.append("None.")
        lines.append("")
    lines += [
        "`ansible-doc -t role mailops.exchange.%s` shows the same specification." % role,
        "",
        "## License",
        "",
        "GPL-3.0-or-later (see `COPYING` at the collection's root).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    tags = site_tags()
    stale = []
    roles_dir = os.path.join(ROOT, "roles")
    for role in sorted(os.listdir(roles_dir)):
        spec_path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
        if not os.path.isfile(spec_path):
            stale.append("%s: no meta/argument_specs.yml" % role)
            continue
        with open(spec_path) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        text = render(role, specs, tags)
        target = os.path.join(roles_dir, role, "README.md")
        current = open(target).read() if os.path.exists(target) else ""
        if current == text:
            continue
        if args.check:
            stale.append("roles/%s/README.md" % role)
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), "roles/%s/README.md" % role, "generated", n=1))
        else:
            with open(target, "w") as handle:
                handle.write(text)
            print("wrote roles/%s/README.md" % role)
    if stale:
        sys.exit("not what the argument specs generate (run python hack/role_readmes.py): %s" % ", ".join(stale))


if __name__ == "__main__":
    main()
