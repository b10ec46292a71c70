"""The resource engine: one table per Exchange object gives the read projection, the read shape and the lines."""

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import (
    ACCEPTED_DOMAIN, CLIENT_ACCESS, EMAIL_ADDRESS_POLICY, OFFLINE_ADDRESS_BOOK, OUTLOOK_ANYWHERE, RECEIVE_CONNECTOR,
    SEND_CONNECTOR, VIRTUAL_DIRECTORY)
from ansible_collections.mailops.exchange.plugins.module_utils.resource import (
    Field, MissingCompanion, Resource, as_list, flags)
from ansible_collections.mailops.exchange.plugins.modules import exchange_accepted_domain, exchange_info
from ansible_collections.mailops.exchange.plugins.modules import exchange_email_address_policy
from ansible_collections.mailops.exchange.plugins.modules import exchange_offline_address_book
from ansible_collections.mailops.exchange.plugins.modules import exchange_receive_connector
from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector

WIDGET = Resource("Widget", [
    Field("name", "Name", kind="name"),
    Field("size", "Size", create_only=True),
    Field("hosts", "Hosts", kind="list", unordered=True, key=str.lower),
    Field("enabled", "Enabled", kind="bool", parameter="Enable"),
    Field("note", "Comment", info="comment"),
])


def test_projection_reads_each_property_once_under_the_chosen_keys():
    assert WIDGET.projection(indent="") == "\n".join([
        "Name = [string]$_.Name", "Size = [string]$_.Size", "Hosts = @($_.Hosts | ForEach-Object { [string]$_ })",
        "Enabled = [bool]$_.Enabled", "Comment = [string]$_.Comment"])
    assert "comment = [string]$_.Comment" in WIDGET.projection(keys="info")


def test_read_gives_the_module_shape_whatever_json_made_of_a_single_value():
    record = {"Name": "W1", "Size": " 5 ", "Hosts": "a.contoso.com", "Enabled": 1, "Comment": ""}
    assert WIDGET.read(record) == {"name": "W1", "size": "5", "hosts": ["a.contoso.com"], "enabled": True,
                                   "note": None, "state": "present"}
    assert WIDGET.read({"comment": "x"}, keys="info")["note"] == "x"


def test_update_writes_only_what_differs_in_the_tables_order_with_the_cmdlets_parameter():
    current = {"name": "W1", "size": "5", "hosts": ["A.contoso.com", "b.contoso.com"], "enabled": True, "note": None}
    lines, after = WIDGET.update(current, {"hosts": ["b.contoso.com", "a.CONTOSO.com"], "enabled": False, "note": "x"})
    assert lines == ["Set-Widget -Identity 'W1' -Enable:$false -Comment 'x'"]
    assert after == dict(current, enabled=False, note="x")
    assert WIDGET.update(current, {"hosts": ["a.contoso.com", "B.contoso.com"]}) == ([], current)


def test_a_create_only_property_that_differs_is_refused_not_dropped():
    with pytest.raises(ValueError, match="size cannot be changed .Set-Widget has no -Size."):
        WIDGET.update({"name": "W1", "size": "5"}, {"size": "6"})


def test_create_puts_identity_first_replaces_a_default_and_leaves_unset_arguments_to_exchange():
    line, after = WIDGET.create([("Name", "W1"), ("Hosts", ["*"])], {"hosts": ["a"], "note": None, "enabled": True})
    assert line == "New-Widget -Name 'W1' -Hosts @('a') -Enable:$true"
    assert after == {"hosts": ["a"], "note": None, "enabled": True}


def test_remove_names_the_object_as_read():
    lines, after = WIDGET.remove({"name": "w1"})
    assert lines == ["Remove-Widget -Identity 'w1' -Confirm:$false"] and after == {"name": "w1", "state": "absent"}
    assert WIDGET.remove(None) == ([], None)


def test_helpers_for_values_as_json_gives_them():
    assert as_list(None) == [] and as_list("") == [] and as_list("x") == ["x"] and as_list({"a": 1}) == [{"a": 1}]
    assert flags("Tls, BasicAuth") == ["Tls", "BasicAuth"] and flags("None") == [] and flags(None) == []


