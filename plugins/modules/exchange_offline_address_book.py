#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_offline_address_book
short_description: Set how an Exchange offline address book is distributed (the Exchange 2013 OAB step)
version_added: "0.1.0"
description:
  - Sets C(GlobalWebDistributionEnabled) and C(VirtualDirectories) of an offline address book
    (C(Set-OfflineAddressBook)).
  - On Exchange 2013 Microsoft's "Configure mail flow and client access" ends the internal URL step with
    C(Get-OfflineAddressBook | Set-OfflineAddressBook -GlobalWebDistributionEnabled $True -VirtualDirectories $Null)
    so that Autodiscover can pick the right OAB virtual directory; O(name=*) with
    O(global_web_distribution_enabled=true) is exactly that step.
  - One read (every offline address book and every OAB virtual directory of the organisation), a comparison on
    the controller and at most one C(Set-OfflineAddressBook) per offline address book.
  - A task that writes reads its object back in the same round trip as the writes; what it returns (and its diff's
    C(after)) is what Exchange reads. A write that ran without an error but did not take fails the task, naming the
    cmdlet, the object and each parameter still to change (C(still_to_change) in the result); a task that writes
    nothing reads once.
author:
  - mailops.exchange developers (!UNKNOWN)
extends_documentation_fragment:
  - mailops.exchange.connection
  - mailops.exchange.attributes
