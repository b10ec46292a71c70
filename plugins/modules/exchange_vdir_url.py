#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_vdir_url
short_description: Set the client access URLs of one Exchange server in one call
version_added: "0.1.0"
description:
  - Sets the internal and external URLs of the virtual directories of one Exchange server - Outlook on the web
    (C(owa)), the Exchange admin center (C(ecp)), Exchange Web Services (C(ews)), Exchange ActiveSync (C(eas),
    C(Microsoft-Server-ActiveSync)), the offline address book (C(oab)), MAPI over HTTP (C(mapi)) and remote
    PowerShell (C(powershell)) - as well as the Outlook Anywhere host names, their SSL requirement and client
    authentication method, and the Autodiscover service internal URI of the server.
  - This is steps 4 and 5 of Microsoft's "Configure mail flow and client access" for Exchange 2013, 2016 and 2019.
  - One read round gets every virtual directory, Outlook Anywhere, the client access service and the server's
    C(AdminDisplayVersion); the module compares on the controller and runs at most one batch of
    C(Set-*VirtualDirectory), C(Set-OutlookAnywhere) and C(Set-ClientAccessService) (C(Set-ClientAccessServer) on
    Exchange 2013) commands - one per object that changes.
  - "Microsoft's rules are enforced before anything is written: every URL is absolute and C(https://), except the
    PowerShell virtual directory's, which are C(http://) as in every table of the procedure
    (C(http://mail.contoso.com/PowerShell)); the owa and ecp URLs of one kind (internal or external) use the
    same scheme and host (I(The ECP and OWA virtual directory internal URLs must be the same)); a URL on a virtual
    directory the server does not have (C(mapi) before Exchange 2013 SP1) is refused."
  - The Autodiscover virtual directory has no internal or external URL (I(You can't set an internal URL on the
    Autodiscover virtual directory)), so there is no option for it; Outlook finds Autodiscover inside the
    organisation through the server's Autodiscover service internal URI, O(autodiscover_internal_uri).
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
  server:
    description:
      - The Exchange server whose virtual directories are configured, for example C(EX01) (name or FQDN).
    type: str
    required: true
  web_site:
    description:
      - The IIS web site of the virtual directories (the front end), as in C(EX01\owa (Default Web Site)).
    type: str
    default: Default Web Site
  urls:
    description:
      - The URLs to set, per virtual directory. A virtual directory that is not listed, and a URL key that is not
        given, are left as they are; C(null) or an empty string clears the URL.
      - Comparison is in canonical form (scheme and host case, default port), so C(https://Mail.contoso.com/owa)
        and C(https://mail.contoso.com:443/owa) are the same URL. The value is sent to Exchange as written.
      - A path other than the virtual directory's documented one (for example C(/owa) for owa) is accepted with a
        warning.
      - "Keys: C(owa), C(ecp), C(ews), C(eas), C(oab), C(mapi), C(powershell); each a dictionary with
        C(internal_url) and/or C(external_url). C(autodiscover) is refused: see O(autodiscover_internal_uri)."
    type: dict
    suboptions:
      owa:
        description: Outlook on the web (C(owa (Default Web Site)), C(Set-OwaVirtualDirectory)), for example
          C(https://owa.contoso.com/owa). Its host must be the one of C(ecp).
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      ecp:
        description: The Exchange admin center (C(ecp (Default Web Site)), C(Set-EcpVirtualDirectory)), for example
          C(https://owa.contoso.com/ecp). Its host must be the one of C(owa).
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      ews:
        description: Exchange Web Services (C(EWS (Default Web Site)), C(Set-WebServicesVirtualDirectory)), for
          example C(https://mail.contoso.com/EWS/Exchange.asmx).
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      eas:
        description: Exchange ActiveSync (C(Microsoft-Server-ActiveSync (Default Web Site)),
          C(Set-ActiveSyncVirtualDirectory)), for example C(https://mail.contoso.com/Microsoft-Server-ActiveSync).
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      oab:
        description: The offline address book (C(OAB (Default Web Site)), C(Set-OabVirtualDirectory)), for example
          C(https://mail.contoso.com/OAB).
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      mapi:
        description:
          - MAPI over HTTP (C(mapi (Default Web Site)), C(Set-MapiVirtualDirectory)), for example
            C(https://mail.contoso.com/mapi).
          - Exists on Exchange 2016 and later and on Exchange 2013 SP1 and later; on a server without it the module
            fails before any write.
          - Exchange needs C(-IISAuthenticationMethods) whenever C(-InternalUrl) or C(-ExternalUrl) is set on this
            virtual directory, so every mapi URL change is sent with the server's current IIS authentication
            methods (read with the URLs), or with O(mapi_iis_authentication_methods) when given.
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
      powershell:
        description: Remote PowerShell (C(PowerShell (Default Web Site)), C(Set-PowerShellVirtualDirectory)). The URLs
          are C(http://), for example C(http://mail.contoso.com/PowerShell); C(https://) is refused.
        type: dict
        suboptions:
          internal_url:
            description: The internal URL (C(-InternalUrl)).
            type: str
          external_url:
            description: The external URL (C(-ExternalUrl)).
            type: str
  outlook_anywhere:
    description:
      - Outlook Anywhere (C(Rpc (Default Web Site)), C(Set-OutlookAnywhere)). Keys that are not given are left alone.
      - When a host name is set, its C(*_clients_require_ssl) is sent with it (the value given, else the current
        one, else C(true)).
    type: dict
    suboptions:
      internal_hostname:
        description: The internal host name, for example C(mail.contoso.com); C(null) or empty clears it.
        type: str
      external_hostname:
        description: The external host name, for example C(mail.contoso.com); C(null) or empty clears it.
        type: str
      internal_clients_require_ssl:
        description: Whether internal clients must use SSL.
        type: bool
      external_clients_require_ssl:
        description: Whether external clients must use SSL.
        type: bool
      internal_client_authentication_method:
        description: Authentication method of internal clients.
        type: str
        choices: [Basic, Ntlm, Negotiate]
      external_client_authentication_method:
        description: Authentication method of external clients.
        type: str
        choices: [Basic, Ntlm, Negotiate]
  mapi_iis_authentication_methods:
    description:
      - The IIS authentication methods of the mapi virtual directory (C(Set-MapiVirtualDirectory
        -IISAuthenticationMethods)); one or more of C(Basic), C(Ntlm), C(Negotiate), C(OAuth) (any case).
        Exchange's default is C([Ntlm, OAuth, Negotiate]).
      - Omitted, the server's current methods are kept and sent along with any mapi URL change, as Exchange
        requires. Given, they are set when they differ from the current ones (compared as a set) and sent with
        any mapi URL change.
    type: list
    elements: str
  autodiscover_internal_uri:
    description:
      - The server's Autodiscover service internal URI (C(AutoDiscoverServiceInternalUri)), for example
        C(https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml), set with C(Set-ClientAccessService)
        on Exchange 2016 and later and C(Set-ClientAccessServer) on Exchange 2013 (the module reads the version).
      - Omitted (or C(null)) leaves it alone; an empty string clears it.
    type: str
notes:
  - Runs on the controller and reaches Exchange over WinRM; one WinRM shell, one PowerShell process and one
    Exchange shell load per run.
  - The mailops.exchange.url_plan filter turns a namespace into exactly the O(urls), O(outlook_anywhere) and
    O(autodiscover_internal_uri) this module takes; mailops.exchange.exchange_info returns them in the same shape.
seealso:
  - module: mailops.exchange.exchange_info
  - module: mailops.exchange.exchange_offline_address_book
  - name: Configure mail flow and client access on Exchange servers
    description: Microsoft's procedure; steps 4 and 5 are what this module automates.
    link: https://learn.microsoft.com/exchange/plan-and-deploy/post-installation-tasks/configure-mail-flow-and-client-access
  - name: Default settings for Exchange virtual directories
    description: The virtual directories and their URLs.
    link: https://learn.microsoft.com/exchange/clients/default-virtual-directory-settings
'''

EXAMPLES = r'''
- name: External URLs with a unique Outlook on the web FQDN (step 4)
  mailops.exchange.exchange_vdir_url:
    server: EX01
    urls:
      owa: {external_url: https://owa.contoso.com/owa}
      ecp: {external_url: https://owa.contoso.com/ecp}
      ews: {external_url: https://mail.contoso.com/EWS/Exchange.asmx}
      eas: {external_url: https://mail.contoso.com/Microsoft-Server-ActiveSync}
      oab: {external_url: https://mail.contoso.com/OAB}
      mapi: {external_url: https://mail.contoso.com/mapi}
      powershell: {external_url: http://mail.contoso.com/PowerShell}
    outlook_anywhere:
      external_hostname: mail.contoso.com
      internal_hostname: mail.contoso.com
      external_clients_require_ssl: true
      external_client_authentication_method: Negotiate

- name: Internal URLs on a different namespace (step 5), and the Autodiscover service internal URI
  mailops.exchange.exchange_vdir_url:
    server: EX01
    urls:
      owa: {internal_url: https://internal.contoso.com/owa}
      ecp: {internal_url: https://internal.contoso.com/ecp}
      ews: {internal_url: https://internal.contoso.com/EWS/Exchange.asmx}
      eas: {internal_url: https://internal.contoso.com/Microsoft-Server-ActiveSync}
      oab: {internal_url: https://internal.contoso.com/OAB}
      powershell: {internal_url: http://internal.contoso.com/PowerShell}
    autodiscover_internal_uri: https://internal.contoso.com/Autodiscover/Autodiscover.xml

- name: Everything from the URL plan of a namespace, for every server
  mailops.exchange.exchange_vdir_url:
    server: "{{ item }}"
    urls: "{{ plan.urls }}"
    outlook_anywhere: "{{ plan.outlook_anywhere }}"
    autodiscover_internal_uri: "{{ plan.autodiscover_internal_uri }}"
  loop: "{{ groups['exchange'] }}"
  vars:
    plan: "{{ {'external_fqdn': 'mail.contoso.com', 'owa_fqdn': 'owa.contoso.com'} | mailops.exchange.url_plan }}"

- name: Clear the external URL of the PowerShell virtual directory
  mailops.exchange.exchange_vdir_url:
    server: EX01
    urls:
      powershell: {external_url: null}
'''

RETURN = r'''
server:
  description: The server as read.
  returned: always
  type: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: EX01
    fqdn:
      description: Server FQDN.
      type: str
      sample: ex01.corp.contoso.com
    admin_display_version:
      description: C(AdminDisplayVersion) as Exchange prints it.
      type: str
      sample: Version 15.2 (Build 1118.7)
    version:
      description: C(2013), C(2016), C(2019) or C(SE).
      type: str
      sample: "2019"
urls:
  description: Every virtual directory's URLs after the run (predicted in check mode), in the shape of O(urls);
    a virtual directory the server does not have is missing.
  returned: always
  type: dict
  sample:
    owa: {internal_url: https://owa.contoso.com/owa, external_url: https://owa.contoso.com/owa}
    powershell: {internal_url: http://mail.contoso.com/PowerShell, external_url: http://mail.contoso.com/PowerShell}
outlook_anywhere:
  description: Outlook Anywhere after the run, in the shape of O(outlook_anywhere); empty if the server has none.
  returned: always
  type: dict
  sample:
    internal_hostname: mail.contoso.com
    external_hostname: mail.contoso.com
    internal_clients_require_ssl: false
    external_clients_require_ssl: true
    internal_client_authentication_method: Ntlm
    external_client_authentication_method: Negotiate
autodiscover_internal_uri:
  description: The Autodiscover service internal URI after the run.
  returned: always
  type: str
  sample: https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml
mapi_iis_authentication_methods:
  description: The IIS authentication methods of the mapi virtual directory after the run; null if the server has
    no mapi virtual directory.
  returned: always
  type: list
  elements: str
  sample: [Ntlm, OAuth, Negotiate]
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - Set-OwaVirtualDirectory -Identity 'EX01\owa (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/owa'
    - >-
      Set-MapiVirtualDirectory -Identity 'EX01\mapi (Default Web Site)' -ExternalUrl 'https://mail.contoso.com/mapi'
      -IISAuthenticationMethods @('Ntlm', 'OAuth', 'Negotiate')
    - Set-OutlookAnywhere -Identity 'EX01\Rpc (Default Web Site)' -ExternalHostname 'mail.contoso.com' -ExternalClientsRequireSsl:$true
diff:
  description: Before and after of O(urls), O(outlook_anywhere), O(autodiscover_internal_uri) and
    O(mapi_iis_authentication_methods) (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''


from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script


def validate(params):
    """Everything that needs no Exchange; raises vdir_plan.VdirError (a ValueError)."""
    server = (params.get("server") or "").strip()
    if not server or not vdir_plan.valid_hostname(server):
        raise vdir_plan.VdirError("server %r is not a valid server name (for example EX01 or ex01.corp.contoso.com)"
                                  % params.get("server"))
    web_site = (params.get("web_site") or "").strip()
    if not web_site or any(c in web_site for c in "\\()\r\n"):
        raise vdir_plan.VdirError("web_site %r is not a web site name (for example Default Web Site)"
                                  % params.get("web_site"))
    urls = vdir_plan.validate_urls(params.get("urls"))
    outlook_anywhere = vdir_plan.validate_outlook_anywhere(params.get("outlook_anywhere"))
    uri = vdir_plan.validate_autodiscover_uri(params.get("autodiscover_internal_uri"))
    mapi_iis = vdir_plan.validate_iis_methods(params.get("mapi_iis_authentication_methods"))
    return server, web_site, urls, outlook_anywhere, uri, mapi_iis


def requested(params, raw):
    """The options with only the URL and Outlook Anywhere keys the user wrote (absent = leave alone)."""
    out = dict(params)
    out["urls"] = vdir_plan.given_urls((raw or {}).get("urls"), params.get("urls"))
    out["outlook_anywhere"] = vdir_plan.given((raw or {}).get("outlook_anywhere"), params.get("outlook_anywhere"),
                                              vdir_plan.OUTLOOK_ANYWHERE_KEYS)
    return out


def run(module):
    # Ansible fills suboptions the user left out with None; the options as written tell "absent" (leave alone) from
    # null (clear).
    server, web_site, urls, outlook_anywhere, uri, mapi_iis = validate(requested(module.params, module.given_params()))
    for warning in vdir_plan.path_warnings(urls):
        module.ansible.warn(warning)
    read_script = ps_script(vdir_plan.READ_SCRIPT, server=server)
    state = vdir_plan.current_state(module.query(read_script) or {}, web_site=web_site)
    result = vdir_plan.plan(state, urls, outlook_anywhere, uri, mapi_iis)
    # The server is read back in the same round trip as the writes: what the task returns is what Exchange reads
    # (the step's check uses it), and a write Exchange did not carry out fails the task.
    answer = module.apply(result.commands, read_back=read_script)
    after = result.after
    if answer is not None:
        again = vdir_plan.plan(vdir_plan.current_state(answer, web_site=web_site), urls, outlook_anywhere, uri, mapi_iis)
        module.confirm_read_back(result.commands, again.commands)
        after = again.after
    module.exit(
        changed=result.changed,
        before=result.before,
        after=after,
        server=state["server"],
        urls=after["urls"],
        outlook_anywhere=after["outlook_anywhere"],
        autodiscover_internal_uri=after["autodiscover_internal_uri"],
        mapi_iis_authentication_methods=after["mapi_iis_authentication_methods"],
    )


def main():
    module = ExchangeModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            web_site=dict(type="str", default="Default Web Site"),
            urls=dict(type="dict", options=dict(
                (kind.key, dict(type="dict", options=dict(internal_url=dict(type="str"), external_url=dict(type="str"))))
                for kind in vdir_plan.VDIRS)),
            outlook_anywhere=dict(type="dict", options=dict(
                internal_hostname=dict(type="str"),
                external_hostname=dict(type="str"),
                internal_clients_require_ssl=dict(type="bool"),
                external_clients_require_ssl=dict(type="bool"),
                internal_client_authentication_method=dict(type="str", choices=list(vdir_plan.AUTH_METHODS)),
                external_client_authentication_method=dict(type="str", choices=list(vdir_plan.AUTH_METHODS)),
            )),
            autodiscover_internal_uri=dict(type="str"),
            mapi_iis_authentication_methods=dict(type="list", elements="str"),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
