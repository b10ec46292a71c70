"""The contract between the PowerShell interpreter and the commands it runs (built-ins and Exchange cmdlets).

The interpreter evaluates each command element and hands the command a list of :class:`Argument` tokens in
source order, exactly as written: ``-Identity 'x' -Force -Enabled:$false 'y'`` becomes
``[Arg('Identity'), Arg(None, 'x'), Arg('Force'), Arg('Enabled', False, colon=True), Arg(None, 'y')]``.
Only the command knows which parameters are switches, so pairing names with values is the command's job:
:func:`bind` does it the way PowerShell's parameter binder does (unambiguous prefixes, switches, positions,
mandatory parameters, pipeline input, the common parameters), raising the errors PowerShell raises.
Splatting ``@h`` reaches the command as colon-form arguments, ``@a`` (an array) as positional values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import PSError, parameter_binding

if TYPE_CHECKING:  # pragma: no cover
    from .context import LabContext

NOTHING = object()  # "no value was written" (a bare ``-Switch``)

COMMON_PARAMETERS = {
    "Verbose": "SwitchParameter",
    "Debug": "SwitchParameter",
    "ErrorAction": "ActionPreference",
    "WarningAction": "ActionPreference",
    "InformationAction": "ActionPreference",
    "ErrorVariable": "String",
    "WarningVariable": "String",
    "InformationVariable": "String",
    "OutVariable": "String",
    "OutBuffer": "Int32",
    "PipelineVariable": "String",
}
COMMON_ALIASES = {"ea": "ErrorAction", "wa": "WarningAction", "ev": "ErrorVariable", "ov": "OutVariable", "vb": "Verbose", "db": "Debug", "infa": "InformationAction", "wv": "WarningVariable", "iv": "InformationVariable", "ob": "OutBuffer", "pv": "PipelineVariable"}


@dataclass
class Argument:
    name: str | None  # as written, without the dash (may be an abbreviation); None for a value
    value: Any = NOTHING  # the evaluated value, NOTHING for a bare switch
    colon: bool = False  # ``-Name:value``

    @property
    def is_parameter(self) -> bool:
        return self.name is not None


class CommandContext(Protocol):
    """What a running command may use; the interpreter provides it."""

    lab: LabContext
    server: str  # the Mailbox server this PowerShell runs on
    user: str  # DOMAIN\\user of the WinRM session
    exchange_loaded: bool
    exchange_mode: str | None  # None, 'snapin', 'remote_session' or 'remote_exchange_script' (the last two deserialize)
    error_action: str  # 'Stop' | 'Continue' | 'SilentlyContinue' | 'Ignore' for this invocation (through implicit
    # remoting: the action applied on the server, i.e. -ErrorAction or Continue; see README.powershell.md)

    def write_warning(self, message: str) -> None: ...

    def write_error(self, error: PSError) -> None:
        """Report a non-terminating error (the interpreter applies -ErrorAction / $ErrorActionPreference)."""


class Command(Protocol):
    name: str

    def invoke(self, ctx: CommandContext, args: list[Argument], pipeline_input: list | None) -> list:
        """Run once for the whole pipeline input (``None`` when the command is first in its pipeline)."""


@dataclass
class ParamSpec:
    name: str
    type: str = "Object"  # .NET type name as in exchange-cmdlets.json ("SwitchParameter" marks a switch)
    mandatory_sets: set[str] = field(default_factory=set)  # parameter sets where it is mandatory
    sets: set[str] | None = None  # None = all sets
    position: int | None = None
    pipeline: bool = False  # takes pipeline input by value
    aliases: tuple[str, ...] = ()

    @property
    def is_switch(self) -> bool:
        return self.type == "SwitchParameter"


@dataclass
class Bound:
    values: dict[str, Any]  # canonical parameter name -> raw value (True for a bare switch)
    common: dict[str, Any]  # common parameters (ErrorAction, ...)
    parameter_set: str | None
    from_pipeline: set[str] = field(default_factory=set)


def _resolve_name(command: str, written: str, params: dict[str, ParamSpec]) -> str:
    folded = written.casefold()
    candidates: dict[str, str] = {}
    for name, spec in params.items():
        for alias in (name, *spec.aliases):
            if alias.casefold() == folded:
                return name
            if alias.casefold().startswith(folded):
                candidates[name] = name
    for alias, name in COMMON_ALIASES.items():
        if alias == folded:
            return name
    for name in COMMON_PARAMETERS:
        if name.casefold() == folded:
            return name
        if name.casefold().startswith(folded):
            candidates[name] = name
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise parameter_binding(
            command, f"A parameter cannot be found that matches parameter name '{written}'.", "NamedParameterNotFound"
        )
    raise parameter_binding(
        command,
        f"Parameter cannot be processed because the parameter name '{written}' is ambiguous. "
        f"Possible matches include: {' '.join('-' + c for c in sorted(candidates))}.",
        "AmbiguousParameter",
    )


def bind(
    command: str,
    args: list[Argument],
    params: dict[str, ParamSpec],
    parameter_sets: list[str] | None = None,
    pipeline_input: list | None = None,
) -> Bound:
    """Pair argument tokens with parameters as PowerShell does and choose the parameter set.

    Types are not converted here (the caller knows its types); switches bind ``True`` or the colon value.
    """
    values: dict[str, Any] = {}
    common: dict[str, Any] = {}
    positionals: list[Any] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.is_parameter:
            positionals.append(arg.value)
            continue
        name = _resolve_name(command, arg.name, params)
        spec = params.get(name)
        is_switch = spec.is_switch if spec else COMMON_PARAMETERS[name] == "SwitchParameter"
        if arg.colon:
            value = arg.value
        elif is_switch:
            value = True
        else:
            if index >= len(args) or args[index].is_parameter:
                kind = spec.type if spec else COMMON_PARAMETERS[name]
                raise parameter_binding(
                    command, f"Missing an argument for parameter '{name}'. Specify a parameter of type '{kind}' and try again.",
                    "MissingArgument",
                )
            value = args[index].value
            index += 1
        target = common if spec is None else values
        if name in target:
            raise parameter_binding(command, f"Cannot bind parameter because parameter '{name}' is specified more than once. "
                                    "To provide multiple values to parameters that can accept multiple values, use the array syntax. "
                                    "For example, \"-parameter value1,value2,value3\".", "ParameterAlreadyBound")
        target[name] = value

    positional_specs = sorted((s for s in params.values() if s.position is not None and s.name not in values), key=lambda s: s.position)
    for value in positionals:
        if not positional_specs:
            raise parameter_binding(
                command, f"A positional parameter cannot be found that accepts argument '{_display(value)}'.",
                "PositionalParameterNotFound",
            )
        values[positional_specs.pop(0).name] = value

    from_pipeline: set[str] = set()
    if pipeline_input is not None:
        target = next((s for s in params.values() if s.pipeline and s.name not in values), None)
        if target is None:
            raise parameter_binding(
                command, "The input object cannot be bound to any parameters for the command either because the command "
                "does not take pipeline input or the input and its properties do not match any of the parameters that take pipeline input.",
                "InputObjectNotBound",
            )
        values[target.name] = pipeline_input
        from_pipeline.add(target.name)

    chosen = _choose_set(command, values, params, parameter_sets or [])
    for spec in params.values():
        if spec.name not in values and (chosen in spec.mandatory_sets or "(All)" in spec.mandatory_sets):
            raise parameter_binding(
                command,
                f"Cannot process command because of one or more missing mandatory parameters: {spec.name}.",
                "MissingMandatoryParameter",
            )
    return Bound(values, common, chosen, from_pipeline)


def _choose_set(command: str, values: dict[str, Any], params: dict[str, ParamSpec], sets: list[str]) -> str | None:
    if len(sets) <= 1:
        return sets[0] if sets else None
    possible = [s for s in sets if all(params[n].sets is None or s in params[n].sets for n in values)]
    if not possible:
        raise parameter_binding(command, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")
    if len(possible) == 1:
        return possible[0]
    # Prefer a set whose mandatory parameters are all given, as PowerShell does before declaring ambiguity.
    satisfied = [s for s in possible if all(n in values for n, spec in params.items() if s in spec.mandatory_sets)]
    if len(satisfied) == 1:
        return satisfied[0]
    pool = satisfied or possible
    # Among equals, PowerShell takes the default set; the first listed stands in for it here.
    return pool[0]


def _display(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_display(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return value.to_string() if hasattr(value, "to_string") else str(value)
