"""IIS as the Exchange server's own PowerShell sees it: ``Import-Module WebAdministration`` and ``Get-WebBinding``.

The bindings are those of a fresh Exchange 2016/2019 server, in the order and form of a real
``Get-WebBinding | Export-Clixml`` dump (microsoft/CSS-Exchange,
``Diagnostics/HealthChecker/Tests/DataCollection/E19/Exchange/IIS/GetWebBinding.xml``, copied into
``tests/lab/tests/fixtures/css_exchange/E19/GetWebBinding.xml``):

=====================  ========  ====================  ==========================================================
site (id)              protocol  bindingInformation    certificateHash / certificateStoreName
=====================  ========  ====================  ==========================================================
Default Web Site (1)   http      ``*:80:``             empty / empty
Default Web Site (1)   https     ``:443:``             the certificate enabled for IIS / ``MY``
Default Web Site (1)   http      ``127.0.0.1:80:``     empty / empty
Default Web Site (1)   https     ``127.0.0.1:443:``    the certificate enabled for IIS / ``MY``
Exchange Back End (2)  http      ``*:81:``             empty / empty
Exchange Back End (2)  https     ``*:444:``            the self-signed certificate Exchange setup made / ``MY``
=====================  ========  ====================  ==========================================================

The certificate enabled for IIS is :func:`exchange.certificates.enabled_certificate` (``'IIS'``), so
``Enable-ExchangeCertificate -Services IIS`` changes the Default Web Site's https bindings; its hash is the upper-case
thumbprint, as in the dump. Each binding is a ``Microsoft.IIs.PowerShell.Framework.ConfigurationElement#bindings#
binding`` with the dump's extended properties (``protocol``, ``bindingInformation``, ``sslFlags`` (Int64),
``isDsMapperEnabled``, ``certificateHash``, ``certificateStoreName``, ``ItemXPath``) and base properties
(``Attributes``, ``ChildElements``, ``ElementTagName``, ``Methods``, ``Schema``); its string form is the dump's
(``http *:80:``, ``https :443: sslFlags=0``). The binding's methods (``AddSslCertificate``, ...) and IIS changes are
not modelled (UnsupportedConstruct).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509

from ..commands import Argument
from ..errors import UnsupportedConstruct
from ..psvalues import PSObject
from .builtins import Builtin, P
from .convert import to_string

IIS_FRAMEWORK = "Microsoft.IIs.PowerShell.Framework."
BINDING_TYPE_NAMES = [IIS_FRAMEWORK + "ConfigurationElement#bindings#binding", IIS_FRAMEWORK + "ConfigurationElement", "System.Object"]
SITES = (("Default Web Site", 1), ("Exchange Back End", 2))
# (site, protocol, bindingInformation, certificate: None | 'IIS' | 'BackEnd') as in the real dump
BINDINGS = (
    ("Default Web Site", "http", "*:80:", None),
    ("Default Web Site", "https", ":443:", "IIS"),
    ("Default Web Site", "http", "127.0.0.1:80:", None),
    ("Default Web Site", "https", "127.0.0.1:443:", "IIS"),
    ("Exchange Back End", "http", "*:81:", None),
    ("Exchange Back End", "https", "*:444:", "BackEnd"),
)
MODULES = {"webadministration": "WebAdministration"}
_METHODS = ("EnableDsMapper", "DisableDsMapper", "AddSslCertificate", "RemoveSslCertificate", "RebindSslCertificate")


def _thumbprint_of_pem(pem: bytes) -> str:
    from ..exchange import x509util as xu
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pem)  # the first certificate of the PEM is the leaf
    return xu.thumbprint(cert.public_bytes(serialization.Encoding.DER))


def iis_certificate_hash(org: Any, server: str) -> str:
    """The thumbprint of the certificate the Default Web Site's https bindings carry ('' when there is none)."""
    from ..exchange.certificates import enabled_certificate

    pair = enabled_certificate(org, server, "IIS")
    return _thumbprint_of_pem(pair[0]) if pair else ""


def back_end_certificate_hash(org: Any, server: str) -> str:
    """The Exchange Back End's certificate: the self-signed 'Microsoft Exchange' certificate setup made (the oldest
    one with a key); '' once no such certificate is left in the store."""
    from ..exchange.certificates import DEFAULT_FRIENDLY_NAME, certificate_store

    with org.lock:
        records = [r for r in certificate_store(org, server)
                   if not r.get("pending") and r.get("key") and r.get("friendly_name") == DEFAULT_FRIENDLY_NAME]
        if not records:
            return ""
        oldest = min(records, key=lambda r: r.get("sequence", 0))
        from ..exchange import x509util as xu

        return xu.thumbprint(base64.b64decode(oldest["der"]))


def _attribute(name: str, type_name: str, value: Any, inherited: bool, extended: bool) -> PSObject:
    return PSObject([IIS_FRAMEWORK + "ConfigurationAttribute", "System.Object"], {
        "IsInheritedFromDefaultValue": inherited,
        "IsProtected": False,
        "Name": name,
        "TypeName": type_name,
        "Schema": PSObject([IIS_FRAMEWORK + "ConfigurationAttributeSchema", "System.Object"], {}, string=IIS_FRAMEWORK + "ConfigurationAttributeSchema"),
        "Value": value,
        "IsExtended": extended,
    }, string=IIS_FRAMEWORK + "ConfigurationAttribute")


