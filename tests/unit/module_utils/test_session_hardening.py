# -*- coding: utf-8 -*-
"""Issue 13 at the session level: what the user sees for a too-large request (case 10), a TLS host name mismatch
(15), message encryption turned off over http (4) and an empty CA trust path (5); the shell listener the broker's
shell ledger relies on (12)."""

import os
import ssl
import sys

import pytest
import requests
import urllib3

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_session as es
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_command

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_exchange_session import default_handler, make  # noqa: E402

ENDPOINT = "https://ex01.corp.contoso.com:5986/wsman"


# -- case 10: a value larger than one WinRM message -------------------------------------------------------------------

def test_a_400000_character_comment_is_refused_before_sending_naming_the_limit():
    session, fake = make(default_handler)
    line = ps_command("Set-SendConnector", {"Identity": "To partner", "Comment": "x" * 400000})
    with pytest.raises(es.ExchangeRequestTooLarge) as raised:
        session.execute([line])
    message = str(raised.value)
    size = int(message.split("(", 1)[1].split(" ", 1)[0])
    assert message == (
        "Set-SendConnector for 'To partner': too large for one WinRM message (%d bytes once encoded; the WinRM service "
        "accepts at most 512000 bytes, MaxEnvelopeSizekb=500); nothing was sent. Shorten the values (a value of more "
        "than about 283648 characters cannot be sent)" % size)
    assert size > 512000
    # The Exchange shell was loaded (one script), the commands never went out.
    assert len(fake.scripts) == 1 and "Set-SendConnector" not in fake.scripts[0]
    assert isinstance(raised.value, ValueError)  # ExchangeModule reports it as a refusal, not "may have run"


def test_the_largest_value_that_fits_is_sent():
    session, fake = make(default_handler)
    line = ps_command("Set-SendConnector", {"Identity": "To partner", "Comment": "x" * es.max_value_characters()})
    session.execute([line])
    assert len(fake.scripts) == 2


def test_a_too_large_read_script_is_refused_too():
    session, fake = make(default_handler)
    with pytest.raises(es.ExchangeRequestTooLarge, match=r"^a read script: too large for one WinRM message"):
        session.query("# " + "y" * 400000)


# -- case 15: TLS host name mismatch ----------------------------------------------------------------------------------

def ssl_error(verify_message, verify_code):
    inner = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s (_ssl.c:1006)"
                                         % verify_message)
    inner.verify_message, inner.verify_code = verify_message, verify_code
    reason = urllib3.exceptions.SSLError(inner)
    wrapped = urllib3.exceptions.MaxRetryError(None, "/wsman", reason)
    return requests.exceptions.SSLError(wrapped)


def test_host_name_mismatch_names_the_name_and_does_not_advise_the_ca_trust_path():
    message = es.tls_failure_message(ssl_error("Hostname mismatch, certificate is not valid for '127.0.0.1'.", 64),
                                     ENDPOINT, "127.0.0.1", "opening a WinRM shell")
    assert message == (
        "TLS host name check failed for https://ex01.corp.contoso.com:5986/wsman while opening a WinRM shell: the "
        "server's certificate is not valid for '127.0.0.1'. Connect with a name the WinRM certificate carries "
        "(exchange_host or ansible_host; exchange_server_fqdn for the Exchange endpoint); a CA bundle "
        "(exchange_ca_trust_path) does not change this")


def test_host_name_mismatch_from_the_text_alone():
    # What requests shows when the ssl exception is not in the chain (older urllib3): the same sentence.
    error = requests.exceptions.SSLError("HTTPSConnectionPool(host='10.0.0.5', port=5986): Max retries exceeded "
                                         "(Caused by SSLError(SSLCertVerificationError(1, \"[SSL: CERTIFICATE_VERIFY_"
                                         "FAILED] certificate verify failed: Hostname mismatch, certificate is not "
                                         "valid for '10.0.0.5'. (_ssl.c:1006)\")))")
    message = es.tls_failure_message(error, ENDPOINT, "10.0.0.5", "opening a WinRM shell")
    assert "is not valid for '10.0.0.5'. Connect with a name" in message
    assert "not valid for." not in message


def test_unknown_ca_still_advises_the_ca_trust_path_with_the_whole_reason():
    message = es.tls_failure_message(ssl_error("unable to get local issuer certificate", 20), ENDPOINT,
                                     "ex01.corp.contoso.com", "opening a WinRM shell")
    assert message == (
        "TLS certificate validation failed for https://ex01.corp.contoso.com:5986/wsman while opening a WinRM shell: "
        "certificate verify failed: unable to get local issuer certificate. Set exchange_ca_trust_path to the PEM "
        "bundle of the CA that issued the WinRM certificate (exchange_cert_validation=ignore turns validation off, "
        "for labs only)")


