# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run inside a virtual environment that has meta/ee-requirements.txt installed (hack/check.sh, step ee).

The execution environment advertises exchange_transport=kerberos and =credssp; an image that lacks their packages
fails both at the first task. This checks, with the packages as the EE installs them (pykerberos compiled against
the Kerberos headers bindep.txt's compile profile names), that pywinrm has both transports and that each reaches
its library for real:

* kerberos: pywinrm builds its Kerberos authentication, and pykerberos starts a GSSAPI security context for
  HTTP@<host> in the MIT Kerberos library; the first step fails only for want of a ticket (no KDC here);
* credssp: pywinrm builds its CredSSP authentication, and requests-credssp's inner authentication (pyspnego,
  NTLM) produces its first token.
"""

import sys


def fail(message):
    sys.stderr.write("EE transports check failed: %s\n" % message)
    sys.exit(1)


def main():
    import winrm.transport as transport

    if not transport.HAVE_KERBEROS:
        fail("pywinrm has no Kerberos support (pykerberos missing)")
    if not transport.HAVE_CREDSSP:
        fail("pywinrm has no CredSSP support (requests-credssp missing)")

    endpoint = "https://ex01.corp.contoso.com:5986/wsman"
    kerberos_session = transport.Transport(endpoint, username="admin@CORP.CONTOSO.COM", password="x",
                                           auth_method="kerberos").build_session()
    if type(kerberos_session.auth).__name__ != "HTTPKerberosAuth":
        fail("pywinrm's kerberos transport did not build HTTPKerberosAuth: %r" % kerberos_session.auth)

    import kerberos

    result, context = kerberos.authGSSClientInit("HTTP@ex01.corp.contoso.com",
                                                 gssflags=kerberos.GSS_C_MUTUAL_FLAG)
    if result != kerberos.AUTH_GSS_COMPLETE:
        fail("GSSAPI context not initialised: %r" % result)
    try:
        kerberos.authGSSClientStep(context, "")
    except kerberos.GSSError as exc:
        text = str(exc).lower()
        if not any(word in text for word in ("credential", "ticket", "ccache", "cache", "realm", "kdc")):
            fail("unexpected GSSAPI error (expected: no ticket): %s" % exc)
        kerberos_result = "GSSAPI reached, no ticket (%s)" % str(exc).split(",")[0].strip("(' ")
    else:
        kerberos_result = "GSSAPI produced a token"

    credssp_session = transport.Transport(endpoint, username="CORP\\admin", password="x",
                                          auth_method="credssp").build_session()
    if type(credssp_session.auth).__name__ != "HttpCredSSPAuth":
        fail("pywinrm's credssp transport did not build HttpCredSSPAuth: %r" % credssp_session.auth)
    import spnego

    ntlm = spnego.client("admin", "x", hostname="ex01.corp.contoso.com", protocol="ntlm")
    token = ntlm.step()
    if not token or not token.startswith(b"NTLMSSP\x00"):
        fail("requests-credssp's inner NTLM authentication produced no token")
    print("EE transports OK: kerberos (%s), credssp (HttpCredSSPAuth, NTLM token %d bytes)"
          % (kerberos_result, len(token)))


if __name__ == "__main__":
    main()
