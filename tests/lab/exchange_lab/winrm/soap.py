"""WS-Management SOAP envelopes as a Windows WinRM service reads and writes them (MS-WSMV, cmd shell only)."""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
ACTION_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
ACTION_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
ACTION_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
SIGNAL_CTRL_C = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
STATE_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"

# Windows' default MaxEnvelopeSizekb is 500.
MAX_ENVELOPE_BYTES = 500 * 1024


class WSManFault(Exception):
    """A SOAP fault the service answers with (HTTP 500 as WinRM does for its faults unless said otherwise)."""

    def __init__(self, subcode: str, reason: str, wsman_code: int | None = None, *, sender: bool = True, http_status: int = 500):
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.wsman_code = wsman_code
        self.sender = sender
        self.http_status = http_status


def invalid_selectors() -> WSManFault:
    return WSManFault(
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
        2150858843,
    )


def operation_timed_out() -> WSManFault:
    return WSManFault(
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
        2150858793,
        sender=False,
    )


def quota_exceeded(limit: int) -> WSManFault:
    # ERROR_WSMAN_QUOTA_MAX_SHELLS (0x803381A5), the text PowerShell users see when MaxShellsPerUser is reached.
    return WSManFault(
        "w:QuotaLimit",
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
        "concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. ",
        2150859173,
    )


def access_denied() -> WSManFault:
    return WSManFault("w:AccessDenied", "Access is denied. ", 5)


def action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        "a:ActionNotSupported",
        f"The WS-Management service cannot process the request because the action {action!r} is not supported "
        "for the cmd shell resource. ",
    )


def resource_not_supported(resource_uri: str) -> WSManFault:
    return WSManFault(
        "w:DestinationUnreachable",
        f"The WS-Management service cannot process the request. The resource URI {resource_uri!r} was not found "
        "(the lab emulates the cmd shell resource only). ",
    )


def schema_error(detail: str) -> WSManFault:
    return WSManFault("w:SchemaValidationError", f"The SOAP XML in the message does not match the corresponding XML schema definition. {detail} ")


def envelope_too_large() -> WSManFault:
    return WSManFault(
        "w:EncodingLimit",
        "The WS-Management service cannot process the request because the request packet size exceeds the maximum "
        "envelope size of 512000 bytes. ",
    )


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    operation_timeout: float | None
    selectors: dict[str, str]
    options: dict[str, str]
    body: ET.Element
    to: str = ""

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")

    def body_child(self, local_name: str) -> ET.Element | None:
        return self.body.find(f"rsp:{local_name}", NS)


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float:
    """An xs:duration such as PT20S or PT60.000S in seconds."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise schema_error(f"The OperationTimeout {text!r} is not a valid duration.")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_request(data: bytes) -> Request:
    if len(data) > MAX_ENVELOPE_BYTES:
        raise envelope_too_large()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise schema_error(f"The XML is not well formed: {error}.") from None
    if root.tag != f"{{{NS['s']}}}Envelope":
        raise schema_error("The root element is not a SOAP 1.2 Envelope.")
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise schema_error("The Envelope needs a Header and a Body.")

    def text(path: str) -> str | None:
        node = header.find(path, NS)
        return node.text.strip() if node is not None and node.text else None

    action = text("a:Action")
    message_id = text("a:MessageID")
    resource_uri = text("w:ResourceURI")
    if not action or not message_id:
        raise schema_error("The a:Action and a:MessageID headers are required.")
    if not resource_uri:
        raise schema_error("The w:ResourceURI header is required.")
    timeout_text = text("w:OperationTimeout")
    selectors = {node.get("Name", ""): (node.text or "").strip() for node in header.findall("w:SelectorSet/w:Selector", NS)}
    options = {node.get("Name", ""): (node.text or "").strip() for node in header.findall("w:OptionSet/w:Option", NS)}
    return Request(
        action=action,
        message_id=message_id,
        resource_uri=resource_uri,
        operation_timeout=parse_duration(timeout_text) if timeout_text else None,
        selectors=selectors,
        options=options,
        body=body,
        to=text("a:To") or "",
    )


def _envelope(action: str, relates_to: str | None, body: str, extra_headers: str = "") -> bytes:
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
    namespaces = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items() if prefix != "f")
    return (
        f'<s:Envelope xml:lang="en-US" {namespaces}>'
        "<s:Header>"
        f"<a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"{relates}{extra_headers}"
        "</s:Header>"
        f"<s:Body>{body}</s:Body>"
        "</s:Envelope>"
    ).encode("utf-8")


def response(request: Request, body: str) -> bytes:
    return _envelope(request.action + "Response", request.message_id, body)


def fault(fault_: WSManFault, request: Request | None, machine: str) -> bytes:
    code = "s:Sender" if fault_.sender else "s:Receiver"
    detail = ""
    if fault_.wsman_code is not None:
        detail = (
            f'<s:Detail><f:WSManFault xmlns:f="{NS["f"]}" Code="{fault_.wsman_code}" Machine={quoteattr(machine)}>'
            f"<f:Message>{escape(fault_.reason)}</f:Message></f:WSManFault></s:Detail>"
        )
    body = (
        "<s:Fault>"
        f"<s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{fault_.subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault_.reason)}</s:Text></s:Reason>'
        f"{detail}</s:Fault>"
    )
    return _envelope(FAULT_ACTION, request.message_id if request else None, body)


def shell_created(request: Request, address: str, shell_id: str, owner: str, client_ip: str, input_streams: str, output_streams: str) -> bytes:
    body = (
        "<x:ResourceCreated>"
        f"<a:Address>{escape(address)}</a:Address>"
        "<a:ReferenceParameters>"
        f"<w:ResourceURI>{SHELL_URI}</w:ResourceURI>"
        f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters>"
        "</x:ResourceCreated>"
        f"<rsp:Shell>"
        f"<rsp:ShellId>{shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>"
        f"<rsp:InputStreams>{escape(input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(output_streams)}</rsp:OutputStreams>"
        "</rsp:Shell>"
    )
    return response(request, body)


def command_started(request: Request, command_id: str) -> bytes:
    return response(request, f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")


def received(request: Request, command_id: str, streams: list[tuple[str, bytes]], exit_code: int | None) -> bytes:
    parts = []
    for name, data in streams:
        parts.append(f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode("ascii")}</rsp:Stream>')
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"/>')
    else:
        # Windows closes both output streams with an empty End="true" element when the command finishes.
        parts.append(f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}"><rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>')
    return response(request, f'<rsp:ReceiveResponse>{"".join(parts)}</rsp:ReceiveResponse>')


def sent(request: Request) -> bytes:
    return response(request, "<rsp:SendResponse/>")


def signalled(request: Request) -> bytes:
    return response(request, "<rsp:SignalResponse/>")


def deleted(request: Request) -> bytes:
    return response(request, "")


@dataclass
class CommandLine:
    command: str
    arguments: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        # cmd.exe sees the command and its arguments joined by spaces.
        return " ".join([self.command, *self.arguments])


def parse_command_line(request: Request) -> CommandLine:
    node = request.body_child("CommandLine")
    if node is None:
        raise schema_error("The Command request needs an rsp:CommandLine element.")
    command = node.find("rsp:Command", NS)
    if command is None or not (command.text or "").strip():
        raise schema_error("The rsp:CommandLine element needs a non-empty rsp:Command.")
    arguments = [arg.text or "" for arg in node.findall("rsp:Arguments", NS)]
    # Verbatim: the process judges the command line (its length included) as cmd.exe would receive it.
    return CommandLine(command.text, arguments)
