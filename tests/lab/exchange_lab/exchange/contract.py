"""The parameter contract (``exchange-cmdlets.json``): binding, version checks, type conversion, -WhatIf/-Confirm.

Each cmdlet becomes an :class:`ExchangeCommand` whose parameters are those of the JSON that apply to the emulated
version; a parameter documented only for another version does not exist, so PowerShell's binder refuses it with
NamedParameterNotFound exactly as Exchange does. Bound values are converted to the declared .NET types with
PowerShell's error wording, then the registered implementation runs under the organisation lock.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..commands import Argument, CommandContext, ParamSpec, bind
from ..errors import PSError, parameter_binding
from ..psvalues import Hashtable, PSEnum, PSObject
from . import remoting
from . import types as T
from .registry import CMDLETS, Call, exchange_error

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

CONTRACT_ENV = "EXCHANGE_LAB_CMDLETS_JSON"


def _default_contract_path() -> Path:
    # The lab's own copy (package data, exchange_lab/data/): extracted from Microsoft's cmdlet reference at the
    # commit its "source" names; data/README.md says how tools/build_cmdlet_contract.py regenerates it.
    return Path(__file__).resolve().parents[1] / "data" / "exchange-cmdlets.json"


@functools.lru_cache(maxsize=4)
def load_contract(path: str | None = None) -> dict:
    source = Path(path or os.environ.get(CONTRACT_ENV) or _default_contract_path())
    return json.loads(source.read_text(encoding="utf-8"))["cmdlets"]


# Element types of MultiValuedProperty parameters (the JSON only says "MultiValuedProperty").
MULTIVALUED_ELEMENTS = {
    "Bindings": "IPBinding",
    "RemoteIPRanges": "IPRange",
    "AddressSpaces": "AddressSpace",
    "SmartHosts": "SmartHost",
    "IISAuthenticationMethods": "AuthenticationMethod",
    "ExternalAuthenticationMethods": "AuthenticationMethod",
    "InternalAuthenticationMethods": "AuthenticationMethod",
    "SourceTransportServers": "ServerIdParameter",
}

# Verbs whose cmdlets have ConfirmImpact High in Exchange: they ask for confirmation unless -Confirm:$false,
# and a WinRM host cannot answer, so the prompt fails.
CONFIRMING_VERBS = ("Remove",)


_NO_INPUT = object()  # the command is first in its pipeline


class ExchangeCommand:
    """One Exchange cmdlet as the interpreter sees it (:class:`commands.Command`)."""

    def __init__(self, org: "Organization", server: str, name: str, definition: dict):
        self.org = org
        self.server = server
        self.name = name
        self.definition = definition
        self.function = CMDLETS[name]
        self.params, self.parameter_sets = build_specs(definition, org.version)

    def __repr__(self) -> str:
        return f"ExchangeCommand({self.name!r}, server={self.server!r})"

    # -- invocation -------------------------------------------------------------------------------------------------

    def invoke(self, ctx: CommandContext, args: list[Argument], pipeline_input: list | None) -> list:
        # The process block runs once per pipeline object (never for an empty pipeline), binding each in turn.
        items = [None] if pipeline_input is None else list(pipeline_input)
        results: list = []
        for item in items:
            bound, params = self._bind(args, item if pipeline_input is not None else _NO_INPUT)
            call = Call(self.name, self.org, self.server, params, ctx, bound.parameter_set, bound.from_pipeline)
            try:
                output = self._run(call)
            except PSError as error:
                if error.terminating or len(items) == 1:
                    raise
                ctx.write_error(error)  # a non-terminating error for one object; the next objects still run
                continue
            results.extend(output)
        # Through implicit remoting the client gets what its mode rebuilds (remoting.py): property bags with
        # nested Exchange values as strings in remote_session, Exchange's own objects in remote_exchange_script.
        return remoting.receive(results, ctx, self.org.server_fqdn(self.server))

    def _bind(self, args: list[Argument], item: Any) -> tuple:
        params = self._ordered_params(item)
        bound = bind(self.name, args, params, self.parameter_sets, None if item is _NO_INPUT else [item])
        converted: dict[str, Any] = {}
        for name, raw in bound.values.items():
            value = raw[0] if name in bound.from_pipeline else raw
            converted[name] = convert(self.name, self.params[name], value)
        return bound, converted

    def _ordered_params(self, item: Any) -> dict[str, ParamSpec]:
        """Server objects piped in bind to -Server where the cmdlet has one (PowerShell matches by type)."""
        if isinstance(item, PSObject) and "Server" in self.params and self.params["Server"].pipeline and _is_server_object(item):
            return {"Server": self.params["Server"], **{k: v for k, v in self.params.items() if k != "Server"}}
        return self.params

    def _run(self, call: Call) -> list:
        identity = call.get("Identity", call.get("Name"))
        identity_str = None if identity is None else T.to_text(identity) if not isinstance(identity, list) else ",".join(map(T.to_text, identity))
        injected = call.ctx.lab.faults.cmdlet_failure(self.name, identity_str) if getattr(call.ctx, "lab", None) else None
        if injected:
            raise exchange_error(call, injected, "InvalidOperation", target=identity_str)
        faults = call.ctx.lab.faults if getattr(call.ctx, "lab", None) else None
        delay = faults.cmdlet_delay(self.name, identity_str) if faults else 0.0
        barrier = faults.cmdlet_barrier(self.name) if faults else None
        try:
            with self.org.lock:
                output = self.function(call)
                if not self.name.startswith("Get-") and not call.get("WhatIf"):
                    self.org.save()
        finally:
            # The answer (or the error) arrives late, outside the lock: other sessions' cmdlets run meanwhile.
            if delay > 0:
                time.sleep(delay)
            if barrier is not None:
                try:
                    barrier[0].wait(barrier[1])
                except threading.BrokenBarrierError:  # the other parties never came: answer anyway
                    pass
        return list(output or [])


def _is_server_object(obj: PSObject) -> bool:
    names = {t.removeprefix("Deserialized.") for t in obj.type_names}
    return bool(names & {"Microsoft.Exchange.Data.Directory.Management.ExchangeServer", "Microsoft.Exchange.Data.Directory.SystemConfiguration.Server"})


def build_specs(definition: dict, version: str) -> tuple[dict[str, ParamSpec], list[str]]:
    """ParamSpecs for the parameters that exist in ``version`` and the parameter sets still reachable there."""
    applicable = {name: spec for name, spec in definition["parameters"].items() if version in spec.get("applicable", [])}
    declared_sets = list(definition.get("parameter_sets", {}))

    def sets_of(spec: dict) -> set[str] | None:
        text = spec.get("parameter_sets", "(All)")
        if text.strip() == "(All)":
            return None
        return {part.strip() for part in text.replace(" ", ",").split(",") if part.strip() in declared_sets}

    # A set exists in this version unless a parameter it requires does not (New-EmailAddressPolicy's unified-group
    # sets need the cloud-only IncludeUnifiedGroupRecipients) or all parameters exclusive to it are gone
    # (New-SendConnector's LinkedReceiveConnector set is 2010-only).
    exclusive: dict[str, list[str]] = {s: [] for s in declared_sets}
    unreachable: set[str] = set()
    for name, spec in definition["parameters"].items():
        members = sets_of(spec)
        if members is None:
            continue
        if len(members) == 1:
            exclusive[next(iter(members))].append(name)
        if spec.get("required", "False").startswith("True") and name not in applicable:
            unreachable |= members
    sets = [s for s in declared_sets
            if s not in unreachable and (not exclusive[s] or any(n in applicable for n in exclusive[s]))]

    params: dict[str, ParamSpec] = {}
    for name, spec in applicable.items():
        members = sets_of(spec)
        if members is not None:
            members &= set(sets)
            if not members:
                continue
        required = spec.get("required", "False").startswith("True")
        mandatory = (set(members) if members is not None else {"(All)"}) if required else set()
        position = spec.get("position", "Named")
        params[name] = ParamSpec(
            name=name,
            type=spec["type"],
            mandatory_sets=mandatory,
            sets=members,
            position=int(position) - 1 if position.isdigit() else None,
            pipeline=spec.get("pipeline_input", "False").startswith("True"),
        )
    # Positions in the docs are 1-based and per cmdlet; normalise so the first positional is 0.
    return params, sets


def commands_for(org: "Organization", server: str) -> dict[str, ExchangeCommand]:
    contract = load_contract()
    commands: dict[str, ExchangeCommand] = {}
    for name, definition in contract.items():
        if org.version in definition.get("applicable", []) and name in CMDLETS:
            commands[name] = ExchangeCommand(org, server, name, definition)
    return commands


# --- conversion -------------------------------------------------------------------------------------------------


class MultiValuedChange:
    """``@{Add=...; Remove=...}`` written to a MultiValuedProperty parameter."""

    def __init__(self, add: list, remove: list):
        self.add = add
        self.remove = remove

    def apply(self, current: list) -> list:
        folded_remove = {str(v).casefold() for v in self.remove}
        result = [v for v in current if str(v).casefold() not in folded_remove]
        for value in self.add:
            if str(value).casefold() not in {str(v).casefold() for v in result}:
                result.append(value)
        return result

    def __repr__(self) -> str:
        return f"MultiValuedChange(add={self.add!r}, remove={self.remove!r})"


def apply_multivalued(current: list, value: list | MultiValuedChange | None) -> list:
    if value is None:
        return []
    if isinstance(value, MultiValuedChange):
        return value.apply(current)
    return list(value)


def _binding_error(cmdlet: str, spec: ParamSpec, value: Any, error: T.ConversionError) -> PSError:
    shown = _shown(value)
    target = T.dotnet_name(spec.type)
    if error.transformation:
        if error.reason.startswith("Cannot convert value"):
            message = f"Cannot process argument transformation on parameter '{spec.name}'. {error.reason}"
        else:
            message = (f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert value "
                       f"\"{shown}\" to type \"{target}\". Error: \"{error.reason}\"")
        return parameter_binding(cmdlet, message, "ParameterArgumentTransformationError")
    message = f"Cannot bind parameter '{spec.name}'. Cannot convert value \"{shown}\" to type \"{target}\". Error: \"{error.reason}\""
    return parameter_binding(cmdlet, message, "CannotConvertArgumentNoMessage")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, Hashtable):
        return "System.Collections.Hashtable"
    return T.to_text(value)


def convert(cmdlet: str, spec: ParamSpec, value: Any) -> Any:
    """A bound value in the parameter's .NET type (plain Python form), or PowerShell's binding error."""
    kind = spec.type
    try:
        if kind == "SwitchParameter":
            return T.to_boolean(value)
        if value is None:
            return _null_for(cmdlet, spec)
        if kind.endswith("[]") or kind in ("MultiValuedProperty", "ProxyAddressTemplateCollection", "ProxyAddressCollection"):
            return _convert_collection(cmdlet, spec, value)
        if isinstance(value, list) and kind in T.ENUMS and T.ENUMS[kind].flags:
            return T.ENUMS[kind].parse(value)  # PowerShell converts an array of names to a flags enum
        if isinstance(value, list):
            if len(value) == 1:
                return convert(cmdlet, spec, value[0])
            raise parameter_binding(
                cmdlet,
                f"Cannot convert 'System.Object[]' to the type '{T.dotnet_name(kind)}' required by parameter '{spec.name}'. "
                "Specified method is not supported.",
                "CannotConvertArgument",
            )
        return convert_scalar(kind, value, spec.name)
    except T.ConversionError as error:
        raise _binding_error(cmdlet, spec, value, error) from None


def _null_for(cmdlet: str, spec: ParamSpec) -> Any:
    kind = spec.type
    if kind in ("Boolean", "Int32", "Int64", "UInt32") or kind in T.ENUMS:
        raise parameter_binding(
            cmdlet,
            f"Cannot bind argument to parameter '{spec.name}' because it is null.",
            "ParameterArgumentValidationErrorNullNotAllowed",
        )
    if spec.name == "Identity" or (kind.endswith("IdParameter") and spec.mandatory_sets):
        raise parameter_binding(cmdlet, f"Cannot bind argument to parameter '{spec.name}' because it is null.",
                                "ParameterArgumentValidationErrorNullNotAllowed")
    return None


def _convert_collection(cmdlet: str, spec: ParamSpec, value: Any) -> Any:
    element = MULTIVALUED_ELEMENTS.get(spec.name, "String")
    if spec.type == "ProxyAddressTemplateCollection":
        element = "ProxyAddressTemplate"
    elif spec.type.endswith("[]"):
        element = spec.type[:-2]
    if isinstance(value, Hashtable) and spec.type == "MultiValuedProperty" or isinstance(value, Hashtable) and spec.type.startswith("Proxy"):
        keys = {k.casefold() for k in value}
        if not keys <= {"add", "remove"}:
            raise T.ConversionError(
                "The hash table for a multivalued property can contain only the keys Add and Remove.", transformation=True)
        def items(key: str) -> list:
            found = next((v for k, v in value.items() if k.casefold() == key), [])
            return [convert_scalar(element, v, spec.name) for v in (found if isinstance(found, list) else [found]) if v is not None]
        return MultiValuedChange(items("add"), items("remove"))
    values = value if isinstance(value, list) else [value]
    if isinstance(value, str) and element in ("String", "AuthenticationMethod") and "," in value and spec.type == "MultiValuedProperty":
        # A single comma-separated string binds to a MultiValuedProperty as several values.
        values = [part.strip() for part in value.split(",") if part.strip()]
    return [convert_scalar(element, item, spec.name) for item in values if item is not None]


def convert_scalar(kind: str, value: Any, parameter: str = "") -> Any:
    if isinstance(value, PSObject) and not isinstance(value, PSEnum) and kind in ("String",):
        return value.to_string()
    if kind == "String":
        if isinstance(value, (list, Hashtable)):
            return _shown(value)
        return T.to_text(value)
    if kind == "Boolean":
        return T.to_boolean(value)
    if kind in ("Int32", "UInt32"):
        return T.to_int(value, 32)
    if kind == "Int64":
        return T.to_int(value, 64)
    if kind == "Uri":
        return T.parse_uri(value)
    if kind == "Fqdn":
        return T.parse_fqdn(value)
    if kind == "Hostname":
        return T.parse_hostname(value)
    if kind == "Unlimited":
        if parameter in ("MaxMessageSize", "MaxSendSize", "MaxReceiveSize", "IrmLogMaxDirectorySize", "DiffRetentionPeriod"):
            return T.parse_size(value, unlimited=True) if parameter != "DiffRetentionPeriod" else T.parse_unlimited_int(value)
        return T.parse_unlimited_int(value)
    if kind == "ByteQuantifiedSize":
        return T.parse_size(value, unlimited=False)
    if kind == "EnhancedTimeSpan":
        return T.parse_timespan(value)
    if kind == "SmtpDomain":
        return T.parse_smtp_domain(value, with_subdomains=False)
    if kind == "SmtpDomainWithSubdomains":
        return T.parse_smtp_domain(value, with_subdomains=True)
    if kind == "SmtpAddress":
        return T.parse_smtp_address(value)
    if kind == "SmtpX509Identifier":
        return T.parse_tls_certificate_name(value)
    if kind == "IPAddress":
        return T.parse_ip_address(value)
    if kind == "IPBinding":
        return T.parse_binding(value)
    if kind == "IPRange":
        return T.parse_ip_range(value)
    if kind == "AddressSpace":
        return T.parse_address_space(value)
    if kind == "SmartHost":
        return T.parse_smart_host(value)
    if kind == "ProxyAddressTemplate":
        return T.parse_proxy_template(value)
    if kind == "EmailAddressPolicyPriority":
        if T.to_text(value).strip().casefold() == "lowest":
            return "Lowest"
        return T.to_int(value)
    if kind in T.ENUMS:
        return T.ENUMS[kind].parse(value)
    if kind.endswith("IdParameter"):
        if isinstance(value, (list, Hashtable)):
            raise T.ConversionError("Specified method is not supported.")
        from .organization import identity_text

        return identity_text(value)
    # Types the lab does not model in detail (credentials, byte arrays, schedules, ...) pass through unchanged.
    return value


# --- ShouldProcess ---------------------------------------------------------------------------------------------


def should_process(call: Call, action: str) -> bool:
    """Exchange's ShouldProcess: False (after writing ``What if: ...``) under -WhatIf; a High-impact cmdlet asks
    for confirmation unless ``-Confirm:$false``, which a WinRM host cannot answer."""
    if call.get("WhatIf"):
        _write_host(call.ctx, f"What if: {action}")
        return False
    verb = call.name.split("-", 1)[0]
    confirm = call.get("Confirm")
    if confirm is True or (verb in CONFIRMING_VERBS and confirm is None):
        raise confirmation_failure(call, action)
    return True


def confirmation_failure(call: Call, action: str) -> PSError:
    return PSError(
        "A command that prompts the user failed because the host program or the command type does not support user "
        "interaction. The host was attempting to request confirmation with the following message: "
        f"Are you sure you want to perform this action?\r\n{action}",
        error_id="HostFunctionNotImplemented," + "Microsoft.Exchange.Management.Tasks." + call.name.replace("-", ""),
        category="NotImplemented",
        exception_type="System.Management.Automation.Host.HostException",
        command=call.name,
        terminating=True,
    )


def _write_host(ctx: Any, text: str) -> None:
    for method in ("write_whatif", "write_host", "write_information"):
        writer = getattr(ctx, method, None)
        if callable(writer):
            writer(text)
            return
    # The interpreter's invocation context has no host writer of its own; its session's streams have one.
    streams = getattr(getattr(ctx, "session", None), "streams", None)
    if streams is not None and callable(getattr(streams, "write_host", None)):
        streams.write_host(text)
        return
    ctx.write_warning(text)


# --- remoting ----------------------------------------------------------------------------------------------------


def deserialize(value: Any, mode: str = "remote_session") -> Any:
    """``value`` as a client of ``mode`` receives it (see remoting.py); kept for callers of the former helper."""
    if mode == "remote_exchange_script":
        return remoting.ems_object(value)
    return remoting.plain_session_object(value)
