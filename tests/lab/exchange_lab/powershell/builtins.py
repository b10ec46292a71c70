"""The Windows PowerShell cmdlets of the subset, each bound with :func:`commands.bind` like a real cmdlet."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..commands import NOTHING, Argument, Bound, ParamSpec, bind
from ..errors import PSError, UnsupportedConstruct, parameter_binding
from ..psvalues import CaseInsensitiveDict, Hashtable, PSObject, SecureString
from . import convert, jsonfmt
from .convert import ScriptBlock, as_list, to_bool, to_string
from .formatting import format_objects
from .interpreter import get_member, unroll

UTILITY = "Microsoft.PowerShell.Commands"


def P(name: str, type: str = "Object", position: int | None = None, pipeline: bool = False, mandatory: bool = False,
      sets: set[str] | None = None, aliases: tuple[str, ...] = ()) -> ParamSpec:
    return ParamSpec(name, type, {"(All)"} if mandatory else set(), sets, position, pipeline, aliases)


def cmdlet_error(command: str, cmdlet_class: str, message: str, error_id: str, category: str = "InvalidArgument",
                 exception: str = "System.ArgumentException", target: Any = None, terminating: bool = False) -> PSError:
    return PSError(message, error_id=f"{error_id},{UTILITY}.{cmdlet_class}", category=category, exception_type=exception,
                   command=command, target=target, terminating=terminating)


class Builtin:
    name = ""
    params: list[ParamSpec] = []
    sets: list[str] | None = None

    def spec(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    def bind(self, args: list[Argument], pipeline_input: list | None) -> Bound:
        return bind(self.name, args, self.spec(), self.sets, pipeline_input)

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        raise NotImplementedError


def _remaining(args: list[Argument], switches: set[str], command: str) -> tuple[list[Argument], list]:
    """Split off positional values for a ValueFromRemainingArguments parameter (``switches``: the command's switch
    parameters, which take no value)."""
    named: list[Argument] = []
    values: list = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.is_parameter:
            named.append(arg)
            is_switch = any(full.startswith(arg.name.lower()) for full in switches)
            if not arg.colon and not is_switch and index < len(args) and not args[index].is_parameter:
                named.append(args[index])
                index += 1
            continue
        values.append(arg.value)
    return named, values


def _int_param(command: str, name: str, value: Any) -> int:
    try:
        return convert.to_int(value)
    except PSError:
        raise parameter_binding(command, f"Cannot bind parameter '{name}'. Cannot convert value \"{to_string(value)}\" to type \"System.Int32\". "
                                "Error: \"Input string was not in a correct format.\"", "CannotConvertArgumentNoMessage") from None


class WriteOutput(Builtin):
    name = "Write-Output"
    params = [P("InputObject", position=0, pipeline=True), P("NoEnumerate", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        named, values = _remaining(args, {"noenumerate", "verbose", "debug"}, self.name)
        bound = self.bind(named, pipeline_input)
        if pipeline_input is not None:
            return list(pipeline_input)
        if "InputObject" in bound.values:
            values = [bound.values["InputObject"]] + values
        no_enumerate = to_bool(bound.values.get("NoEnumerate", False))
        out: list = []
        for value in values:
            out.extend([value] if no_enumerate else unroll(value))
        return out


class WriteHost(Builtin):
    name = "Write-Host"
    params = [P("Object", position=0, pipeline=True), P("NoNewline", "SwitchParameter"), P("Separator"),
              P("ForegroundColor"), P("BackgroundColor")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        named, values = _remaining(args, {"nonewline", "verbose", "debug"}, self.name)
        bound = self.bind(named, pipeline_input)
        if pipeline_input is not None:
            values = list(pipeline_input)
        elif "Object" in bound.values:
            values = [bound.values["Object"]] + values
        separator = to_string(bound.values.get("Separator", " "))
        flat = [item for value in values for item in (as_list(value) if isinstance(value, list) else [value])]
        ctx.session.streams.write_host(separator.join(to_string(v) for v in flat), not to_bool(bound.values.get("NoNewline", False)))
        return []


class WriteWarning(Builtin):
    name = "Write-Warning"
    params = [P("Message", "String", position=0, pipeline=True, mandatory=True, aliases=("Msg",))]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        for message in (pipeline_input if "Message" in bound.from_pipeline else [bound.values["Message"]]):
            ctx.write_warning(to_string(message))
        return []


class WriteVerbose(Builtin):
    name = "Write-Verbose"
    params = [P("Message", "String", position=0, pipeline=True, mandatory=True, aliases=("Msg",))]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        verbose = bound.common.get("Verbose")
        if (verbose is not None and to_bool(verbose)) or ctx.session.preference("VerbosePreference") == "Continue":
            ctx.session.streams.write_verbose(to_string(bound.values["Message"]))
        return []


class WriteDebug(WriteVerbose):
    name = "Write-Debug"

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        self.bind(args, pipeline_input)  # DebugPreference SilentlyContinue: nothing is written
        return []


class WriteError(Builtin):
    name = "Write-Error"
    params = [P("Message", "String", position=0, pipeline=True, aliases=("Msg",)), P("ErrorId", "String"), P("Category"),
              P("TargetObject"), P("Exception"), P("ErrorRecord"), P("CategoryReason", "String"), P("RecommendedAction", "String")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        record = bound.values.get("ErrorRecord")
        if isinstance(record, PSObject) and hasattr(record, "error"):
            error = record.error
            ctx.write_error(error)
            return []
        message = to_string(bound.values.get("Message", ""))
        exception = bound.values.get("Exception")
        if exception is not None and not message:
            message = to_string(get_member(exception, "Message")) or to_string(exception)
        error = PSError(
            message,
            error_id=to_string(bound.values["ErrorId"]) if bound.values.get("ErrorId") else "Microsoft.PowerShell.Commands.WriteErrorException",
            category=to_string(bound.values.get("Category") or "NotSpecified"),
            exception_type="Microsoft.PowerShell.Commands.WriteErrorException",
            target=bound.values.get("TargetObject"),
        )
        # At script level Windows PowerShell names the invocation itself as the failing command.
        position = ctx.position
        if position is not None:
            error.command = position.line_text[position.column - 1:position.column - 1 + position.length].strip() or "Write-Error"
            error.hide_position = True  # type: ignore[attr-defined]  # 5.1 shows no "At line" for a script-level Write-Error
        error.activity = "Write-Error"  # type: ignore[attr-defined]
        ctx.write_error(error)
        return []


class OutString(Builtin):
    name = "Out-String"
    params = [P("InputObject", position=None, pipeline=True), P("Width", "Int32"), P("Stream", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        items = list(pipeline_input) if pipeline_input is not None else ([bound.values["InputObject"]] if "InputObject" in bound.values else [])
        text = format_objects(items)
        if to_bool(bound.values.get("Stream", False)):
            return [line for line in text.split("\r\n")[:-1]]
        return [text]


class OutNull(Builtin):
    name = "Out-Null"
    params = [P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        self.bind(args, pipeline_input)
        return []


class ConvertToJson(Builtin):
    name = "ConvertTo-Json"
    params = [P("InputObject", position=0, pipeline=True, mandatory=True), P("Depth", "Int32"), P("Compress", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        depth = 2
        if "Depth" in bound.values:
            depth = _int_param(self.name, "Depth", bound.values["Depth"])
            if depth < 1 or depth > 100:
                relation, limit = ("less", 1) if depth < 1 else ("greater", 100)
                raise parameter_binding(self.name, f"Cannot validate argument on parameter 'Depth'. The {depth} argument is {relation} than the "
                                        f"{'minimum' if depth < 1 else 'maximum'} allowed range of {limit}. Supply an argument that is "
                                        f"{'greater than or equal to 1' if depth < 1 else 'less than or equal to 100'} and then try the command again.",
                                        "ParameterArgumentValidationError")
        if "InputObject" in bound.from_pipeline:
            items = bound.values["InputObject"]
            if not items:
                return []  # an empty pipeline: EndProcessing has nothing to write
            value = items[0] if len(items) == 1 else list(items)
        else:
            value = bound.values["InputObject"]
        return [jsonfmt.convert_to_json(value, depth, to_bool(bound.values.get("Compress", False)))]


class ConvertFromJson(Builtin):
    name = "ConvertFrom-Json"
    params = [P("InputObject", "String", position=0, pipeline=True, mandatory=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        raw = bound.values["InputObject"]
        items = list(raw) if "InputObject" in bound.from_pipeline else [raw]
        texts = [to_string(item) for item in items]
        if not texts:
            return []
        try:
            parsed = [jsonfmt.from_json_text(texts[0])]
            parsed += [jsonfmt.from_json_text(text) for text in texts[1:]]
        except PSError:
            if len(texts) == 1:
                raise
            parsed = [jsonfmt.from_json_text("\n".join(texts))]
        # Windows PowerShell 5.1 writes a JSON array as one object (the array), not its elements.
        return parsed


class SelectObject(Builtin):
    name = "Select-Object"
    params = [P("Property", position=0), P("ExcludeProperty"), P("ExpandProperty", "String"), P("First", "Int32"), P("Last", "Int32"),
              P("Skip", "Int32"), P("Unique", "SwitchParameter"), P("Index"), P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        if "Index" in values or "ExcludeProperty" in values or "Unique" in values:
            raise UnsupportedConstruct("Select-Object -Index/-ExcludeProperty/-Unique")
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        if "Skip" in values:
            items = items[_int_param(self.name, "Skip", values["Skip"]):]
        if "First" in values or "Last" in values:
            first = _int_param(self.name, "First", values["First"]) if "First" in values else None
            last = _int_param(self.name, "Last", values["Last"]) if "Last" in values else None
            selected = items[:first] if first is not None else []
            if last is not None:
                selected += items[-last:] if last > 0 else []
            items = selected
        if "ExpandProperty" in values:
            if "Property" in values:
                raise UnsupportedConstruct("Select-Object -Property with -ExpandProperty")
            name = to_string(values["ExpandProperty"])
            out: list = []
            for item in items:
                if not _has_property(item, name):
                    ctx.write_error(PSError(
                        f'Property "{name}" cannot be found.', error_id=f"ExpandPropertyNotFound,{UTILITY}.SelectObjectCommand",
                        category="InvalidArgument", exception_type="System.Management.Automation.PSArgumentException", target=item,
                    ))
                    continue
                out.extend(unroll(get_member(item, name)))
            return out
        if "Property" not in values:
            return items
        specs = _property_specs(ctx, as_list(values["Property"]) if isinstance(values["Property"], list) else [values["Property"]])
        out = []
        for item in items:
            properties: list[tuple[str, Any]] = []
            for spec in specs:
                if isinstance(spec, tuple):
                    label, expression = spec
                    if isinstance(expression, ScriptBlock):
                        value = _collect(ctx.run_block(expression, item))
                    else:
                        value = get_member(item, to_string(expression))
                    properties.append((label, value))
                elif any(c in spec for c in "*?["):
                    for name in _property_names(item):
                        if convert.like(name, spec):
                            properties.append((name, get_member(item, name)))
                else:
                    properties.append((spec, get_member(item, spec) if _has_property(item, spec) else None))
            selected = convert.new_custom_object(properties)
            selected.type_names = ["Selected." + convert.type_name_of(item)] + selected.type_names
            out.append(selected)
        return out


def _collect(values: list) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _property_specs(ctx: Any, properties: list) -> list:
    specs: list = []
    for spec in properties:
        if isinstance(spec, Hashtable):
            label = None
            expression = None
            for key, value in spec.items():
                lowered = to_string(key).lower()
                if lowered and ("name".startswith(lowered) or "label".startswith(lowered)):
                    label = to_string(value)
                elif lowered and "expression".startswith(lowered):
                    expression = value
                else:
                    raise PSError(f'The "{to_string(key)}" key is not valid.', error_id=f"DictionaryKeyIllegal,{UTILITY}.SelectObjectCommand",
                                  category="InvalidArgument", exception_type="System.NotSupportedException", terminating=True)
            if expression is None:
                raise PSError('The "Expression" key is missing.', error_id=f"DictionaryKeyMandatoryEntry,{UTILITY}.SelectObjectCommand",
                              category="InvalidArgument", exception_type="System.NotSupportedException", terminating=True)
            if label is None:
                label = expression.text if isinstance(expression, ScriptBlock) else to_string(expression)
            specs.append((label, expression))
        else:
            specs.append(to_string(spec))
    return specs


def _property_names(item: Any) -> list[str]:
    if isinstance(item, Hashtable):
        return ["IsReadOnly", "IsFixedSize", "IsSynchronized", "Keys", "Values", "SyncRoot", "Count"]
    if isinstance(item, PSObject):
        return list(item.properties.keys())
    if isinstance(item, str):
        return ["Length"]
    return []


def _has_property(item: Any, name: str) -> bool:
    if isinstance(item, PSObject):
        return name in item.properties
    if isinstance(item, Hashtable):
        return name.lower() in ("count", "keys", "values")
    if isinstance(item, str):
        return name.lower() == "length"
    if isinstance(item, list):
        return name.lower() in ("count", "length")
    return False


WHERE_OPERATORS = ["EQ", "NE", "GT", "GE", "LT", "LE", "Like", "NotLike", "Match", "NotMatch", "Contains", "NotContains", "In", "NotIn",
                   "CEQ", "CNE", "CGT", "CGE", "CLT", "CLE", "CLike", "CNotLike", "CMatch", "CNotMatch", "CContains", "CNotContains",
                   "CIn", "CNotIn", "Is", "IsNot"]


class WhereObject(Builtin):
    name = "Where-Object"
    params = [P("FilterScript", position=0), P("Value", position=1), P("Property", "String"), P("InputObject", pipeline=True)] + [
        P(op, "SwitchParameter", aliases=(("IEQ",) if op == "EQ" else ())) for op in WHERE_OPERATORS]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        script = values.get("FilterScript")
        operators = [op for op in WHERE_OPERATORS if op in values and to_bool(values[op])]
        if isinstance(script, ScriptBlock) and not operators and "Property" not in values:
            return [item for item in items if to_bool(_collect(ctx.run_block(script, item)))]
        prop = values.get("Property", script)
        if prop is None:
            raise parameter_binding(self.name, "Cannot process command because of one or more missing mandatory parameters: Property.", "MissingMandatoryParameter")
        if len(operators) > 1:
            raise parameter_binding(self.name, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")
        name = to_string(prop)
        if not operators:
            return [item for item in items if to_bool(get_member(item, name))]
        op = operators[0].lower()
        if op in ("is", "isnot"):
            raise UnsupportedConstruct("Where-Object -Is/-IsNot")
        case_sensitive = op.startswith("c") and op not in ("contains",)
        if case_sensitive:
            op = op[1:]
        right = values.get("Value")
        from .interpreter import scalar_comparison

        def test(item: Any) -> bool:
            left = get_member(item, name)
            if op in ("contains", "notcontains"):
                found = any(convert.equals(v, right, case_sensitive) for v in as_list(left))
                return found == (op == "contains")
            if op in ("in", "notin"):
                found = any(convert.equals(v, left, case_sensitive) for v in as_list(right))
                return found == (op == "in")
            if isinstance(left, list):
                return any(scalar_comparison(op, v, right, case_sensitive, None) for v in left)
            return scalar_comparison(op, left, right, case_sensitive, None)

        return [item for item in items if test(item)]


class ForEachObject(Builtin):
    name = "ForEach-Object"
    params = [P("Process", position=0), P("Begin"), P("End"), P("RemainingScripts"), P("MemberName", "String"),
              P("ArgumentList", aliases=("Args",)), P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        process = values.get("Process")
        member = values.get("MemberName")
        if member is None and process is not None and not isinstance(process, (ScriptBlock, list)):
            member = process
            process = None
        out: list = []
        if member is not None:
            arguments = as_list(values.get("ArgumentList")) if "ArgumentList" in values else None
            for item in items:
                name = to_string(member)
                if arguments is None and (_has_property(item, name) or isinstance(item, Hashtable)):
                    out.extend(unroll(get_member(item, name)))
                else:
                    out.extend(unroll(ctx.session.call_method(item, name, arguments or [])))
            return out
        if isinstance(process, list):
            raise UnsupportedConstruct("ForEach-Object with several script blocks")
        if "Begin" in values:
            out.extend(ctx.run_block(values["Begin"]))
        if process is not None:
            if not isinstance(process, ScriptBlock):
                raise parameter_binding(self.name, f"Cannot bind parameter 'Process'. Cannot convert the \"{to_string(process)}\" value of type "
                                        f"\"{convert.type_name_of(process)}\" to type \"System.Management.Automation.ScriptBlock\".", "CannotConvertArgument")
            for item in items:
                out.extend(ctx.run_block(process, item))
        if "End" in values:
            out.extend(ctx.run_block(values["End"]))
        return out


class NewObject(Builtin):
    name = "New-Object"
    params = [P("TypeName", "String", position=0), P("ArgumentList", position=1, aliases=("Args",)), P("Property"), P("ComObject", "String"), P("Strict", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        from .session import new_credential

        bound = self.bind(args, pipeline_input)
        values = bound.values
        if "ComObject" in values:
            raise UnsupportedConstruct("New-Object -ComObject", to_string(values["ComObject"]))
        type_name = to_string(values.get("TypeName", ""))
        lowered = type_name.lower()
        if lowered.startswith("system."):
            lowered = lowered[7:]
        if lowered in ("management.automation.pscredential", "pscredential"):
            arguments = values.get("ArgumentList")
            return [new_credential(as_list(arguments) if isinstance(arguments, list) else ([] if arguments is None else [arguments]))]
        if lowered == "collections.arraylist" and "ArgumentList" not in values and "Property" not in values:
            return [convert.ArrayList()]
        if lowered in ("psobject", "management.automation.psobject", "object") and "ArgumentList" not in values:
            properties = values.get("Property")
            if properties is not None and not isinstance(properties, Hashtable):
                raise UnsupportedConstruct("New-Object -Property with a non-hashtable")
            return [convert.new_custom_object(properties.items() if properties else [])]
        raise UnsupportedConstruct(f"New-Object {type_name}")


class ConvertToSecureString(Builtin):
    name = "ConvertTo-SecureString"
    params = [P("String", "String", position=0, pipeline=True, mandatory=True), P("AsPlainText", "SwitchParameter"),
              P("Force", "SwitchParameter"), P("Key"), P("SecureKey")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        texts = list(values["String"]) if "String" in bound.from_pipeline else [values["String"]]
        if to_bool(values.get("AsPlainText", False)):
            if not to_bool(values.get("Force", False)):
                raise cmdlet_error(self.name, "ConvertToSecureStringCommand",
                                   "The system cannot protect plain text input. To suppress this warning and convert the plain text to a "
                                   "SecureString, reissue the command specifying the Force parameter. For more information ,type: get-help "
                                   "ConvertTo-SecureString.", "ImportSecureString_ForceRequired", exception="System.ArgumentException",
                                   terminating=True)
            return [SecureString(to_string(text)) for text in texts]
        if "Key" in values or "SecureKey" in values:
            raise UnsupportedConstruct("ConvertTo-SecureString -Key/-SecureKey")
        # Without -AsPlainText the input must be DPAPI output of ConvertFrom-SecureString on this machine and user.
        raise cmdlet_error(self.name, "ConvertToSecureStringCommand", "Input string was not in a correct format.",
                           "ImportSecureString_InvalidArgument", exception="System.FormatException", terminating=True)


class InvokeExpression(Builtin):
    name = "Invoke-Expression"
    params = [P("Command", "String", position=0, pipeline=True, mandatory=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        commands = list(bound.values["Command"]) if "Command" in bound.from_pipeline else [bound.values["Command"]]
        out: list = []
        for text in commands:
            out.extend(ctx.session.invoke_expression(to_string(text)))
        return out


class GetCommand(Builtin):
    name = "Get-Command"
    params = [P("Name", position=0, pipeline=True), P("CommandType"), P("Module"), P("Noun"), P("Verb")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        if any(k in values for k in ("Module", "Noun", "Verb", "CommandType")):
            raise UnsupportedConstruct("Get-Command -Module/-Noun/-Verb/-CommandType")
        available = ctx.session.command_names()
        patterns = [to_string(n) for n in as_list(values["Name"])] if "Name" in values else ["*"]
        if "Name" in bound.from_pipeline:
            patterns = [to_string(n) for n in values["Name"]]
        out = []
        for pattern in patterns:
            matches = [(n, t) for n, t in available if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
            if not matches and not any(c in pattern for c in "*?["):
                ctx.write_error(PSError(
                    f"The term '{pattern}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
                    "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
                    error_id=f"CommandNotFoundException,{UTILITY}.GetCommandCommand", category="ObjectNotFound",
                    exception_type="System.Management.Automation.CommandNotFoundException", target=pattern,
                ))
            for name, kind in matches:
                out.append(PSObject(f"System.Management.Automation.{'CmdletInfo' if kind == 'Cmdlet' else 'FunctionInfo'}",
                                    {"CommandType": kind, "Name": name, "Version": "", "Source": ""}, string=name))
        return out


class SetStrictMode(Builtin):
    name = "Set-StrictMode"
    params = [P("Version", position=None), P("Off", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        if to_bool(bound.values.get("Off", False)):
            ctx.session.strict = False
        elif "Version" in bound.values:
            ctx.session.strict = True
        else:
            raise parameter_binding(self.name, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")
        return []


class SortObject(Builtin):
    name = "Sort-Object"
    params = [P("Property", position=0), P("Descending", "SwitchParameter"), P("Unique", "SwitchParameter"),
              P("CaseSensitive", "SwitchParameter"), P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        import functools

        bound = self.bind(args, pipeline_input)
        values = bound.values
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        case_sensitive = to_bool(values.get("CaseSensitive", False))
        descending = to_bool(values.get("Descending", False))
        keys: list[tuple[Any, bool]] = []
        for spec in (as_list(values["Property"]) if isinstance(values.get("Property"), list) else ([values["Property"]] if "Property" in values else [])):
            if isinstance(spec, Hashtable):
                expression = next((v for k, v in spec.items() if "expression".startswith(to_string(k).lower())), None)
                order = next((to_bool(v) for k, v in spec.items() if to_string(k).lower() in ("descending", "ascending")
                              and (to_string(k).lower() == "descending") == to_bool(v)), None)
                keys.append((expression, descending if order is None else order))
            else:
                keys.append((spec, descending))

        def key_values(item: Any) -> list:
            if not keys:
                return [item]
            out = []
            for spec, _ in keys:
                if isinstance(spec, ScriptBlock):
                    out.append(_collect(ctx.run_block(spec, item)))
                else:
                    out.append(get_member(item, to_string(spec)))
            return out

        def compare(a: tuple, b: tuple) -> int:
            for index, (left, right) in enumerate(zip(a[0], b[0])):
                reverse = keys[index][1] if keys else descending
                if left is None or right is None:
                    result = (left is not None) - (right is not None)
                elif isinstance(left, str) or isinstance(right, str):
                    x, y = to_string(left), to_string(right)
                    if not case_sensitive:
                        x, y = x.casefold(), y.casefold()
                    result = (x > y) - (x < y)
                else:
                    try:
                        result = convert.compare(left, right, case_sensitive)
                    except PSError:
                        x, y = to_string(left), to_string(right)
                        result = (x > y) - (x < y)
                if result:
                    return -result if reverse else result
            return 0

        decorated = sorted(((key_values(item), item) for item in items), key=functools.cmp_to_key(compare))
        result = [item for _, item in decorated]
        if to_bool(values.get("Unique", False)):
            unique: list = []
            for keyed, item in decorated:
                if not unique or compare((keyed, None), (key_values(unique[-1]), None)) != 0:
                    unique.append(item)
            result = unique
        return result


class MeasureObject(Builtin):
    name = "Measure-Object"
    params = [P("Property", position=0), P("Sum", "SwitchParameter"), P("Average", "SwitchParameter"), P("Maximum", "SwitchParameter"),
              P("Minimum", "SwitchParameter"), P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        items = [item for item in items if item is not None]
        prop = to_string(values["Property"]) if "Property" in values else None
        numbers = [get_member(item, prop) if prop else item for item in items]
        wanted = {k: to_bool(values.get(k, False)) for k in ("Sum", "Average", "Maximum", "Minimum")}
        measured = [convert.to_number(n, "System.Double") for n in numbers] if any(wanted.values()) else []
        result = {
            "Count": len(items),
            "Average": (sum(measured) / len(measured) if measured else None) if wanted["Average"] else None,
            "Sum": sum(measured) if wanted["Sum"] else None,
            "Maximum": (max(measured) if measured else None) if wanted["Maximum"] else None,
            "Minimum": (min(measured) if measured else None) if wanted["Minimum"] else None,
            "Property": prop,
        }
        return [PSObject(["Microsoft.PowerShell.Commands.GenericMeasureInfo", "Microsoft.PowerShell.Commands.MeasureInfo", "System.Object"],
                         result, string="Microsoft.PowerShell.Commands.GenericMeasureInfo")]


class AddMember(Builtin):
    name = "Add-Member"
    params = [P("MemberType", position=0, aliases=("Type",)), P("Name", "String", position=1), P("Value", position=2),
              P("NotePropertyName", "String"), P("NotePropertyValue"), P("NotePropertyMembers"), P("PassThru", "SwitchParameter"),
              P("Force", "SwitchParameter"), P("InputObject", pipeline=True)]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        items = list(values["InputObject"]) if "InputObject" in bound.from_pipeline else ([values["InputObject"]] if "InputObject" in values else [])
        if "MemberType" in values and to_string(values["MemberType"]).lower() != "noteproperty":
            raise UnsupportedConstruct(f"Add-Member -MemberType {to_string(values['MemberType'])}")
        members: list[tuple[str, Any]] = []
        if "NotePropertyMembers" in values:
            table = values["NotePropertyMembers"]
            if not isinstance(table, Hashtable):
                raise UnsupportedConstruct("Add-Member -NotePropertyMembers with a non-hashtable")
            members = [(to_string(k), v) for k, v in table.items()]
        elif "NotePropertyName" in values:
            members = [(to_string(values["NotePropertyName"]), values.get("NotePropertyValue"))]
        elif "Name" in values:
            members = [(to_string(values["Name"]), values.get("Value"))]
        else:
            raise parameter_binding(self.name, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")
        out = []
        for item in items:
            if not isinstance(item, PSObject):
                raise UnsupportedConstruct(f"Add-Member on a {convert.type_name_of(item)}")
            for name, value in members:
                if name in item.properties and not to_bool(values.get("Force", False)):
                    ctx.write_error(PSError(
                        f'Cannot add a member with the name "{name}" because a member with that name already exists. To overwrite the member '
                        "anyway, add the Force parameter to your command.", error_id=f"MemberAlreadyExists,{UTILITY}.AddMemberCommand",
                        category="InvalidOperation", exception_type="System.InvalidOperationException", target=item))
                    continue
                item.properties[name] = value
            if to_bool(values.get("PassThru", False)):
                out.append(item)
        return out


class StartSleep(Builtin):
    name = "Start-Sleep"
    params = [P("Seconds", "Int32", position=0, aliases=("s",)), P("Milliseconds", "Int32", aliases=("ms",))]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        import time

        bound = self.bind(args, pipeline_input)
        seconds = _int_param(self.name, "Seconds", bound.values["Seconds"]) if "Seconds" in bound.values else 0
        milliseconds = _int_param(self.name, "Milliseconds", bound.values["Milliseconds"]) if "Milliseconds" in bound.values else 0
        time.sleep(max(0, seconds) + max(0, milliseconds) / 1000)
        return []


ALIASES = {
    "%": "ForEach-Object", "foreach": "ForEach-Object", "?": "Where-Object", "where": "Where-Object", "select": "Select-Object",
    "echo": "Write-Output", "write": "Write-Output", "iex": "Invoke-Expression", "gcm": "Get-Command", "asnp": "Add-PSSnapin",
    "nsn": "New-PSSession", "ipsn": "Import-PSSession", "rsn": "Remove-PSSession", "sort": "Sort-Object", "measure": "Measure-Object",
    "sleep": "Start-Sleep", "gci": "Get-ChildItem", "dir": "Get-ChildItem", "ls": "Get-ChildItem", "ipmo": "Import-Module",
}


def builtin_commands() -> CaseInsensitiveDict:
    from .exchange_shell import AddPSSnapin, ImportPSSession, NewPSSession, RemovePSSession
    from .providers import GetChildItem, TestPath  # the Cert: drive (local machine stores)
    from .webadministration import GetWebBinding, ImportModule  # IIS bindings (WebAdministration)

    commands = CaseInsensitiveDict()
    for cls in (WriteOutput, WriteHost, WriteWarning, WriteVerbose, WriteDebug, WriteError, OutString, OutNull, ConvertToJson,
                ConvertFromJson, SelectObject, WhereObject, ForEachObject, NewObject, ConvertToSecureString, InvokeExpression,
                GetCommand, SetStrictMode, SortObject, MeasureObject, AddMember, StartSleep, AddPSSnapin, NewPSSession, ImportPSSession,
                RemovePSSession, GetChildItem, TestPath, ImportModule, GetWebBinding):
        command = cls()
        commands[command.name] = command
    for alias, target in ALIASES.items():
        commands[alias] = commands[target]
    return commands


__all__ = ["builtin_commands", "Builtin", "P", "cmdlet_error", "NOTHING"]