options:
  name:
    description:
      - Name of the offline address book.
      - C(*) manages every offline address book of the organisation (the procedure's
        C(Get-OfflineAddressBook | Set-OfflineAddressBook)).
    type: str
    default: Default Offline Address Book
  global_web_distribution_enabled:
    description:
      - C(true) lets every OAB virtual directory of the organisation serve this offline address book (Autodiscover
        chooses the closest one); C(false) restricts it to O(virtual_directories).
      - Exchange does not use C(VirtualDirectories) together with global web distribution, so C(true) also clears
        the virtual directory list (as the procedure's C(-VirtualDirectories $Null)) unless it is already empty;
        giving O(virtual_directories) entries together with C(true) is refused.
      - Omitted leaves the setting alone.
    type: bool
  virtual_directories:
    description:
      - The OAB virtual directories that distribute this offline address book, as identities
        (C(EX01\OAB (Default Web Site))) or server names (C(EX01), meaning that server's C(OAB (Default Web Site))).
      - Compared as a set, case-insensitively. An empty list clears it (C(-VirtualDirectories $null)); omitted
        leaves it alone. Every entry must be an existing OAB virtual directory; the module checks before any write.
    type: list
    elements: str
notes:
  - Exchange 2016 and later need no change here (their offline address books are generated and distributed by
    mailboxes), but the settings exist on every version and the module manages them the same way.
seealso:
  - module: mailops.exchange.exchange_vdir_url
  - name: Configure mail flow and client access (Exchange 2013)
    description: The procedure whose OAB step this module automates.
    link: https://learn.microsoft.com/previous-versions/exchange-server/exchange-150/jj218640(v=exchg.150)
'''

EXAMPLES = r'''
- name: The Exchange 2013 step - every OAB distributed by every OAB virtual directory
  mailops.exchange.exchange_offline_address_book:
    name: "*"
    global_web_distribution_enabled: true

- name: Distribute the default OAB from two servers only
  mailops.exchange.exchange_offline_address_book:
    global_web_distribution_enabled: false
    virtual_directories:
      - EX01
      - EX02\OAB (Default Web Site)
'''

RETURN = r'''
offline_address_books:
  description: The managed offline address books after the run (predicted in check mode), in the shape of the
    module's options.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the offline address book.
      type: str
      sample: Default Offline Address Book
    global_web_distribution_enabled:
      description: GlobalWebDistributionEnabled.
      type: bool
      sample: true
    virtual_directories:
      description: Identities of the OAB virtual directories that distribute it.
      type: list
      elements: str
      sample: []
    is_default:
      description: Whether it is the organisation's default offline address book.
      type: bool
      sample: true
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - Set-OfflineAddressBook -Identity '\Default Offline Address Book' -GlobalWebDistributionEnabled:$true -VirtualDirectories $null
diff:
  description: Before and after of the managed offline address books (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import OFFLINE_ADDRESS_BOOK

# Every value is read through its string form (the table's "flag" and "strings" kinds): the same for live objects
# (EMS, snap-in) and for what a plain Import-PSSession delivers.
READ_SCRIPT = """$oabs = @(Get-OfflineAddressBook | ForEach-Object { [ordered]@{
""" + OFFLINE_ADDRESS_BOOK.projection(keys="info", indent="    ") + """
} })
$vdirs = @(Get-OabVirtualDirectory -ADPropertiesOnly | ForEach-Object { [ordered]@{
    identity = [string]$_.Identity
    server = [string]$_.Server
} })
ConvertTo-Json -Depth 5 -Compress -InputObject ([ordered]@{ offline_address_books = $oabs; virtual_directories = $vdirs })
"""

DEFAULT_SITE = "OAB (Default Web Site)"


def _list(value):
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v not in (None, "")]


def validate(params):
    """Checks that need no Exchange; raise ValueError."""
    name = canonical.text(params.get("name"))
    if name is None:
        raise ValueError("name must not be empty (use * for every offline address book)")
    if any(c in name for c in "\r\n"):
        raise ValueError("name %r must be a single line" % name)
    entries = params.get("virtual_directories")
    if entries is not None:
        for entry in entries:
            text = canonical.text(entry)
            if text is None:
                raise ValueError("virtual_directories: empty entry")
            if any(c in text for c in "\r\n*?"):
                raise ValueError("virtual_directories: %r is not a virtual directory identity or server name" % entry)
        if params.get("global_web_distribution_enabled") and _list(entries):
            raise ValueError("global_web_distribution_enabled=true cannot be combined with virtual_directories entries: "
                             "with global web distribution every OAB virtual directory serves the offline address "
                             "book and Exchange does not use the list (the procedure sets -VirtualDirectories $Null)")
    if params.get("global_web_distribution_enabled") is None and entries is None:
        raise ValueError("nothing to manage: give global_web_distribution_enabled and/or virtual_directories")
    return name


def resolve_virtual_directories(entries, vdirs):
    """Map each entry (identity or server name) to an existing OAB virtual directory identity; ValueError if not."""
    known = dict((v["identity"].casefold(), v["identity"]) for v in vdirs if v.get("identity"))
    resolved = []
    for entry in entries:
        text = entry.strip()
        wanted = text if "\\" in text else "%s\\%s" % (text, DEFAULT_SITE)
        identity = known.get(wanted.casefold())
        if identity is None:
            raise ValueError("virtual_directories: %r is not an OAB virtual directory of this organisation "
                             "(Get-OabVirtualDirectory knows: %s)" % (entry, ", ".join(sorted(known.values())) or "none"))
        if identity not in resolved:
            resolved.append(identity)
    return resolved


def normalise(record):
    current = OFFLINE_ADDRESS_BOOK.read(record, keys="info")
    for key in ("identity", "state"):
        del current[key]
    return current


def plan(params, answer):
    """(commands, before, after) for the offline address books the options select."""
    answer = answer or {}
    name = params["name"].strip()
    records = _list(answer.get("offline_address_books"))
    vdirs = _list(answer.get("virtual_directories"))
    if name == "*":
        selected = records
        if not selected:
            raise ValueError("the organisation has no offline address book (Get-OfflineAddressBook returned nothing)")
    else:
        selected = [r for r in records if (r.get("name") or "").casefold() == name.casefold()]
        if not selected:
            raise ValueError("offline address book '%s' not found; the organisation has: %s"
                             % (name, ", ".join(sorted(r.get("name") or "?" for r in records)) or "none"))
    wanted_vdirs = None
    if params.get("virtual_directories") is not None:
        wanted_vdirs = resolve_virtual_directories(params["virtual_directories"], vdirs)
    wanted_global = params.get("global_web_distribution_enabled")
    if wanted_global and wanted_vdirs is None:
        wanted_vdirs = []  # global web distribution: the list is cleared, as the procedure does

    wanted = {}
    if wanted_global is not None:
        wanted["global_web_distribution_enabled"] = wanted_global
    if wanted_vdirs is not None:
        wanted["virtual_directories"] = wanted_vdirs
    commands, before, after = [], [], []
    for record in selected:
        current = normalise(record)
        lines, target = OFFLINE_ADDRESS_BOOK.update(current, wanted, identity=record.get("identity") or current["name"])
        commands.extend(lines)
        before.append(current)
        after.append(target)
    return commands, before, after


def run(module):
    validate(module.params)
    # Organisation-wide (run once per play - per slice in a sliced job): converge when another run wrote meanwhile.
    commands, before, after = module.converge(lambda: module.query(READ_SCRIPT),
                                              lambda answer: plan(module.params, answer), read_back=READ_SCRIPT)
    module.exit(changed=bool(commands), before={"offline_address_books": before},
                after={"offline_address_books": after}, offline_address_books=after)


def main():
    module = ExchangeModule(
        argument_spec=dict(
            name=dict(type="str", default="Default Offline Address Book"),
            global_web_distribution_enabled=dict(type="bool"),
            virtual_directories=dict(type="list", elements="str"),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