@pytest.mark.parametrize("resource, module_script, info_part", [
    (SEND_CONNECTOR, exchange_send_connector.READ_SCRIPT, "$send"),
    (ACCEPTED_DOMAIN, exchange_accepted_domain.READ_SCRIPT, "$domains"),
    (EMAIL_ADDRESS_POLICY, exchange_email_address_policy.READ_SCRIPT, "$policies"),
    (RECEIVE_CONNECTOR, exchange_receive_connector.READ_TEMPLATE, "$receive"),
])
def test_the_module_and_exchange_info_read_the_same_properties_from_one_table(resource, module_script, info_part):
    template = exchange_info.READ_TEMPLATE
    info_block = template[template.index(info_part + " = @(Get-"):]
    for field in resource.fields:
        assert "%s = %s" % (field.exchange, field.projection()) in module_script
        assert "%s = %s" % (field.info, field.projection()) in info_block.split("} })")[0]


def test_the_offline_address_book_module_and_exchange_info_read_the_same_way():
    # Both key their read by exchange_info's names and read through the string form (plain Import-PSSession).
    template = exchange_info.READ_TEMPLATE
    info_block = template[template.index("$oabs = @(Get-"):].split("} })")[0]
    for field in OFFLINE_ADDRESS_BOOK.fields:
        assert "%s = %s" % (field.info, field.projection()) in exchange_offline_address_book.READ_SCRIPT
        assert "%s = %s" % (field.info, field.projection()) in info_block
    record = {"name": "Default Offline Address Book", "identity": "\\Default Offline Address Book",
              "is_default": True, "global_web_distribution_enabled": False,
              "virtual_directories": ["EX02\\OAB (Default Web Site)", None, "ex01\\OAB (Default Web Site)"]}
    assert exchange_info.shape_offline_address_book(record) == exchange_offline_address_book.normalise(record) == {
        "name": "Default Offline Address Book", "is_default": True, "global_web_distribution_enabled": False,
        "virtual_directories": ["ex01\\OAB (Default Web Site)", "EX02\\OAB (Default Web Site)"]}


def test_exchange_info_returns_the_modules_shape():
    record = {"name": "To internet", "address_spaces": "SMTP:*;1", "dns_routing_enabled": True, "smart_hosts": None,
              "source_transport_servers": ["EX01"], "fqdn": "mail.contoso.com", "enabled": True,
              "max_message_size": "35 MB (36,700,160 bytes)", "require_tls": False, "comment": ""}
    as_module = {SEND_CONNECTOR.by_option[k].exchange if k in SEND_CONNECTOR.by_option else k: v
                 for k, v in record.items()}
    assert exchange_info.shape_send_connector(record) == exchange_send_connector.normalise(as_module)
    domain = exchange_info.shape_accepted_domain({"name": "Contoso", "domain_name": "Contoso.COM.",
                                                  "domain_type": "Authoritative", "default": True})
    assert domain == {"name": "Contoso", "domain_name": canonical.fqdn("contoso.com"), "domain_type": "Authoritative",
                      "make_default": True, "state": "present"}


def test_a_receive_connector_read_without_its_server_takes_it_from_its_identity():
    record = {"identity": "EX01\\Client Frontend EX01", "name": "Client Frontend EX01", "server": "",
              "auth_mechanism": "Tls, BasicAuth, BasicAuthRequireTLS", "bindings": "[::]:587"}
    shaped = exchange_info.shape_receive_connector(record)
    assert shaped["server"] == "EX01" and shaped["bindings"] == ["[::]:587"]
    assert shaped["auth_mechanism"] == ["Tls", "BasicAuth", "BasicAuthRequireTLS"]
    as_module = {RECEIVE_CONNECTOR.by_option[k].exchange: v for k, v in record.items()}
    assert exchange_receive_connector.normalise(as_module) == shaped


GATE = Resource("Gate", [
    Field("name", "Name", kind="name", read_only=True),
    Field("host", "Host"),
    Field("url", "Url"),
    Field("secure", "RequireSsl", kind="flag", sent_with=("host",), sent_if=lambda host: host is not None,
          sent_default=True),
    Field("methods", "Methods", kind="strings", unordered=True, key=str.lower, sent_with=("url",)),
])