def _unsupported_method(name: str):
    def call(*_args: Any) -> Any:
        raise UnsupportedConstruct(f"the IIS binding method {name}()")

    return call


def binding_object(site: str, site_id: int, protocol: str, information: str, certificate_hash: str) -> PSObject:
    store = "MY" if certificate_hash else ""
    attributes = [
        _attribute("protocol", "System.String", protocol, False, False),
        _attribute("bindingInformation", "System.String", information, False, False),
        _attribute("sslFlags", "System.Int64", 0, True, False),
        _attribute("isDsMapperEnabled", "System.Boolean", False, False, True),
        _attribute("certificateHash", "System.String", certificate_hash, False, True),
        _attribute("certificateStoreName", "System.String", store, False, True),
    ]
    methods = [PSObject([IIS_FRAMEWORK + "ConfigurationMethod", "System.Object"], {"Name": m}, string=IIS_FRAMEWORK + "ConfigurationMethod")
               for m in _METHODS]
    schema = PSObject([IIS_FRAMEWORK + "ConfigurationElementSchema", "System.Object"],
                      {"AllowUnrecognizedAttributes": False, "ChildElementSchemas": None, "CollectionSchema": None,
                       "IsCollectionDefault": False, "Name": "binding"}, string=IIS_FRAMEWORK + "ConfigurationElementSchema")
    string = f"{protocol} {information}" + (" sslFlags=0" if protocol == "https" else "")
    return PSObject(BINDING_TYPE_NAMES, {
        "Attributes": attributes,
        "ChildElements": [],
        "ElementTagName": "binding",
        "Methods": methods,
        "Schema": schema,
        "protocol": protocol,
        "bindingInformation": information,
        "sslFlags": 0,
        "isDsMapperEnabled": False,
        "certificateHash": certificate_hash,
        "certificateStoreName": store,
        "ItemXPath": f"/system.applicationHost/sites/site[@name='{site}' and @id='{site_id}']",
    }, string=string, methods={m: _unsupported_method(m) for m in _METHODS})


def web_bindings(org: Any, server: str) -> list[tuple[str, PSObject]]:
    """(site name, binding object) for every binding of the server's IIS, in the dump's order."""
    hashes = {"IIS": iis_certificate_hash(org, server), "BackEnd": back_end_certificate_hash(org, server), None: ""}
    ids = dict(SITES)
    return [(site, binding_object(site, ids[site], protocol, information, hashes[kind])) for site, protocol, information, kind in BINDINGS]


class ImportModule(Builtin):
    """``Import-Module WebAdministration`` (the only module the lab has): no output, as PowerShell without -PassThru.
    Any other module, and -PassThru/-Prefix/-Function..., are unsupported constructs."""

    name = "Import-Module"
    params = [P("Name", "String[]", position=0, pipeline=True), P("Force", "SwitchParameter"), P("Global", "SwitchParameter"),
              P("DisableNameChecking", "SwitchParameter"), P("NoClobber", "SwitchParameter"), P("PassThru", "SwitchParameter"),
              P("Prefix"), P("Function"), P("Cmdlet"), P("Variable"), P("Alias"), P("Scope"), P("AsCustomObject", "SwitchParameter"),
              P("MinimumVersion"), P("RequiredVersion"), P("MaximumVersion"), P("ArgumentList", aliases=("Args",)),
              P("ModuleInfo"), P("Assembly"), P("PSSession"), P("CimSession"), P("FullyQualifiedName")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        modelled = {"Name", "Force", "Global", "DisableNameChecking", "NoClobber"}
        extra = [n for n in bound.values if n not in modelled]
        if extra:
            raise UnsupportedConstruct(f"Import-Module -{extra[0]}")
        if "Name" not in bound.values:
            raise UnsupportedConstruct("Import-Module without -Name")
        names = bound.values["Name"] if isinstance(bound.values["Name"], list) else [bound.values["Name"]]
        for name in names:
            text = to_string(name)
            if text.lower() not in MODULES:
                raise UnsupportedConstruct(f"Import-Module {text}")
        return []


class GetWebBinding(Builtin):
    """``Get-WebBinding [[-Name] <site>] [-Protocol <p>] [-Port <n>]``: the bindings of the server's IIS sites
    (all sites without -Name). -IPAddress and -HostHeader are unsupported constructs. An unknown site gives no output
    (not checked on a real server)."""

    name = "Get-WebBinding"
    params = [P("Name", "String", position=0), P("Protocol", "String"), P("Port", "Int32"), P("IPAddress", "String"),
              P("HostHeader", "String"), P("PSPath", "String[]")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        for name in ("IPAddress", "HostHeader", "PSPath"):
            if name in values:
                raise UnsupportedConstruct(f"Get-WebBinding -{name}")
        site = to_string(values["Name"]) if "Name" in values else None
        protocol = to_string(values["Protocol"]) if "Protocol" in values else None
        port = to_string(values["Port"]) if "Port" in values else None
        result = []
        for binding_site, binding in web_bindings(ctx.lab.org, ctx.server):
            if site is not None and binding_site.casefold() != site.casefold():
                continue
            if protocol is not None and binding.properties["protocol"].casefold() != protocol.casefold():
                continue
            if port is not None and binding.properties["bindingInformation"].split(":")[1] != port:
                continue
            result.append(binding)
        return result


__all__ = ["GetWebBinding", "ImportModule", "binding_object", "iis_certificate_hash", "web_bindings"]
