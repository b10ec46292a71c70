# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: url_plan
short_description: Turn an Exchange client-access namespace into every URL, certificate name and DNS record
version_added: 0.1.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Pure computation of the documented procedure "Configure mail flow and client access" (Exchange 2013, 2016,
    2019), steps 4 to 6 - no connection to anything.
  - Returns the internal and external URL of every virtual directory (owa, ecp, ews, eas, oab, mapi, powershell),
    the Outlook Anywhere host names, the Autodiscover service internal URI, the names the certificate must carry and
    the public and private DNS records to expect.
  - With O(internal_fqdn) unset the internal URLs equal the external URLs (the unique Outlook on the web FQDN
    included); with a different O(internal_fqdn) every internal URL, Outlook on the web and the EAC included, uses
    that FQDN, as in Microsoft's tables.
  - The Autodiscover internal URI is C(https://<internal namespace>/Autodiscover/Autodiscover.xml) - a name that the
    private DNS view resolves and that the certificate carries.
  - Public DNS - one MX per accepted domain to O(external_fqdn), an A record for O(external_fqdn) to
    O(public_address), a CNAME for O(owa_fqdn) and one for C(autodiscover.<domain>) per accepted domain to
    O(external_fqdn). Private DNS - CNAMEs of the external and Outlook on the web FQDNs (or of the different
    internal FQDN) to the first server's FQDN (or O(private_dns_target)), and of the Client Frontend FQDN when the
    private view does not already hold it (a different internal namespace).
  - The plan's C(urls), C(outlook_anywhere) and C(autodiscover_internal_uri) have the shapes of the options of
    M(mailops.exchange.exchange_vdir_url); C(dns) and C(certificate_names) feed M(mailops.exchange.exchange_validate).
options:
  _input:
    description:
      - The namespace, a mapping with the keys below. Keyword arguments override its keys.
    type: dict
    required: true
  external_fqdn:
    description: The externally accessible FQDN of the Mailbox servers, for example C(mail.contoso.com).
    type: str
    required: true
  owa_fqdn:
    description:
      - The unique Outlook on the web FQDN, for example C(owa.contoso.com), used for the owa and ecp virtual
        directories. Defaults to O(external_fqdn).
    type: str
  internal_fqdn:
    description:
      - The internal namespace when it differs from the external one, for example C(internal.contoso.com).
        Unset means the internal URLs are the same as the external URLs.
    type: str
  servers:
    description: The Mailbox servers, each with its name and FQDN (the private CNAMEs point at the first one).
    type: list
    elements: dict
    default: []
  accepted_domains:
    description:
      - The SMTP domains that receive mail from the Internet (strings, or mappings with C(domain_name)).
    type: list
    elements: raw
    default: []
  public_address:
    description: The public IP address of O(external_fqdn) (its public A record). Unset means no A record is expected.
    type: str
  client_frontend_fqdn:
    description: The FQDN of the C(Client Frontend <server>) receive connector (SMTP submission). Defaults to O(external_fqdn).
    type: str
  private_dns_target:
    description: The server FQDN the private CNAMEs point at. Defaults to the FQDN of the first of O(servers).
    type: str
seealso:
  - module: mailops.exchange.exchange_vdir_url
  - module: mailops.exchange.exchange_validate
"""

EXAMPLES = r"""
- name: Plan the namespace of the seeds (unique Outlook on the web FQDN, internal URLs the same)
  ansible.builtin.set_fact:
    exchange_plan: "{{ exchange_namespace | mailops.exchange.url_plan }}"
  vars:
    exchange_namespace:
      external_fqdn: mail.contoso.com
      owa_fqdn: owa.contoso.com
      accepted_domains: [contoso.com]
      public_address: 172.16.10.11
      servers:
        - name: Mailbox01
          fqdn: mailbox01.corp.contoso.com

- name: The same namespace with a different internal FQDN
  ansible.builtin.debug:
    msg: "{{ exchange_namespace | mailops.exchange.url_plan(internal_fqdn='internal.contoso.com') }}"

- name: Set the URLs of one server from the plan
  mailops.exchange.exchange_vdir_url:
    server: "{{ inventory_hostname }}"
    urls: "{{ exchange_plan.urls }}"
    outlook_anywhere: "{{ exchange_plan.outlook_anywhere }}"
    autodiscover_internal_uri: "{{ exchange_plan.autodiscover_internal_uri }}"
"""

RETURN = r"""
_value:
  description: The URL plan.
  type: dict
  contains:
    namespace:
      description: The normalised namespace (lower-case FQDNs; defaults filled in).
      type: dict
      sample: {external_fqdn: mail.contoso.com, owa_fqdn: owa.contoso.com, internal_fqdn: mail.contoso.com,
               internal_same_as_external: true, client_frontend_fqdn: mail.contoso.com, public_address: 172.16.10.11}
    urls:
      description: Per virtual directory (owa, ecp, ews, eas, oab, mapi, powershell) its C(internal_url) and C(external_url).
      type: dict
      sample: {owa: {internal_url: "https://owa.contoso.com/owa", external_url: "https://owa.contoso.com/owa"},
               powershell: {internal_url: "http://mail.contoso.com/PowerShell", external_url: "http://mail.contoso.com/PowerShell"}}
    outlook_anywhere:
      description: The Outlook Anywhere host names.
      type: dict
      sample: {external_hostname: mail.contoso.com, internal_hostname: mail.contoso.com}
    autodiscover_internal_uri:
      description: The Autodiscover service internal URI (AutoDiscoverServiceInternalUri).
      type: str
      sample: https://mail.contoso.com/Autodiscover/Autodiscover.xml
    certificate_common_name:
      description: The name proposed as the certificate's common name.
      type: str
      sample: mail.contoso.com
    certificate_names:
      description: Every FQDN clients use, which the certificate must cover.
      type: list
      elements: str
      sample: [mail.contoso.com, owa.contoso.com, autodiscover.contoso.com]
    dns:
      description: The DNS records to expect, C(public) and C(private), each a list of C({name, type, value}).
      type: dict
      sample:
        public:
          - {name: contoso.com, type: MX, value: mail.contoso.com}
          - {name: mail.contoso.com, type: A, value: 172.16.10.11}
          - {name: owa.contoso.com, type: CNAME, value: mail.contoso.com}
          - {name: autodiscover.contoso.com, type: CNAME, value: mail.contoso.com}
        private:
          - {name: mail.contoso.com, type: CNAME, value: mailbox01.corp.contoso.com}
          - {name: owa.contoso.com, type: CNAME, value: mailbox01.corp.contoso.com}
    servers:
      description: The servers, normalised.
      type: list
      elements: dict
    accepted_domains:
      description: The accepted domains, normalised.
      type: list
      elements: str
    private_dns_target:
      description: The server FQDN the private CNAMEs point at (null without servers).
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import UrlPlanError, url_plan_from_namespace


def url_plan(namespace, **overrides):
    """``namespace | mailops.exchange.url_plan(internal_fqdn=...)``"""
    try:
        return url_plan_from_namespace(namespace, **overrides)
    except UrlPlanError as exc:
        raise AnsibleFilterError("mailops.exchange.url_plan: %s" % exc)


class FilterModule:
    def filters(self):
        return {"url_plan": url_plan}