def test_the_session_reports_a_mismatch_once_without_retry():
    session, fake = make(default_handler)
    fake.open_fault = ssl_error("Hostname mismatch, certificate is not valid for 'ex01.corp.contoso.com'.", 62)
    with pytest.raises(es.ExchangeConnectionError) as raised:
        session.query("x")
    assert str(raised.value).startswith("TLS host name check failed for %s while opening a WinRM shell: the server's "
                                        "certificate is not valid for 'ex01.corp.contoso.com'." % ENDPOINT)
    assert raised.value.not_started is True
    assert [c[0] for c in fake.calls].count("open_shell") == 1


# -- case 4: message encryption off over http --------------------------------------------------------------------------

NEVER_WARNING = ("exchange_message_encryption=never over http sends every message in clear text, the Exchange-shell "
                 "load with the account password (the second-hop credential) included; use https, or message "
                 "encryption (auto)")


@pytest.mark.parametrize("transport", ["ntlm", "kerberos", "credssp"])
def test_message_encryption_never_over_http_warns(transport):
    assert es.insecure_settings_warnings({"exchange_scheme": "http", "exchange_transport": transport,
                                          "exchange_message_encryption": "never"}) == [NEVER_WARNING]


@pytest.mark.parametrize("settings", [
    {"exchange_scheme": "https", "exchange_transport": "ntlm", "exchange_message_encryption": "never"},
    {"exchange_scheme": "http", "exchange_transport": "ntlm", "exchange_message_encryption": "auto"},
    {"exchange_scheme": "http", "exchange_transport": "ntlm", "exchange_message_encryption": "always"},
])
def test_encrypted_settings_do_not_warn(settings):
    assert es.insecure_settings_warnings(settings) == []


# -- case 5: an empty CA trust path is "not set" -----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "  ", None])
def test_empty_ca_trust_path_is_not_passed_to_pywinrm(monkeypatch, value):
    captured = {}

    class Protocol:
        def __init__(self, **kwargs):
            captured.update(kwargs)

    monkeypatch.setitem(es._WINRM, "Protocol", Protocol)
    monkeypatch.setattr(es, "_winrm", lambda: dict(es._WINRM, Protocol=Protocol))
    session = es.ExchangeSession(host="ex01.corp.contoso.com", username="u", password="p", ca_trust_path=value)
    session._new_protocol()
    assert "ca_trust_path" not in captured
    assert session.ca_trust_path is None


# -- case 12: the session tells a listener about its shells -----------------------------------------------------------

class Listener:
    def __init__(self):
        self.events = []

    def opened(self, shell_id):
        self.events.append(("opened", shell_id))

    def deleted(self, shell_id):
        self.events.append(("deleted", shell_id))


def test_the_listener_hears_of_each_shell_opened_and_deleted():
    session, fake = make(default_handler)
    session.shell_listener = listener = Listener()
    session.query("x")
    assert listener.events == [("opened", "SHELL-1")]
    session.close()
    assert listener.events == [("opened", "SHELL-1"), ("deleted", "SHELL-1")]


def test_a_shell_whose_deletion_failed_stays_recorded():
    session, fake = make(default_handler)
    session.shell_listener = listener = Listener()
    session.query("x")

    def refuse(shell_id, close_session=True):
        raise RuntimeError("the server did not answer")
    fake.close_shell = refuse
    session.close()
    assert listener.events == [("opened", "SHELL-1")]


def test_delete_shells_deletes_each_by_id_and_reports_each():
    session, fake = make(default_handler)
    deleted = []

    def close_shell(shell_id, close_session=True):
        if shell_id == "GONE":
            from winrm.exceptions import WSManFaultError
            raise WSManFaultError(500, "fault", "<x/>", "The request for the Windows Remote Shell with ShellId GONE "
                                  "failed because the shell was not found", wsman_fault_code=2150858843)
        deleted.append((shell_id, close_session))
    fake.close_shell = close_shell
    outcome = session.delete_shells(["S-1", "GONE"])
    assert deleted == [("S-1", False)]
    assert outcome["S-1"] is None and "shell was not found" in outcome["GONE"]
    assert not [c for c in fake.calls if c[0] == "open_shell"]  # it opens no shell of its own


def test_a_shell_the_server_no_longer_knows_counts_as_deleted():
    from winrm.exceptions import WSManFaultError

    session, fake = make(default_handler)
    session.shell_listener = listener = Listener()
    session.query("x")

    def unknown(shell_id, close_session=True):
        raise WSManFaultError(500, "fault", "<x/>", "The request for the Windows Remote Shell with ShellId SHELL-1 "
                              "failed because the shell was not found on the server.", wsman_fault_code=2150858843)
    fake.close_shell = unknown
    session.close()
    assert listener.events == [("opened", "SHELL-1"), ("deleted", "SHELL-1")]