def test_a_field_sent_with_another_joins_its_line_in_the_tables_order():
    current = {"name": "G1", "host": None, "url": "https://a", "secure": None, "methods": ["Ntlm"]}
    # The host is set: the SSL flag goes with it - the task's value, else the object's, else the default.
    lines, after = GATE.update(current, {"host": "mail.contoso.com"}, identity="G1")
    assert lines == ["Set-Gate -Identity 'G1' -Host 'mail.contoso.com' -RequireSsl:$true"]
    assert after["secure"] is True
    lines, _after = GATE.update(dict(current, secure=False), {"host": "mail.contoso.com"}, identity="G1")
    assert lines == ["Set-Gate -Identity 'G1' -Host 'mail.contoso.com' -RequireSsl:$false"]
    # Cleared, the host takes no flag (sent_if); the URL takes the object's methods, or the task's.
    lines, _after = GATE.update(dict(current, host="old.contoso.com"), {"host": None, "url": "https://b"},
                                identity="G1")
    assert lines == ["Set-Gate -Identity 'G1' -Host $null -Url 'https://b' -Methods @('Ntlm')"]
    lines, _after = GATE.update(current, {"url": "https://b", "methods": ["ntlm"]}, identity="G1")
    assert lines == ["Set-Gate -Identity 'G1' -Url 'https://b' -Methods @('ntlm')"]
    # Nothing written, nothing sent with it.
    assert GATE.update(current, {"url": "https://a"}, identity="G1") == ([], current)


def test_a_field_that_must_be_sent_and_has_no_value_is_refused_naming_both_parameters():
    with pytest.raises(MissingCompanion, match="Set-Gate needs -Methods with -Url"):
        GATE.update({"name": "G1", "url": None, "methods": []}, {"url": "https://b"}, identity="G1")


def test_client_access_tables_read_what_the_modules_and_exchange_info_read():
    from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan
    # One table per object, one read: the per-server block projects each table's properties.
    for resource in list(VIRTUAL_DIRECTORY.values()) + [OUTLOOK_ANYWHERE, CLIENT_ACCESS["ClientAccessService"]]:
        assert resource.projection(keys="info", indent="", separator="; ") in vdir_plan.SERVER_BLOCK
    assert vdir_plan.OUTLOOK_ANYWHERE_KEYS == [
        "internal_hostname", "external_hostname", "internal_clients_require_ssl", "external_clients_require_ssl",
        "internal_client_authentication_method", "external_client_authentication_method"]


# -- the certificate's table: lines of other verbs, named by -Server and -Thumbprint, services that only add ----------

def test_an_additive_field_writes_only_what_is_missing_with_another_verb_and_its_switches():
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import CERTIFICATE
    from ansible_collections.mailops.exchange.plugins.module_utils.quoting import SWITCH

    by = [("Server", "EX01"), ("Thumbprint", "AB12")]
    current = {"thumbprint": "AB12", "services": ["IMAP", "IIS"]}
    lines, after = CERTIFICATE.update(current, {"services": ["SMTP", "IIS"]}, identity=by, verb="Enable",
                                      switches=[("Force", SWITCH)])
    # Enable-ExchangeCertificate only adds: IIS is there, SMTP is written; nothing is taken away.
    assert lines == ["Enable-ExchangeCertificate -Server 'EX01' -Thumbprint 'AB12' -Services 'SMTP' -Force"]
    assert after["services"] == ["IMAP", "IIS", "SMTP"]  # Exchange's order
    assert CERTIFICATE.update(current, {"services": ["IIS"]}, identity=by, verb="Enable") == ([], current)
    assert CERTIFICATE.remove(current, identity=by)[0] == [
        "Remove-ExchangeCertificate -Server 'EX01' -Thumbprint 'AB12' -Confirm:$false"]


def test_the_certificate_request_line_comes_from_the_table_and_cannot_be_changed_after():
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import CERTIFICATE
    from ansible_collections.mailops.exchange.plugins.module_utils.quoting import SWITCH

    line, _after = CERTIFICATE.create([("Server", "EX01"), ("GenerateRequest", SWITCH)], {
        "subject_name": "CN=mail.contoso.com", "domain_names": [], "friendly_name": None, "key_size": 2048,
        "private_key_exportable": True})
    # No names, no friendly name: left to Exchange (the subject's CN is its name).
    assert line == ("New-ExchangeCertificate -Server 'EX01' -GenerateRequest -SubjectName 'CN=mail.contoso.com' "
                    "-KeySize 2048 -PrivateKeyExportable:$true")
    with pytest.raises(ValueError, match="key_size cannot be changed"):
        CERTIFICATE.update({"thumbprint": "AB12", "key_size": 2048}, {"key_size": 4096})
