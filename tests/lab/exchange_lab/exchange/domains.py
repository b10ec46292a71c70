"""Accepted domains, email address policies and the recipients they stamp (Get-Recipient, Get-Mailbox)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..psvalues import PSObject
from . import seed
from .connectors import already_exists
from .contract import apply_multivalued, should_process
from .objects import apply_properties, contract_types, make_object
from .registry import Call, cmdlet, exchange_error

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."

# --- accepted domains --------------------------------------------------------------------------------------------

DOMAIN_TYPES = {**contract_types("New-AcceptedDomain", "Set-AcceptedDomain"), "Default": "Boolean"}


def render_accepted_domain(org: "Organization", record: dict) -> PSObject:
    obj = make_object(org, _SC + "AcceptedDomain", record, display=record["name"], properties=record["props"], types=DOMAIN_TYPES)
    return obj


def _domains(org: "Organization") -> list[dict]:
    return org.state["accepted_domains"]


def _domain_identity_match(org: "Organization", call: Call, identity, single: bool, wildcards: bool) -> list[dict]:
    records = _domains(org)
    text = str(identity)
    # An accepted domain is also found by its domain name.
    by_domain = [r for r in records if r["props"]["DomainName"].casefold() == text.casefold()]
    if by_domain and not any(org.matches(r, text, wildcards=False, server_scoped=False) for r in records):
        return by_domain
    return org.find(call, records, identity, wildcards=wildcards, server_scoped=False, single=single)


@cmdlet("Get-AcceptedDomain")
def get_accepted_domain(call: Call) -> list:
    records = _domains(call.org)
    if call.has("Identity"):
        records = _domain_identity_match(call.org, call, call.get("Identity"), single=False, wildcards=True)
    return [render_accepted_domain(call.org, r) for r in records]


@cmdlet("New-AcceptedDomain")
def new_accepted_domain(call: Call) -> list:
    org = call.org
    name = call.get("Name")
    domain = call.get("DomainName")
    record = seed.accepted_domain_record(org, name, domain, call.get("DomainType", "Authoritative"))
    if any(r["name"].casefold() == name.casefold() for r in _domains(org)):
        raise already_exists(call, record["dn"])
    clash = next((r for r in _domains(org) if r["props"]["DomainName"].casefold() == domain.casefold()), None)
    if clash is not None:
        raise exchange_error(call, f"The accepted domain '{clash['name']}' already uses the domain name '{domain}'. "
                                   "An SMTP domain can be an accepted domain only once.", "Duplicate")
    if not should_process(call, f'Creating accepted domain "{name}" for domain name "{domain}".'):
        return []
    _domains(org).append(record)
    return [render_accepted_domain(org, record)]


def _templates_using(org: "Organization", domain: str) -> list[str]:
    found = []
    for policy in org.state["email_address_policies"]:
        for template in policy["props"]["EnabledEmailAddressTemplates"]:
            if template.split(":", 1)[0].casefold() == "smtp" and template.rsplit("@", 1)[-1].casefold() == domain.casefold():
                found.append(template)
    return found


@cmdlet("Set-AcceptedDomain")
def set_accepted_domain(call: Call) -> list:
    org = call.org
    record = _domain_identity_match(org, call, call.get("Identity"), single=True, wildcards=False)[0]
    new_type = call.get("DomainType")
    if new_type == "ExternalRelay" and record["props"]["DomainType"] != "ExternalRelay":
        used = _templates_using(org, record["props"]["DomainName"])
        if used:
            raise exchange_error(call, f"The accepted domain '{record['name']}' cannot be removed or made external because it is "
                                       f"referenced by the email address policy templates '{', '.join(used)}'.", "InvalidOperation")
    if call.get("MakeDefault") is False and record["props"]["Default"]:
        raise exchange_error(call, "There must be a default accepted domain. Make another accepted domain the default instead.", "InvalidOperation")
    new_name = call.get("Name")
    if new_name and new_name.casefold() != record["name"].casefold() and any(r["name"].casefold() == new_name.casefold() for r in _domains(org)):
        raise already_exists(call, f"CN={new_name},CN=Accepted Domains,CN=Transport Settings,{org.organization_dn}")
    if not should_process(call, f'Configuring accepted domain "{record["name"]}".'):
        return []
    apply_properties(call, record, skip={"Name", "MakeDefault"})
    if call.get("MakeDefault"):
        for other in _domains(org):
            other["props"]["Default"] = other is record
    if new_name:
        record["name"] = new_name
        record["dn"] = f"CN={new_name},CN=Accepted Domains,CN=Transport Settings,{org.organization_dn}"
    return []


@cmdlet("Remove-AcceptedDomain")
def remove_accepted_domain(call: Call) -> list:
    org = call.org
    record = _domain_identity_match(org, call, call.get("Identity"), single=True, wildcards=False)[0]
    if record["props"]["Default"]:
        raise exchange_error(call, f"The accepted domain '{record['name']}' is the default accepted domain and can't be removed. "
                                   "Make another accepted domain the default first.", "InvalidOperation")
    used = _templates_using(org, record["props"]["DomainName"])
    if used:
        raise exchange_error(call, f"The accepted domain '{record['name']}' cannot be removed or made external because it is "
                                   f"referenced by the email address policy templates '{', '.join(used)}'.", "InvalidOperation")
    if not should_process(call, f'Removing accepted domain "{record["name"]}".'):
        return []
    _domains(org).remove(record)
    return []


def accepted_for(org: "Organization", domain: str) -> bool:
    """Whether mail for ``domain`` is accepted: an accepted domain equal to it, or ``*.parent`` covering it."""
    domain = domain.casefold()
    for record in _domains(org):
        accepted = record["props"]["DomainName"].casefold()
        if accepted == domain or (accepted.startswith("*.") and (domain.endswith(accepted[1:]) or domain == accepted[2:])):
            return True
        if record["props"].get("MatchSubDomains") and domain.endswith("." + accepted):
            return True
    return False


# --- email address policies -------------------------------------------------------------------------------------

POLICY_TYPES = {**contract_types("New-EmailAddressPolicy", "Set-EmailAddressPolicy"), "Priority": None, "IncludedRecipients": "WellKnownRecipientType"}


def _policies(org: "Organization") -> list[dict]:
    return org.state["email_address_policies"]


def primary_template(templates: list[str]) -> str | None:
    return next((t for t in templates if t.startswith("SMTP:")), None)


def render_policy(org: "Organization", record: dict) -> PSObject:
    props = dict(record["props"])
    primary = primary_template(props["EnabledEmailAddressTemplates"])
    props["EnabledPrimarySMTPAddressTemplate"] = primary.split(":", 1)[1] if primary else None
    obj = make_object(org, _SC + "EmailAddressPolicy", record, display=record["name"], properties=props, types=POLICY_TYPES)
    priority = props["Priority"]
    obj.properties["Priority"] = PSObject(["Microsoft.Exchange.Data.Directory.SystemConfiguration.EmailAddressPolicyPriority", "System.ValueType", "System.Object"],
                                          {}, string=str(priority))
    return obj


def _check_templates(call: Call, templates: list[str]) -> None:
    primaries = [t for t in templates if t.startswith("SMTP:")]
    if len(primaries) != 1:
        raise exchange_error(call, "An email address policy must have exactly one primary SMTP address template (prefix \"SMTP:\" in upper case); "
                                   f"found {len(primaries)}.", "DataValidation")
    for template in templates:
        if template.split(":", 1)[0].casefold() != "smtp":
            continue
        domain = template.rsplit("@", 1)[1]
        if not accepted_for(call.org, domain):
            raise exchange_error(
                call,
                f"The domain '{domain}' of the email address template '{template}' isn't an accepted domain for your organization. "
                "Add it as an accepted domain before you use it in an email address policy.",
                "DataValidation",
            )


def _new_templates(call: Call, current: list[str]) -> list[str]:
    if call.has("EnabledPrimarySMTPAddressTemplate") and call.has("EnabledEmailAddressTemplates"):
        raise exchange_error(call, "The EnabledPrimarySMTPAddressTemplate and EnabledEmailAddressTemplates parameters can't be used together.", "Invalid")
    if call.has("EnabledPrimarySMTPAddressTemplate"):
        text = call.get("EnabledPrimarySMTPAddressTemplate") or ""
        body = text.split(":", 1)[1] if text.casefold().startswith("smtp:") else text
        if "@" not in body or not re.fullmatch(r"[^@\s]*@[A-Za-z0-9.-]+", body):
            raise exchange_error(call, f"\"{text}\" isn't a valid SMTP address template.", "Invalid")
        return [f"SMTP:{body}"]
    if call.has("EnabledEmailAddressTemplates"):
        return apply_multivalued(current, call.get("EnabledEmailAddressTemplates"))
    return current


@cmdlet("Get-EmailAddressPolicy")
def get_email_address_policy(call: Call) -> list:
    records = _policies(call.org)
    if call.has("Identity"):
        records = call.org.find(call, records, call.get("Identity"), wildcards=True, server_scoped=False, single=False)
    return [render_policy(call.org, r) for r in records]


@cmdlet("New-EmailAddressPolicy")
def new_email_address_policy(call: Call) -> list:
    org = call.org
    name = call.get("Name")
    dn = f"CN={name},CN=Recipient Policies,{org.organization_dn}"
    if any(r["name"].casefold() == name.casefold() for r in _policies(org)):
        raise already_exists(call, dn)
    templates = _new_templates(call, [])
    _check_templates(call, templates)
    numbered = [p for p in _policies(org) if p["props"]["Priority"] != "Lowest"]
    priority = call.get("Priority", len(numbered) + 1)
    record = {
        "name": name, "guid": org.new_guid(), "dn": dn,
        "props": {
            "EnabledEmailAddressTemplates": templates,
            "DisabledEmailAddressTemplates": call.get("DisabledEmailAddressTemplates") or [],
            "Priority": priority,
            "IncludedRecipients": call.get("IncludedRecipients"),
            "RecipientFilter": call.get("RecipientFilter"),
            "LdapRecipientFilter": None,
            "RecipientContainer": call.get("RecipientContainer"),
            "RecipientFilterApplied": False,
        },
    }
    if not should_process(call, f'Creating email address policy "{name}".'):
        return []
    _policies(org).insert(len(numbered), record)
    return [render_policy(org, record)]


@cmdlet("Set-EmailAddressPolicy")
def set_email_address_policy(call: Call) -> list:
    org = call.org
    record = org.find(call, _policies(org), call.get("Identity"), wildcards=False, server_scoped=False, single=True)[0]
    templates = _new_templates(call, record["props"]["EnabledEmailAddressTemplates"])
    _check_templates(call, templates)
    if record["props"]["Priority"] == "Lowest" and call.has("Priority") and call.get("Priority") != "Lowest":
        raise exchange_error(call, "The priority of the default email address policy can't be changed.", "InvalidOperation")
    if not should_process(call, f'Configuring email address policy "{record["name"]}".'):
        return []
    apply_properties(call, record, skip={"Name", "EnabledPrimarySMTPAddressTemplate", "EnabledEmailAddressTemplates", "Priority"})
    if templates != record["props"]["EnabledEmailAddressTemplates"]:
        record["props"]["EnabledEmailAddressTemplates"] = templates
        record["props"]["RecipientFilterApplied"] = False
    if call.has("Priority"):
        record["props"]["Priority"] = call.get("Priority")
    if call.get("Name"):
        record["name"] = call.get("Name")
        record["dn"] = f"CN={record['name']},CN=Recipient Policies,{org.organization_dn}"
    return []


@cmdlet("Remove-EmailAddressPolicy")
def remove_email_address_policy(call: Call) -> list:
    org = call.org
    record = org.find(call, _policies(org), call.get("Identity"), wildcards=False, server_scoped=False, single=True)[0]
    if record["props"]["Priority"] == "Lowest":
        raise exchange_error(call, "The default email address policy can't be removed.", "InvalidOperation")
    if not should_process(call, f'Removing email address policy "{record["name"]}".'):
        return []
    _policies(org).remove(record)
    return []


def expand_template(template_body: str, recipient: dict) -> str:
    """``%g.%s@contoso.com`` → ``David.Hamilton@contoso.com``; an empty local part is the alias."""
    local, _, domain = template_body.rpartition("@")
    props = recipient["props"]
    values = {"g": props.get("FirstName") or "", "s": props.get("LastName") or "", "m": props["Alias"],
              "d": props.get("DisplayName") or "", "i": ""}

    def substitute(match: re.Match) -> str:
        count, letter = match.group(1), match.group(2).lower()
        value = values.get(letter, "")
        return value[: int(count)] if count else value

    expanded = re.sub(r"%(\d*)([gsmdi])", substitute, local) if local else props["Alias"]
    expanded = re.sub(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]", "", expanded)
    # Dots left over from empty name parts are dropped; nothing left means the alias is used.
    expanded = re.sub(r"\.{2,}", ".", expanded).strip(".") or props["Alias"]
    return f"{expanded}@{domain}"


def _policy_addresses(policy: dict, recipient: dict) -> list[str]:
    addresses = []
    for template in policy["props"]["EnabledEmailAddressTemplates"]:
        prefix, _, body = template.partition(":")
        if prefix.casefold() != "smtp":
            continue
        addresses.append(f"{prefix}:{expand_template(body, recipient)}")
    return addresses


# Which recipients a precanned IncludedRecipients value covers (the lab's recipients are all user mailboxes).
INCLUDED_TYPES = {"AllRecipients": None, "MailboxUsers": {"UserMailbox"}, "Resources": {"RoomMailbox", "EquipmentMailbox"},
                  "MailContacts": {"MailContact"}, "MailGroups": {"MailUniversalDistributionGroup"}, "MailUsers": {"MailUser"}}


def _applies(policy: dict, recipient: dict) -> bool:
    included = policy["props"].get("IncludedRecipients")
    if included:
        kinds = [INCLUDED_TYPES.get(name) for name in included.split(", ")]
        return any(kind is None or recipient["props"]["RecipientType"] in kind for kind in kinds)
    # A custom RecipientFilter is not evaluated (see README.exchange.md): it is taken to cover every recipient.
    return True


def _priority_key(policy: dict) -> float:
    priority = policy["props"]["Priority"]
    return float("inf") if priority == "Lowest" else float(priority)


def effective_policy(org: "Organization", recipient: dict) -> dict | None:
    """The policy that stamps a recipient: the highest-priority one whose recipient filter covers it."""
    for policy in sorted(_policies(org), key=_priority_key):
        if _applies(policy, recipient):
            return policy
    return None


@cmdlet("Update-EmailAddressPolicy")
def update_email_address_policy(call: Call) -> list:
    org = call.org
    policy = org.find(call, _policies(org), call.get("Identity"), wildcards=False, server_scoped=False, single=True)[0]
    if not should_process(call, f'Updating email addresses of the recipients of email address policy "{policy["name"]}".'):
        return []
    secondary_only = bool(call.get("UpdateSecondaryAddressesOnly"))
    for recipient in org.state["recipients"]:
        props = recipient["props"]
        if not props.get("EmailAddressPolicyEnabled") or effective_policy(org, recipient) is not policy:
            continue
        generated = _policy_addresses(policy, recipient)
        if secondary_only:
            generated = [a for a in generated if not a.startswith("SMTP:")]
        existing = props["EmailAddresses"]
        new_primary = next((a for a in generated if a.startswith("SMTP:")), None)
        result: list[str] = []
        if new_primary:
            result.append(new_primary)
        seen = {a.split(":", 1)[1].casefold() for a in result}
        for address in generated + existing:
            prefix, _, value = address.partition(":")
            if value.casefold() in seen:
                continue
            seen.add(value.casefold())
            # The former primary address stays as a secondary proxy address, as Exchange keeps it.
            result.append(("smtp" if prefix.casefold() == "smtp" and new_primary else prefix) + ":" + value)
        props["EmailAddresses"] = result
        primary = next((a for a in result if a.startswith("SMTP:")), None)
        if primary:
            props["PrimarySmtpAddress"] = primary.split(":", 1)[1]
    policy["props"]["RecipientFilterApplied"] = True
    return []


# --- recipients ------------------------------------------------------------------------------------------------


def render_recipient(org: "Organization", record: dict, mailbox: bool) -> PSObject:
    props = dict(record["props"])
    types = {"EmailAddresses": "MVP:ProxyAddress", "PrimarySmtpAddress": "SmtpAddress"}
    type_name = "Microsoft.Exchange.Data.Directory.Management.Mailbox" if mailbox else "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"
    obj = make_object(org, type_name, record, display=record["name"], properties=props, types=types)
    obj.properties["ObjectCategory"] = f"{org.domain}/Configuration/Schema/Person"
    return obj


def _find_recipients(call: Call) -> list[dict]:
    records = call.org.state["recipients"]
    for record in records:
        # A recipient is also found by its alias and by any of its SMTP addresses.
        props = record["props"]
        record["aliases"] = [props["Alias"]] + [a.split(":", 1)[1] for a in props["EmailAddresses"] if a.casefold().startswith("smtp:")]
    if call.has("Identity"):
        return call.org.find(call, records, call.get("Identity"), wildcards=True, server_scoped=False, single=False)
    if call.has("Anr"):
        text = str(call.get("Anr")).casefold()
        return [r for r in records if any(str(v).casefold().startswith(text) for v in (r["name"], r["props"]["Alias"], r["props"]["PrimarySmtpAddress"]))]
    return list(records)


@cmdlet("Get-Recipient")
def get_recipient(call: Call) -> list:
    return [render_recipient(call.org, r, mailbox=False) for r in _find_recipients(call)]


@cmdlet("Get-Mailbox")
def get_mailbox(call: Call) -> list:
    return [render_recipient(call.org, r, mailbox=True) for r in _find_recipients(call) if r["props"]["RecipientType"] == "UserMailbox"]

