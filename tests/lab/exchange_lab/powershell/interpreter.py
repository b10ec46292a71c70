"""The evaluator: walks tree-sitter-powershell syntax trees and runs the documented subset (README.powershell.md).

Anything outside the subset raises :class:`UnsupportedConstruct` naming the node type or keyword.

Error model (as PowerShell's):

* non-terminating errors (``ctx.write_error``) go to the error stream; ``-ErrorAction``/``$ErrorActionPreference``
  ``Stop`` turns them into script-terminating errors;
* statement-terminating errors (command not found, parameter binding, .NET method exceptions) end the statement;
  the script goes on with the next one, unless a ``try`` encloses it or ``$ErrorActionPreference`` is ``Stop``;
* script-terminating errors (``throw``, errors escalated by ``Stop``) end the whole script unless caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..commands import NOTHING, Argument
from ..errors import PSError, UnsupportedConstruct
from ..psvalues import CaseInsensitiveDict, Hashtable, PSCredential, PSEnum, PSObject, SecureString
from . import convert
from .convert import ScriptBlock, TypeRef, as_list, to_bool, to_number, to_string
from .parser import ParseException, Position, Source

EXCHANGE_INSTALL_PATH = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
ACTION_PREFERENCES = ("Stop", "Continue", "SilentlyContinue", "Ignore", "Inquire", "Suspend")
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
BACKTICK_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
# Single-child wrapper nodes of the grammar's precedence ladder.
BINARY_NODES = {
    "logical_expression", "bitwise_expression", "comparison_expression", "additive_expression",
    "multiplicative_expression", "format_expression", "range_expression",
    "logical_argument_expression", "bitwise_argument_expression", "comparison_argument_expression",
    "additive_argument_expression", "multiplicative_argument_expression", "format_argument_expression",
    "range_argument_expression",
}
ARRAY_NODES = {"array_literal_expression", "argument_expression"}
INCREMENT_NODES = {"post_increment_expression", "post_decrement_expression", "pre_increment_expression", "pre_decrement_expression"}
MULTIPLIERS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


# --- flow control ----------------------------------------------------------------------------------------------

class FlowControl(Exception):
    pass


class ExitScript(FlowControl):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class ReturnFlow(FlowControl):
    pass


class BreakFlow(FlowControl):
    pass


class ContinueFlow(FlowControl):
    pass


def script_terminating(error: PSError) -> bool:
    return bool(getattr(error, "script_terminating", False))


# --- error records ---------------------------------------------------------------------------------------------

def short_type(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def category_info_string(error: PSError) -> str:
    target = error.target
    if target is None:
        target_text, target_type = "", ""
    else:
        target_text = to_string(target)
        target_type = short_type(convert.type_name_of(target)) if not isinstance(target, str) else "String"
    activity = getattr(error, "activity", None)
    if activity is None:
        activity = error.command or ""
    reason = getattr(error, "reason", None) or short_type(error.exception_type)
    return f"{error.category}: ({target_text}:{target_type}) [{activity}], {reason}"


def error_record(error: PSError) -> PSObject:
    """``$_`` in a catch block / an ErrorRecord in the output: the PSError seen through PowerShell's object model."""
    exception = PSObject(
        [error.exception_type, "System.Exception", "System.Object"],
        {"Message": error.message, "InnerException": None, "Source": None, "HResult": -2146233087},
        string=f"{error.exception_type}: {error.message}",
    )
    exception.methods["GetType"] = lambda: type_object(error.exception_type)
    category = PSObject(
        "System.Management.Automation.ErrorCategoryInfo",
        {
            "Category": PSEnum("System.Management.Automation.ErrorCategory", error.category, 0),
            "Activity": getattr(error, "activity", None) or error.command or "",
            "Reason": getattr(error, "reason", None) or short_type(error.exception_type),
            "TargetName": to_string(error.target) if error.target is not None else "",
            "TargetType": short_type(convert.type_name_of(error.target)) if error.target is not None else "",
        },
        string=category_info_string(error),
    )
    position: Position | None = getattr(error, "position", None)
    my_command = None
    if error.command:
        my_command = PSObject("System.Management.Automation.CmdletInfo", {"Name": error.command, "CommandType": "Cmdlet"}, string=error.command)
    invocation = PSObject(
        "System.Management.Automation.InvocationInfo",
        {
            "MyCommand": my_command,
            "ScriptLineNumber": position.line if position else 0,
            "OffsetInLine": position.column if position else 0,
            "Line": position.line_text if position else "",
            "PositionMessage": "\n".join(position.display_lines()) if position else "",
        },
    )
    record = PSObject(
        ["System.Management.Automation.ErrorRecord", "System.Object"],
        {
            "Exception": exception,
            "TargetObject": error.target,
            "CategoryInfo": category,
            "FullyQualifiedErrorId": error.error_id,
            "ErrorDetails": None,
            "InvocationInfo": invocation,
            "ScriptStackTrace": "at <ScriptBlock>, <No file>: line " + str(position.line if position else 1),
        },
        string=error.message,
    )
    record.error = error  # type: ignore[attr-defined]
    return record


def type_object(full_name: str) -> PSObject:
    return PSObject("System.RuntimeType", {"Name": short_type(full_name), "FullName": full_name}, string=full_name)


def method_error(message: str, error_id: str = "MethodInvocationException", exception: str = "System.Management.Automation.MethodInvocationException") -> PSError:
    return PSError(message, error_id=error_id, category="NotSpecified", exception_type=exception, terminating=True)


def runtime_error(message: str, error_id: str, category: str = "InvalidOperation") -> PSError:
    return PSError(message, error_id=error_id, category=category, exception_type="System.Management.Automation.RuntimeException", terminating=True)


# --- scopes ----------------------------------------------------------------------------------------------------

SCOPE_MODIFIERS = ("global", "script", "local", "private")


class Scope:
    """One PowerShell scope. Reads walk up the parents (dynamic scoping, about_Scopes: "an item is visible in the
    scope in which it was created and in any child scopes, unless you explicitly make it private"); a plain
    assignment writes the current scope. ``private`` holds the names created with ``$private:``."""

    def __init__(self, parent: Scope | None = None):
        self.parent = parent
        self.variables: CaseInsensitiveDict = CaseInsensitiveDict()
        self.private: set[str] = set()

    def find(self, name: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.variables and (scope is self or name.lower() not in scope.private):
                return scope
            scope = scope.parent
        return None


class HostSink:
    """The output of top-level statements: written to the host as each nested statement produces it."""

    def __init__(self, session: Any):
        self.session = session

    def extend(self, objects: list) -> None:
        if objects:
            self.session.host_output(list(objects))

    def append(self, obj: Any) -> None:
        self.session.host_output([obj])


class UserFunction:
    """``function Name { param(...) ... }``: invoked like a command."""

    def __init__(self, name: str, block: ScriptBlock):
        self.name = name
        self.block = block

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        return ctx.session.evaluator.invoke_block(self.block, args, pipeline_input, command_name=self.name)


# --- evaluator -------------------------------------------------------------------------------------------------

class Evaluator:
    def __init__(self, session: Any):
        self.session = session
        self.src: Source | None = None
        self.try_depth = 0

    # statements ------------------------------------------------------------------------------------------------

    def run_source(self, source: Source, scope: Scope | None = None) -> list:
        """Run a parsed script at top level: each statement's output goes to the host as the statement ends."""
        previous = self.src
        self.src = source
        try:
            body = self._program_body(source.root)
            if body is None:
                return []
            try:
                self.exec_statements(body, HostSink(self.session))
            except (ReturnFlow, BreakFlow, ContinueFlow):
                pass  # at script level these end the script quietly
            return []
        finally:
            self.src = previous

    def _program_body(self, root: Any) -> Any:
        for child in root.named_children:
            if child.type == "statement_list":
                return child
            if child.type == "param_block":
                raise UnsupportedConstruct("param_block", self.snippet(child))
            if child.type != "comment":
                raise UnsupportedConstruct(child.type, self.snippet(child))
        return None

    def snippet(self, node: Any) -> str:
        text = self.src.text_of(node) if self.src else ""
        text = " ".join(text.split())
        return text if len(text) <= 80 else text[:77] + "..."

    def unsupported(self, node: Any, construct: str | None = None) -> UnsupportedConstruct:
        error = UnsupportedConstruct(construct or node.type, self.snippet(node))
        error.position = self.src.position(node)  # type: ignore[attr-defined]
        return error

    def exec_statements(self, node: Any, out: list) -> None:
        for statement in node.named_children:
            if statement.type in ("comment", "empty_statement"):
                continue  # `;` alone is no statement: it must not reset `$?`
            self.exec_statement_guarded(statement, out)

    def exec_statement_guarded(self, statement: Any, out: list) -> None:
        session = self.session
        if getattr(session, "cancelled", False):
            raise ExitScript(1)  # the process was terminated
        session.statement_failed = False
        try:
            self.exec_statement(statement, out)
        except PSError as error:
            self._locate(error, statement)
            if script_terminating(error) or self.try_depth > 0:
                raise
            if session.preference("ErrorActionPreference") == "Stop":
                error.script_terminating = True  # type: ignore[attr-defined]
                raise
            # Statement-terminating: report it and go on with the next statement.
            session.record_error(error)
            session.emit_error(error)
            session.statement_failed = True
        session.last_success = not session.statement_failed

    def _locate(self, error: PSError, node: Any) -> None:
        if getattr(error, "position", None) is None and self.src is not None:
            error.position = self.src.position(node)  # type: ignore[attr-defined]

    def exec_statement(self, node: Any, out: list) -> None:
        kind = node.type
        if kind == "pipeline":
            out.extend(self.run_pipeline(node))
        elif kind == "empty_statement":
            return
        elif kind == "if_statement":
            self.exec_if(node, out)
        elif kind == "foreach_statement":
            self.exec_foreach(node, out)
        elif kind == "try_statement":
            self.exec_try(node, out)
        elif kind == "flow_control_statement":
            self.exec_flow(node, out)
        elif kind == "function_statement":
            self.define_function(node)
        elif kind == "while_statement":
            self.exec_while(node, out)
        elif kind == "do_statement":
            self.exec_do(node, out)
        elif kind == "for_statement":
            self.exec_for(node, out)
        elif kind == "switch_statement":
            self.exec_switch(node, out)
        elif kind == "statement_block":
            body = node.child_by_field_name("statement_list")
            if body is not None:
                self.exec_statements(body, out)
        else:
            raise self.unsupported(node, _keyword(node))

    def exec_block(self, block: Any, out: list) -> None:
        """A ``statement_block`` ``{ ... }`` of if/foreach/try."""
        body = block.child_by_field_name("statement_list")
        if body is None:
            for child in block.named_children:
                if child.type == "statement_list":
                    body = child
        if body is not None:
            self.exec_statements(body, out)

    def exec_if(self, node: Any, out: list) -> None:
        condition = node.child_by_field_name("condition")
        block = next(c for c in node.named_children if c.type == "statement_block")
        if to_bool(self.pipeline_value(condition)):
            self.exec_block(block, out)
            return
        elseifs = node.child_by_field_name("elseif_clauses")
        if elseifs is not None:
            for clause in elseifs.named_children:
                if clause.type != "elseif_clause":
                    continue
                if to_bool(self.pipeline_value(clause.child_by_field_name("condition"))):
                    self.exec_block(next(c for c in clause.named_children if c.type == "statement_block"), out)
                    return
        otherwise = node.child_by_field_name("else_clause")
        if otherwise is not None:
            self.exec_block(next(c for c in otherwise.named_children if c.type == "statement_block"), out)

    def exec_foreach(self, node: Any, out: list) -> None:
        named = [c for c in node.named_children if c.type != "comment"]
        if any(c.type == "foreach_parameter" for c in named):
            raise self.unsupported(node, "foreach -parallel")
        variable = next(c for c in named if c.type == "variable")
        source = next(c for c in named if c.type == "pipeline")
        block = next(c for c in named if c.type == "statement_block")
        collection = self.pipeline_value(source)
        items = list(collection) if isinstance(collection, (list, bytes, bytearray)) else ([] if collection is None else [collection])
        name = self.variable_name(variable)
        for item in items:
            self.session.set_variable(name, item)
            try:
                self.exec_block(block, out)
            except ContinueFlow:
                continue
            except BreakFlow:
                break

    def _loop_body(self, block: Any, out: list) -> bool:
        """Run one iteration; False when `break` ends the loop."""
        if getattr(self.session, "cancelled", False):
            raise ExitScript(1)  # the process was terminated
        try:
            self.exec_block(block, out)
        except ContinueFlow:
            pass
        except BreakFlow:
            return False
        return True

    def _condition(self, node: Any) -> bool:
        pipeline = next((c for c in node.named_children if c.type == "pipeline"), node)
        return to_bool(self.pipeline_value(pipeline))

    def exec_while(self, node: Any, out: list) -> None:
        condition = node.child_by_field_name("condition")
        block = next(c for c in node.named_children if c.type == "statement_block")
        while self._condition(condition):
            if not self._loop_body(block, out):
                break

    def exec_do(self, node: Any, out: list) -> None:
        condition = node.child_by_field_name("condition")
        block = next(c for c in node.named_children if c.type == "statement_block")
        until = any(not c.is_named and c.type.lower() == "until" for c in node.children)
        while True:
            if not self._loop_body(block, out):
                break
            if self._condition(condition) == until:
                break

    def exec_for(self, node: Any, out: list) -> None:
        initializer = node.child_by_field_name("for_initializer")
        condition = node.child_by_field_name("for_condition")
        iterator = node.child_by_field_name("for_iterator")
        block = next(c for c in node.named_children if c.type == "statement_block")
        if initializer is not None:
            self._run_clause(initializer)
        while condition is None or self._condition(condition):
            if not self._loop_body(block, out):
                break
            if iterator is not None:
                self._run_clause(iterator)

    def _run_clause(self, clause: Any) -> None:
        for child in clause.named_children:
            if child.type == "pipeline":
                self.run_pipeline(child)

    def exec_switch(self, node: Any, out: list) -> None:
        mode, case_sensitive = "exact", False
        parameters = next((c for c in node.named_children if c.type == "switch_parameters"), None)
        for parameter in (parameters.named_children if parameters is not None else []):
            name = self.src.text_of(parameter).lstrip("-").lower()
            if name in ("wildcard", "regex", "exact"):
                mode = name
            elif name == "casesensitive":
                case_sensitive = True
            elif name == "file":
                raise self.unsupported(node, "switch -file")
            else:
                raise self.unsupported(parameter, f"switch -{name}")
        condition = next((c for c in node.named_children if c.type == "switch_condition"), None)
        if condition is None or any(c.type == "switch_filename" for c in condition.named_children):
            raise self.unsupported(node, "switch -file")
        value = self.pipeline_value(next(c for c in condition.named_children if c.type == "pipeline"))
        body = next(c for c in node.named_children if c.type == "switch_body")
        clauses_node = next((c for c in body.named_children if c.type == "switch_clauses"), None)
        clauses = [c for c in (clauses_node.named_children if clauses_node is not None else []) if c.type == "switch_clause"]
        items = list(value) if isinstance(value, (list, bytes, bytearray)) else [value]
        session = self.session
        previous = session.get_variable("_")
        try:
            for item in items:
                session.set_variable("_", item)
                matched = False
                try:
                    for clause in clauses:
                        test = next(c for c in clause.named_children if c.type == "switch_clause_condition")
                        block = next(c for c in clause.named_children if c.type == "statement_block")
                        if self.src.text_of(test).strip().lower() == "default":
                            continue
                        if self._switch_matches(test, item, mode, case_sensitive):
                            matched = True
                            self.exec_block(block, out)
                    if not matched:
                        for clause in clauses:
                            test = next(c for c in clause.named_children if c.type == "switch_clause_condition")
                            if self.src.text_of(test).strip().lower() == "default":
                                self.exec_block(next(c for c in clause.named_children if c.type == "statement_block"), out)
                except ContinueFlow:
                    continue
        except BreakFlow:
            pass
        finally:
            session.set_variable("_", previous)

    def _switch_matches(self, test: Any, item: Any, mode: str, case_sensitive: bool) -> bool:
        inner = next((c for c in test.named_children if c.type != "comment"), None)
        if inner is None:
            pattern: Any = self.src.text_of(test).strip()
        elif unwrap(inner).type == "script_block_expression":
            block = self.eval(unwrap(inner))
            return to_bool(collect(self.invoke_block(block, [], None, dot_source=True, dollar_underscore=item)))
        elif unwrap(inner).type in ("generic_token", "simple_name"):
            pattern = self.src.text_of(unwrap(inner))
        else:
            pattern = self.eval(inner)
        if mode == "wildcard":
            return convert.like(item, pattern, case_sensitive)
        if mode == "regex":
            return scalar_comparison("match", to_string(item), pattern, case_sensitive, self.session)
        if isinstance(item, str) or isinstance(pattern, str):
            left, right = to_string(item), to_string(pattern)
            return left == right if case_sensitive else left.casefold() == right.casefold()
        return convert.equals(item, pattern, case_sensitive)

    def exec_try(self, node: Any, out: list) -> None:
        named = [c for c in node.named_children if c.type != "comment"]
        body = named[0]
        catches = next((c for c in named if c.type == "catch_clauses"), None)
        final = next((c for c in named if c.type == "finally_clause"), None)
        try:
            self.try_depth += 1
            try:
                self.exec_block(body, out)
            finally:
                self.try_depth -= 1
        except PSError as error:
            self._locate(error, body)
            clause = self._matching_catch(catches, error) if catches is not None else None
            if clause is None:
                if final is not None:
                    self.exec_block(next(c for c in final.named_children if c.type == "statement_block"), out)
                raise
            self.session.record_error(error)
            previous = self.session.get_variable("_")
            self.session.set_variable("_", error_record(error))
            try:
                self.exec_block(next(c for c in clause.named_children if c.type == "statement_block"), out)
            finally:
                self.session.set_variable("_", previous)
                if final is not None:
                    self.exec_block(next(c for c in final.named_children if c.type == "statement_block"), out)
            return
        except FlowControl:
            if final is not None:
                self.exec_block(next(c for c in final.named_children if c.type == "statement_block"), out)
            raise
        if final is not None:
            self.exec_block(next(c for c in final.named_children if c.type == "statement_block"), out)

    def _matching_catch(self, catches: Any, error: PSError) -> Any:
        for clause in catches.named_children:
            if clause.type != "catch_clause":
                continue
            types = next((c for c in clause.named_children if c.type == "catch_type_list"), None)
            if types is None:
                return clause
            for literal in types.named_children:
                if literal.type == "type_literal" and _exception_matches(self.type_name(literal), error):
                    return clause
        return None

    def exec_flow(self, node: Any, out: list) -> None:
        keyword = node.children[0].type.lower()
        argument = next((c for c in node.named_children if c.type == "pipeline"), None)
        if keyword == "throw":
            raise self.throw_error(None if argument is None else self.pipeline_value(argument), node)
        if keyword == "exit":
            code = 0 if argument is None else self.pipeline_value(argument)
            try:
                number = convert.to_int(code)
            except PSError:
                number = 0
            raise ExitScript(number)
        if keyword == "return":
            if argument is not None:
                out.extend(self.run_pipeline(argument))
            raise ReturnFlow()
        if keyword == "break":
            if node.named_children and argument is None and any(c.type == "label_expression" for c in node.named_children):
                raise self.unsupported(node, "break label")
            raise BreakFlow()
        if keyword == "continue":
            raise ContinueFlow()
        raise self.unsupported(node, keyword)

    def throw_error(self, value: Any, node: Any) -> PSError:
        if isinstance(value, PSObject) and hasattr(value, "error"):
            error = value.error
        elif value is None:
            current = self.session.get_variable("_")
            if isinstance(current, PSObject) and hasattr(current, "error"):
                error = current.error
            else:
                error = PSError("ScriptHalted", error_id="ScriptHalted", category="OperationStopped", terminating=True)
        else:
            message = to_string(value)
            error = PSError(message, error_id=message, category="OperationStopped", target=value, terminating=True)
            self._locate(error, node)
        error.script_terminating = True  # type: ignore[attr-defined]
        return error

    def define_function(self, node: Any) -> None:
        name_node = next(c for c in node.named_children if c.type == "function_name")
        if any(c.type == "function_parameter_declaration" for c in node.named_children):
            raise self.unsupported(node, "function parameter declaration")
        block_node = next((c for c in node.named_children if c.type == "script_block"), None)
        block = self.make_scriptblock(block_node, self.src.text_of(node))
        self.session.functions[self.src.text_of(name_node)] = UserFunction(self.src.text_of(name_node), block)

    # pipelines -------------------------------------------------------------------------------------------------

    def pipeline_elements(self, node: Any) -> list:
        children = [c for c in node.named_children if c.type != "comment"]
        if len(children) == 1 and children[0].type == "pipeline_chain":
            chain = children[0]
            elements = [c for c in chain.named_children if c.type != "comment"]
            if any(c.type == "pipeline_chain_tail" for c in elements):
                raise self.unsupported(chain, "pipeline chain operator (&& / ||)")
            return elements
        return children

    def is_expression_pipeline(self, node: Any) -> bool:
        elements = self.pipeline_elements(node)
        return len(elements) == 1 and elements[0].type not in ("command", "assignment_expression") and not self._is_numeric_command(elements[0])

    def run_pipeline(self, node: Any) -> list:
        """Run a pipeline; return its output objects."""
        elements = self.pipeline_elements(node)
        if len(elements) == 1 and elements[0].type == "assignment_expression":
            self.assign(elements[0])
            return []
        if len(elements) == 1:
            inner = unwrap(elements[0])
            if inner.type == "expression_with_unary_operator" and inner.child_count == 1:
                inner = inner.children[0]
            if inner.type in INCREMENT_NODES:
                self.eval(inner)  # `$i++` as a statement writes nothing
                return []
            if inner.type == "cast_expression" and self.type_name(inner.named_children[0]).lower() in ("void", "system.void"):
                self.eval(inner)  # `[void](...)` writes nothing, not even $null
                return []
            if inner.type == "invokation_expression":
                result = self.eval(inner)
                # A void .NET method (Hashtable.Add, ArrayList.Remove, ...) writes nothing; the model returns None for it.
                return [] if result is None else unroll(result)
        data: list | None = None
        for index, element in enumerate(elements):
            if element.type == "command":
                data = self.invoke_command(element, data)
            elif index == 0:
                data = unroll(self.eval(element))
            else:
                raise self.unsupported(element, "expression after '|'")
        return data or []

    def pipeline_value(self, node: Any) -> Any:
        """The value of a pipeline used as a value: an expression as it is, commands' output collected."""
        if node.type != "pipeline":
            return self.eval(node)
        if self.is_expression_pipeline(node):
            return self.eval(self.pipeline_elements(node)[0])
        elements = self.pipeline_elements(node)
        if len(elements) == 1 and self._is_numeric_command(elements[0]):
            element = elements[0]
            return self.numeric_command(element, element.child_by_field_name("command_name"), element.child_by_field_name("command_elements"))
        return collect(self.run_pipeline(node))

    # assignment ------------------------------------------------------------------------------------------------

    def assign(self, node: Any) -> None:
        target = unwrap(next(c for c in node.named_children if c.type == "left_assignment_expression"))
        operator = self.src.text_of(next(c for c in node.named_children if c.type == "assignement_operator")).strip()
        value_node = node.child_by_field_name("value")
        value = self.pipeline_value(value_node)
        if operator != "=":
            current = self.eval(target)
            ops = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%"}
            if operator not in ops:
                raise self.unsupported(node, f"assignment operator {operator}")
            value = self.arithmetic(ops[operator], current, value, node)
        self.assign_to(target, value)

    def assign_to(self, target: Any, value: Any) -> None:
        kind = target.type
        if kind == "variable":
            modifier, name = self.variable_reference(target)
            if name.lower().startswith("env:"):
                self.session.environment[name[4:]] = to_string(value)
            elif name.lower() == "null":
                return  # `$null = ...` discards the value
            elif name.lower() in ("true", "false"):
                raise runtime_error(f"Cannot overwrite variable {name} because it is read-only or constant.", "VariableNotWritable", "WriteError")
            else:
                self.session.set_variable(name, value, scope=modifier)
        elif kind == "member_access":
            obj_node, op, member = self.member_parts(target)
            if op == "::":
                self.set_static(self.eval(obj_node), self.member_name(member), value, target)
                return
            self.set_member(self.eval(obj_node), self.member_name(member), value)
        elif kind == "element_access":
            obj_node, index_node = [c for c in target.named_children if c.type != "comment"][:2]
            self.set_index(self.eval(obj_node), self.eval(index_node), value)
        elif kind == "expression_with_unary_operator" and target.named_children and target.named_children[0].type == "cast_expression":
            cast = target.named_children[0]
            type_node, operand = [c for c in cast.named_children if c.type != "comment"][:2]
            self.assign_to(unwrap(operand), self.cast(self.type_name(type_node), value, cast))
        elif kind in ARRAY_NODES:
            targets = [unwrap(c) for c in target.named_children if c.type != "comment"]
            values = as_list(value)
            for index, sub_target in enumerate(targets):
                if index == len(targets) - 1:
                    rest = values[index:]
                    self.assign_to(sub_target, rest[0] if len(rest) == 1 else (rest or None))
                else:
                    self.assign_to(sub_target, values[index] if index < len(values) else None)
        else:
            raise self.unsupported(target, f"assignment to {kind}")

    def set_member(self, obj: Any, name: str, value: Any) -> None:
        if isinstance(obj, Hashtable):
            obj[name] = value
            return
        if isinstance(obj, PSObject) and name in obj.properties:
            obj.properties[name] = value
            return
        raise runtime_error(f"The property '{name}' cannot be found on this object. Verify that the property exists and can be set.", "PropertyNotFound")

    def set_index(self, obj: Any, index: Any, value: Any) -> None:
        if isinstance(obj, Hashtable):
            obj[index] = value
            return
        if isinstance(obj, list):
            position = convert.to_int(index)
            if position < -len(obj) or position >= len(obj):
                raise runtime_error("Index was outside the bounds of the array.", "IndexOutOfRange")
            obj[position] = value
            return
        if obj is None:
            raise runtime_error("Cannot index into a null array.", "NullArray")
        raise self.unsupported_value(f"index assignment on {convert.type_name_of(obj)}")

    def unsupported_value(self, what: str) -> UnsupportedConstruct:
        return UnsupportedConstruct(what)

    # commands --------------------------------------------------------------------------------------------------

    def _is_numeric_command(self, node: Any) -> bool:
        if node.type != "command":
            return False
        name = node.child_by_field_name("command_name")
        return name is not None and name.type == "command_name" and re.match(r"^[0-9]", self.src.text_of(name)) is not None

    def invoke_command(self, node: Any, pipeline_input: list | None) -> list:
        operator_node = next((c for c in node.children if c.type == "command_invokation_operator"), None)
        operator = self.src.text_of(operator_node).strip() if operator_node is not None else None
        name_node = node.child_by_field_name("command_name")
        elements = node.child_by_field_name("command_elements")
        if name_node is None:
            raise self.unsupported(node, "command")
        if operator is None and name_node.type == "command_name" and re.match(r"^[0-9]", self.src.text_of(name_node)):
            return unroll(self.numeric_command(node, name_node, elements))
        args, redirect = self.command_arguments(elements)
        if name_node.type == "command_name":
            target: Any = self.src.text_of(name_node)
        else:
            inner = [c for c in name_node.named_children if c.type != "comment"]
            target_node = inner[0] if inner else name_node
            if target_node.type == "path_command_name":
                parts = [c for c in target_node.named_children]
                target = self.eval(parts[0]) if len(parts) == 1 and parts[0].type == "variable" else self.src.text_of(target_node)
            else:
                target = self.eval(target_node)
        if isinstance(target, ScriptBlock):
            if redirect:
                raise self.unsupported(node, "redirection on a script block invocation")
            return self.invoke_block(target, args, pipeline_input, dot_source=operator == ".")
        name = to_string(target)
        if operator == "." and _looks_like_path(name):
            return self.session.dot_source_file(name, node)
        try:
            command = self.session.resolve_command(name)
        except PSError as error:
            error.command = name
            error.activity = ""  # type: ignore[attr-defined]
            self._locate(error, node)
            raise
        if operator == "." and isinstance(command, UserFunction):
            return self.invoke_block(command.block, args, pipeline_input, dot_source=True, command_name=command.name)
        return self.session.call_command(command, name, args, pipeline_input, redirect, self.src.position(node))

    def numeric_command(self, node: Any, name_node: Any, elements: Any) -> Any:
        """The grammar reads a range such as `1..3`, `1..$n` or `0..($n - 1)` at the start of a pipeline as a
        command name; PowerShell reads a range expression."""
        text = self.src.text_of(name_node)
        match = re.fullmatch(r"(\d+)\.\.(.*)", text)
        rest = [c for c in (elements.named_children if elements is not None else []) if c.type not in ("command_argument_sep", "comment")]
        if match is None:
            raise self.unsupported(node, "command name starting with a digit")
        right_text = match.group(2)
        if right_text == "" and len(rest) == 1 and rest[0].type == "parenthesized_expression":
            right = self.eval(rest[0])
        elif rest:
            raise self.unsupported(node, "range expression")
        elif re.fullmatch(r"\d+", right_text):
            right = int(right_text)
        elif re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", right_text):
            right = self.session.get_variable(right_text[1:])
        else:
            raise self.unsupported(node, "range expression")
        return self.binary("..", int(match.group(1)), right, node)

    def command_arguments(self, elements: Any) -> tuple[list[Argument], dict]:
        args: list[Argument] = []
        redirect: dict[str, str] = {}
        if elements is None:
            return args, redirect
        pending_colon = False
        for child in elements.named_children:
            kind = child.type
            if kind == "comment":
                continue
            if kind == "command_argument_sep":
                if self.src.text_of(child).strip() == ":" and args and args[-1].is_parameter and args[-1].value is NOTHING:
                    pending_colon = True
                continue
            if kind == "command_parameter":
                text = self.src.text_of(child)
                name = text[1:]
                if name.endswith(":"):
                    args.append(Argument(name[:-1]))
                    pending_colon = True
                    continue
                args.append(Argument(name))
                continue
            if kind == "redirection":
                self._redirection(child, redirect)
                continue
            if kind == "generic_token":
                text = self.src.text_of(child)
                if self._token_redirection(text, redirect):
                    continue
                value: Any = self.bare_word(text)
            elif kind == "argument_list":
                # `New-Object Type("a", $b)`: the parenthesised list right after a word is one more argument.
                expressions = child.child_by_field_name("argument_expression_list")
                items = [self.eval(c) for c in expressions.named_children if c.type != "comment"] if expressions is not None else []
                value = items[0] if len(items) == 1 else items
            elif unwrap(child).type == "variable" and self.src.text_of(unwrap(child)).startswith("@"):
                splatted = self.session.get_variable(self.variable_name(unwrap(child)))
                if isinstance(splatted, Hashtable):
                    args.extend(Argument(to_string(key), item, colon=True) for key, item in splatted.items())
                elif isinstance(splatted, list):
                    args.extend(Argument(None, item) for item in splatted)
                elif splatted is not None:
                    args.append(Argument(None, splatted))
                continue
            else:
                value = self.argument_value(child)
            if pending_colon:
                args[-1].value = value
                args[-1].colon = True
                pending_colon = False
            else:
                args.append(Argument(None, value))
        return args, redirect

    def argument_value(self, node: Any) -> Any:
        inner = unwrap(node)
        if inner.type in ARRAY_NODES:
            items = [c for c in inner.named_children if c.type != "comment"]
            return [self.argument_value(c) for c in items]
        if inner.type == "generic_token":
            return self.bare_word(self.src.text_of(inner))
        return self.eval(inner)

    def bare_word(self, text: str) -> Any:
        """A bare word in argument mode is a string (variables inside it expand, as in double quotes)."""
        if "$" not in text and "`" not in text:
            return text
        out: list[str] = []
        index = 0
        while index < len(text):
            char = text[index]
            if char == "`" and index + 1 < len(text):
                out.append(BACKTICK_ESCAPES.get(text[index + 1], text[index + 1]))
                index += 2
                continue
            if char == "$":
                match = re.match(r"\$((?:env:|global:|script:|local:|private:)?[A-Za-z_][A-Za-z0-9_]*)", text[index:], re.IGNORECASE)
                if match:
                    modifier, name = split_scope_modifier(match.group(1))
                    out.append(to_string(self.session.get_variable(name, scope=modifier)))
                    index += len(match.group(0))
                    continue
                if text[index + 1:index + 2] in ("(", "{"):
                    raise UnsupportedConstruct("bare word with a subexpression", text)
            out.append(char)
            index += 1
        return "".join(out)

    def _token_redirection(self, text: str, redirect: dict) -> bool:
        match = re.fullmatch(r"([1-6*]?)>(>?)\s*(\$null|&1)", text, re.IGNORECASE)
        if not match:
            return False
        stream = match.group(1) or "1"
        redirect[stream] = "null" if match.group(3).lower() == "$null" else "output"
        return True

    def _redirection(self, node: Any, redirect: dict) -> None:
        text = " ".join(self.src.text_of(node).split())
        if self._token_redirection(text.replace(" ", ""), redirect):
            return
        raise self.unsupported(node, "redirection to a file")

    def invoke_block(self, block: ScriptBlock, args: list[Argument], pipeline_input: list | None, dot_source: bool = False,
                     command_name: str | None = None, dollar_underscore: Any = NOTHING) -> list:
        """``& { ... }`` / ``. { ... }`` / a function call: bind params, run in a child scope, collect output."""
        session = self.session
        previous_src = self.src
        session.push_scope(dot_source)
        # Dot-sourced (ForEach-Object, Where-Object, `. {}`): variables land in the caller's scope, except the
        # automatic ones, which get their values back afterwards.
        saved = {n: session.scope.variables.get(n, NOTHING) for n in ("_", "args", "input")} if dot_source else {}
        try:
            self.src = block.source
            self._bind_block_parameters(block, args, command_name)
            if dollar_underscore is not NOTHING:
                session.set_variable("_", dollar_underscore, local=True)
            session.set_variable("input", list(pipeline_input or []), local=True)
            out: list = []
            if block.body is not None:
                try:
                    self.exec_statements(block.body, out)
                except ReturnFlow:
                    pass
            return out
        finally:
            self.src = previous_src
            for name, previous in saved.items():
                if previous is NOTHING:
                    session.scope.variables.pop(name, None)
                else:
                    session.scope.variables[name] = previous
            session.pop_scope(dot_source)

    def _block_parameters(self, block: ScriptBlock) -> tuple[list[dict], bool]:
        """The declared parameters of a param() block: name, type constraint, default node, mandatory."""
        parameters: list[dict] = []
        advanced = False
        if block.param_block is None:
            return parameters, advanced
        for child in block.param_block.named_children:
            if child.type == "attribute_list":
                for attribute in child.named_children:
                    if attribute.type != "attribute":
                        continue
                    name = self.src.text_of(attribute).strip("[]() ").lower()
                    if name != "cmdletbinding":
                        raise self.unsupported(attribute, f"attribute {self.src.text_of(attribute)}")
                    advanced = True
            elif child.type not in ("parameter_list", "comment"):
                raise self.unsupported(child)
        plist = next((c for c in block.param_block.named_children if c.type == "parameter_list"), None)
        for parameter in (plist.named_children if plist is not None else []):
            if parameter.type != "script_parameter":
                continue
            spec: dict[str, Any] = {"type": None, "default": None, "mandatory": False}
            for part in parameter.named_children:
                if part.type == "variable":
                    spec["name"] = self.variable_name(part)
                elif part.type == "script_parameter_default":
                    spec["default"] = next(c for c in part.named_children if c.type != "comment")
                elif part.type == "attribute_list":
                    for attribute in part.named_children:
                        if attribute.type != "attribute":
                            continue
                        literal = next((c for c in attribute.named_children if c.type == "type_literal"), None)
                        if literal is not None:
                            spec["type"] = self.type_name(literal)
                            continue
                        name_node = next((c for c in attribute.named_children if c.type == "attribute_name"), None)
                        if name_node is None or self.src.text_of(name_node).lower() != "parameter":
                            raise self.unsupported(attribute, f"parameter attribute {self.src.text_of(attribute)}")
                        advanced = True
                        arguments = next((c for c in attribute.named_children if c.type == "attribute_arguments"), None)
                        for argument in (arguments.named_children if arguments is not None else []):
                            if argument.type != "attribute_argument":
                                continue
                            parts = [c for c in argument.named_children if c.type != "comment"]
                            key = self.src.text_of(parts[0]).lower()
                            if key != "mandatory":
                                raise self.unsupported(argument, f"parameter attribute argument {self.src.text_of(argument)}")
                            spec["mandatory"] = to_bool(self.eval(parts[1])) if len(parts) > 1 else True
                elif part.type != "comment":
                    raise self.unsupported(part)
            parameters.append(spec)
        return parameters, advanced

    def _bind_block_parameters(self, block: ScriptBlock, args: list[Argument], command_name: str | None) -> None:
        from ..errors import parameter_binding

        session = self.session
        parameters, advanced = self._block_parameters(block)
        names = [p["name"] for p in parameters]
        specs = {p["name"]: p for p in parameters}
        is_switch = {n for n in names if (specs[n]["type"] or "").lower() in ("switch", "system.management.automation.switchparameter")}
        bound: dict[str, Any] = {}
        remaining: list = []
        index = 0
        while index < len(args):
            arg = args[index]
            index += 1
            if arg.is_parameter and names:
                exact = [n for n in names if n.lower() == arg.name.lower()]
                matches = exact or [n for n in names if n.lower().startswith(arg.name.lower())]
                if len(matches) == 1:
                    name = matches[0]
                    if arg.colon or arg.value is not NOTHING:
                        bound[name] = arg.value
                    elif name in is_switch:
                        bound[name] = True
                    elif index < len(args) and not args[index].is_parameter:
                        bound[name] = args[index].value
                        index += 1
                    else:
                        raise parameter_binding(command_name or "", f"Missing an argument for parameter '{name}'. Specify a parameter of type "
                                                f"'{specs[name]['type'] or 'System.Object'}' and try again.", "MissingArgument")
                    continue
                if len(matches) > 1:
                    raise parameter_binding(command_name or "", f"Parameter cannot be processed because the parameter name '{arg.name}' is ambiguous. Possible matches include: {' '.join('-' + m for m in matches)}.", "AmbiguousParameter")
                if advanced or command_name is not None:
                    lowered = arg.name.lower()
                    if advanced and any(c.lower().startswith(lowered) for c in ("ErrorAction", "WarningAction", "Verbose", "Debug", "ErrorVariable", "OutVariable")) or lowered in ("ea", "wa"):
                        if not arg.colon and index < len(args) and not args[index].is_parameter and not lowered.startswith(("v", "d")):
                            index += 1
                        continue
                    raise parameter_binding(command_name or "", f"A parameter cannot be found that matches parameter name '{arg.name}'.", "NamedParameterNotFound")
            if arg.is_parameter:
                remaining.append(f"-{arg.name}" + (":" if arg.colon else ""))
                if arg.colon:
                    remaining.append(arg.value)
                continue
            remaining.append(arg.value)
        positional = [n for n in names if n not in bound and n not in is_switch]
        leftover = []
        for value in remaining:
            if positional:
                bound[positional.pop(0)] = value
            elif advanced:
                raise parameter_binding(command_name or "", f"A positional parameter cannot be found that accepts argument '{to_string(value)}'.", "PositionalParameterNotFound")
            else:
                leftover.append(value)
        for name in names:
            spec = specs[name]
            if name in bound:
                value = bound[name]
            elif spec["mandatory"]:
                raise parameter_binding(command_name or "", f"Cannot process command because of one or more missing mandatory parameters: {name}.", "MissingMandatoryParameter")
            elif spec["default"] is not None:
                value = self.pipeline_value(spec["default"])
            else:
                value = False if name in is_switch else None
            if spec["type"] is not None and (name in bound or spec["default"] is not None):
                value = self.cast(spec["type"], value, block.param_block)
            session.set_variable(name, value, local=True)
        session.set_variable("args", leftover, local=True)

    # expressions -----------------------------------------------------------------------------------------------

    def eval(self, node: Any) -> Any:
        kind = node.type
        handler = getattr(self, "eval_" + kind, None)
        if handler is not None:
            return handler(node)
        named = [c for c in node.named_children if c.type != "comment"]
        if kind in BINARY_NODES:
            if len(named) == 1 and node.child_count == 1:
                return self.eval(named[0])
            return self.eval_binary(node)
        if kind in ARRAY_NODES:
            if len(named) == 1 and node.child_count == 1:
                return self.eval(named[0])
            return [self.eval(c) for c in named]
        if kind in ("unary_expression", "pipeline_chain") and len(named) == 1 and node.child_count == 1:
            return self.eval(named[0])
        if kind == "pipeline":
            return self.pipeline_value(node)
        raise self.unsupported(node)

    def eval_binary(self, node: Any) -> Any:
        children = [c for c in node.children if c.type != "comment"]
        left = self.eval(children[0])
        index = 1
        while index < len(children):
            operator_node = children[index]
            right_node = children[index + 1]
            operator = self.src.text_of(operator_node).strip().lower()
            if operator in ("-and", "-or"):
                if operator == "-and":
                    left = to_bool(left) and to_bool(self.eval(right_node))
                else:
                    left = to_bool(left) or to_bool(self.eval(right_node))
            elif operator == "-xor":
                left = to_bool(left) != to_bool(self.eval(right_node))
            else:
                left = self.binary(operator, left, self.eval(right_node), node)
            index += 2
        return left

    def binary(self, operator: str, left: Any, right: Any, node: Any) -> Any:
        if operator in ("+", "-", "*", "/", "%"):
            return self.arithmetic(operator, left, right, node)
        if operator == "..":
            start, end = convert.to_int(left), convert.to_int(right)
            step = 1 if end >= start else -1
            return list(range(start, end + step, step))
        if operator == "-f":
            return format_operator(to_string(left), as_list(right) if isinstance(right, list) else [right])
        if operator in ("-band", "-bor", "-bxor"):
            a, b = convert.to_int(left), convert.to_int(right)
            return {"-band": a & b, "-bor": a | b, "-bxor": a ^ b}[operator]
        return self.comparison(operator, left, right, node)

    def comparison(self, operator: str, left: Any, right: Any, node: Any) -> Any:
        op = operator[1:]
        case_sensitive = False
        if op[:1] in ("c", "i") and op[1:] in COMPARISON_BASE:
            case_sensitive = op[0] == "c"
            op = op[1:]
        if op not in COMPARISON_BASE:
            raise self.unsupported(node, f"operator {operator}")
        if op == "join":
            return to_string(right).join(to_string(v) for v in as_list(left))
        if op == "split":
            return split_operator(left, right, case_sensitive)
        if op == "replace":
            pattern, replacement = (right + [""])[:2] if isinstance(right, list) else (right, "")
            compiled = convert.regex(pattern, case_sensitive)
            repl = convert.dotnet_replacement(to_string(replacement))
            if isinstance(left, list):
                return [compiled.sub(repl, to_string(v)) for v in left]
            return compiled.sub(repl, to_string(left))
        if op in ("contains", "notcontains"):
            found = any(convert.equals(item, right, case_sensitive) for item in as_list(left))
            return found if op == "contains" else not found
        if op in ("in", "notin"):
            found = any(convert.equals(item, left, case_sensitive) for item in as_list(right))
            return found if op == "in" else not found
        if op in ("is", "isnot"):
            result = type_test(left, right.name if isinstance(right, TypeRef) else to_string(right))
            return result if op == "is" else not result
        if op == "as":
            name = right.name if isinstance(right, TypeRef) else to_string(right)
            try:
                return self.cast(name, left, node)
            except UnsupportedConstruct:
                raise
            except PSError:
                return None
        test = lambda value: scalar_comparison(op, value, right, case_sensitive, self.session)  # noqa: E731
        if isinstance(left, (list, bytes, bytearray)):
            return [value for value in left if test(value)]
        return test(left)

    def arithmetic(self, operator: str, left: Any, right: Any, node: Any) -> Any:
        if operator == "+":
            if left is None:
                return right
            if isinstance(left, str):
                return left + to_string(right)
            if isinstance(left, list):
                return left + (list(right) if isinstance(right, (list, bytes, bytearray)) else [right])
            if isinstance(left, (bytes, bytearray)):
                return list(left) + (list(right) if isinstance(right, (list, bytes, bytearray)) else [right])
            if isinstance(left, Hashtable):
                if not isinstance(right, Hashtable):
                    raise runtime_error("A hash table can only be added to another hash table.", "AddHashTableToNonHashTable")
                merged = Hashtable(left.items())
                for key, value in right.items():
                    if key in merged:
                        raise runtime_error(f"Item has already been added. Key in dictionary: '{to_string(key)}'  Key being added: '{to_string(key)}'", "DuplicateKeyInHashLiteral")
                    merged[key] = value
                return merged
        if operator == "*":
            if isinstance(left, str):
                return left * convert.to_int(right)
            if isinstance(left, list):
                return left * convert.to_int(right)
        if isinstance(left, (list, Hashtable, PSObject)) and not isinstance(left, PSEnum):
            raise runtime_error(f"Method invocation failed because [{convert.type_name_of(left)}] does not contain a method named 'op_{_OP_NAMES[operator]}'.", "MethodNotFound")
        a = to_number(left)
        b = to_number(right)
        if operator == "+":
            return a + b
        if operator == "-":
            return a - b
        if operator == "*":
            return a * b
        if b == 0:
            raise runtime_error("Attempted to divide by zero.", "RuntimeException", "NotSpecified")
        if operator == "/":
            if isinstance(a, int) and isinstance(b, int) and a % b == 0:
                return a // b
            return a / b
        return a % b if isinstance(a, int) and isinstance(b, int) else float(a) % float(b)

    def eval_expression_with_unary_operator(self, node: Any) -> Any:
        children = [c for c in node.children if c.type != "comment"]
        first = children[0]
        if first.is_named:
            if first.type == "cast_expression" and len(children) == 1:
                return self.eval_cast_expression(first)
            return self.eval(first)
        operator = self.src.text_of(first).strip().lower()
        operand_node = children[1] if len(children) > 1 else None
        if operator in ("++", "--"):
            target = unwrap(operand_node)
            value = self.arithmetic("+" if operator == "++" else "-", self.eval(target), 1, node)
            self.assign_to(target, value)
            return value
        value = self.eval(operand_node)
        if operator in ("-not", "!"):
            return not to_bool(value)
        if operator == "-":
            number = to_number(value)
            return -number
        if operator == "+":
            return to_number(value)
        if operator == ",":
            return [value]
        if operator == "-join":
            return "".join(to_string(v) for v in as_list(value))
        if operator == "-split":
            return split_operator(value, None, False)
        if operator == "-bnot":
            return ~convert.to_int(value)
        raise self.unsupported(node, f"unary operator {operator}")

    def eval_unary_expression(self, node: Any) -> Any:
        return self.eval_expression_with_unary_operator(node)

    def eval_pre_increment_expression(self, node: Any) -> Any:
        return self._step(node, 1, post=False)

    def eval_pre_decrement_expression(self, node: Any) -> Any:
        return self._step(node, -1, post=False)

    def eval_post_increment_expression(self, node: Any) -> Any:
        return self._step(node, 1, post=True)

    def eval_post_decrement_expression(self, node: Any) -> Any:
        return self._step(node, -1, post=True)

    def _step(self, node: Any, delta: int, post: bool) -> Any:
        target = unwrap(next(c for c in node.named_children if c.type != "comment"))
        current = to_number(self.eval(target))
        self.assign_to(target, current + delta)
        return current if post else current + delta

    def eval_cast_expression(self, node: Any) -> Any:
        type_node, operand = [c for c in node.named_children if c.type != "comment"][:2]
        name = self.type_name(type_node)
        inner = unwrap(operand)
        if name.lower() == "ordered":
            if inner.type != "hash_literal_expression":
                raise runtime_error("The ordered attribute can be specified only on a hash literal node.", "OrderedAttributeOnlyOnHashLiteralNode", "ParserError")
            table = self.eval(inner)
            table.ps_type = "System.Collections.Specialized.OrderedDictionary"  # type: ignore[attr-defined]
            return table
        if name.lower() in ("pscustomobject", "psobject") and inner.type == "hash_literal_expression":
            table = self.eval(inner)
            if name.lower() == "psobject":
                return table
            return convert.new_custom_object(table.items())
        return self.cast(name, self.eval(operand), node)

    def cast(self, name: str, value: Any, node: Any) -> Any:
        return cast_value(name, value, lambda: self.unsupported(node, f"type [{name}]"))

    def type_name(self, type_literal: Any) -> str:
        spec = next(c for c in type_literal.named_children if c.type == "type_spec")
        text = self.src.text_of(spec).strip()
        if any(c.type == "generic_type_name" for c in spec.named_children):
            raise self.unsupported(type_literal, f"generic type [{text}]")
        return text

    def eval_type_literal(self, node: Any) -> Any:
        return TypeRef(self.type_name(node))

    def eval_parenthesized_expression(self, node: Any) -> Any:
        inner = next((c for c in node.named_children if c.type != "comment"), None)
        if inner is None:
            return None
        if inner.type == "pipeline":
            return self.pipeline_value(inner)
        return self.eval(inner)

    def eval_sub_expression(self, node: Any) -> Any:
        body = node.child_by_field_name("statements")
        out: list = []
        if body is not None:
            self.exec_statements(body, out)
        return collect(out)

    def eval_array_expression(self, node: Any) -> Any:
        body = node.child_by_field_name("statements")
        out: list = []
        if body is not None:
            self.exec_statements(body, out)
        return out

    def eval_script_block_expression(self, node: Any) -> Any:
        block = next((c for c in node.named_children if c.type == "script_block"), None)
        text = self.src.text_of(node)
        scriptblock = self.make_scriptblock(block, text[1:-1])
        # The grammar may hang `param(...)` on the braces rather than on the block inside them.
        param_block = next((c for c in node.named_children if c.type == "param_block"), None)
        if param_block is not None:
            scriptblock.param_block = param_block
        return scriptblock

    def make_scriptblock(self, block: Any, text: str) -> ScriptBlock:
        body = None
        param_block = None
        if block is not None:
            for child in block.named_children:
                if child.type == "param_block":
                    param_block = child
                elif child.type == "script_block_body":
                    if any(c.type == "named_block_list" for c in child.named_children):
                        raise self.unsupported(child, "begin/process/end blocks")
                    body = child.child_by_field_name("statement_list") or next((c for c in child.named_children if c.type == "statement_list"), None)
                elif child.type == "statement_list":
                    body = child
                elif child.type != "comment":
                    raise self.unsupported(child)
        return ScriptBlock(self.src, body, text, param_block)

    def eval_hash_literal_expression(self, node: Any) -> Any:
        table = Hashtable()
        body = next((c for c in node.named_children if c.type == "hash_literal_body"), None)
        if body is None:
            return table
        for entry in body.named_children:
            if entry.type != "hash_entry":
                continue
            key_node = next(c for c in entry.named_children if c.type == "key_expression")
            value_node = next(c for c in entry.named_children if c.type not in ("key_expression", "comment"))
            key_inner = next(c for c in key_node.named_children if c.type != "comment")
            key = self.src.text_of(key_inner) if key_inner.type == "simple_name" else self.eval(key_inner)
            if key in table:
                raise runtime_error(f"Duplicate keys '{to_string(key)}' are not allowed in hash literals.", "DuplicateKeyInHashLiteral", "ParserError")
            table[key] = self.pipeline_value(value_node)
        return table

    def eval_integer_literal(self, node: Any) -> Any:
        inner = next(c for c in node.named_children if c.type != "comment")
        return parse_number(self.src.text_of(inner))

    def eval_real_literal(self, node: Any) -> Any:
        return parse_number(self.src.text_of(node))

    def eval_generic_token(self, node: Any) -> Any:
        return self.bare_word(self.src.text_of(node))

    def eval_string_literal(self, node: Any) -> Any:
        inner = next((c for c in node.named_children if c.type != "comment"), None)
        if inner is None:
            raise self.unsupported(node, "string literal")
        kind = inner.type
        if kind == "verbatim_string_characters":
            return verbatim_content(self.src.text_of(inner)[1:-1], self.src, inner)
        if kind == "verbatim_here_string_characters":
            return here_string_content(self.src.text_of(inner))
        if kind in ("expandable_string_literal", "expandable_here_string_literal"):
            return self.expand_string(inner, here=kind == "expandable_here_string_literal")
        raise self.unsupported(inner)

    def expand_string(self, node: Any, here: bool) -> str:
        data = self.src.data
        start, end = node.start_byte, node.end_byte
        if here:
            newline = data.find(b"\n", start)
            content_start = newline + 1
            content_end = data.rfind(b"\n", start, end)
            if content_end > 0 and data[content_end - 1:content_end] == b"\r":
                content_end -= 1
            content_end = max(content_end, content_start)
        else:
            content_start = start + _first_char_len(data, start)
            content_end = end - _last_char_len(data, end)
        pieces: list[str] = []
        position = content_start
        for child in node.named_children:
            if child.start_byte < content_start or child.end_byte > content_end:
                continue
            pieces.append(unescape_expandable(data[position:child.start_byte].decode("utf-8"), here, self.src, node))
            if child.type == "variable":
                pieces.append(to_string(self.eval_variable(child)))
            elif child.type == "sub_expression":
                pieces.append(to_string(self.eval_sub_expression(child)))
            else:
                raise self.unsupported(child)
            position = child.end_byte
        pieces.append(unescape_expandable(data[position:content_end].decode("utf-8"), here, self.src, node))
        return "".join(pieces)

    def eval_variable(self, node: Any) -> Any:
        text = self.src.text_of(node)
        if text.startswith("@"):
            raise self.unsupported(node, "splatting outside a command argument")
        modifier, name = self.variable_reference(node)
        return self.session.get_variable(name, strict_node=node, scope=modifier)

    def variable_reference(self, node: Any) -> tuple[str | None, str]:
        """``$global:x`` -> ("global", "x"); ``$x`` / ``$variable:x`` -> (None, "x"); ``$env:x`` stays a name."""
        return split_scope_modifier(self.src.text_of(node)[1:])

    def variable_name(self, node: Any) -> str:
        return self.variable_reference(node)[1]

    def member_parts(self, node: Any) -> tuple[Any, str, Any]:
        children = [c for c in node.children if c.type != "comment"]
        obj = children[0]
        operator = next(self.src.text_of(c) for c in children[1:] if not c.is_named)
        member = next(c for c in children[1:] if c.type == "member_name")
        return obj, operator, member

    def member_name(self, member: Any) -> str:
        inner = next(c for c in member.named_children if c.type != "comment")
        if inner.type == "simple_name":
            return self.src.text_of(inner)
        return to_string(self.eval(inner))

    def eval_member_access(self, node: Any) -> Any:
        obj_node, operator, member = self.member_parts(node)
        obj = self.eval(obj_node)
        name = self.member_name(member)
        if operator == "::":
            return self.session.static_member(obj, name, node)
        return get_member(obj, name, self.session.strict)

    def eval_invokation_expression(self, node: Any) -> Any:
        obj_node, operator, member = self.member_parts(node)
        obj = self.eval(obj_node)
        name = self.member_name(member)
        arg_list = next(c for c in node.named_children if c.type == "argument_list")
        expr_list = arg_list.child_by_field_name("argument_expression_list")
        arguments = []
        if expr_list is not None:
            arguments = [self.eval(c) for c in expr_list.named_children if c.type != "comment"]
        try:
            if operator == "::":
                return self.session.static_call(obj, name, arguments, node)
            return self.session.call_method(obj, name, arguments)
        except PSError as error:
            self._locate(error, node)
            raise

    def eval_element_access(self, node: Any) -> Any:
        obj_node, index_node = [c for c in node.named_children if c.type != "comment"][:2]
        return get_index(self.eval(obj_node), self.eval(index_node))

    def set_static(self, obj: Any, name: str, value: Any, node: Any) -> None:
        self.session.set_static(obj, name, value, node)


_OP_NAMES = {"+": "Addition", "-": "Subtraction", "*": "Multiply", "/": "Division", "%": "Modulus"}
COMPARISON_BASE = {"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "contains", "notcontains",
                   "in", "notin", "replace", "split", "join", "is", "isnot", "as"}


def split_scope_modifier(name: str) -> tuple[str | None, str]:
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    lowered = name.lower()
    if lowered.startswith("variable:"):
        return None, name[len("variable:"):]
    for modifier in SCOPE_MODIFIERS:
        if lowered.startswith(modifier + ":"):
            return modifier, name[len(modifier) + 1:]
    return None, name


def _keyword(node: Any) -> str:
    names = {"while_statement": "while", "do_statement": "do", "for_statement": "for", "switch_statement": "switch",
             "class_statement": "class", "enum_statement": "enum", "trap_statement": "trap", "data_statement": "data",
             "function_statement": "function", "parallel_statement": "parallel", "sequence_statement": "sequence",
             "inlinescript_statement": "inlinescript"}
    return names.get(node.type, node.type)


def _first_char_len(data: bytes, start: int) -> int:
    byte = data[start]
    return 1 if byte < 0x80 else (2 if byte < 0xE0 else (3 if byte < 0xF0 else 4))


def _last_char_len(data: bytes, end: int) -> int:
    index = end - 1
    while index > 0 and (data[index] & 0xC0) == 0x80:
        index -= 1
    return end - index


def _looks_like_path(name: str) -> bool:
    return "\\" in name or "/" in name or name.lower().endswith(".ps1")


def _exception_matches(type_name: str, error: PSError) -> bool:
    wanted = type_name.lower()
    if wanted.startswith("system.") is False and "." not in wanted:
        full = error.exception_type.lower()
        if short_type(full) == wanted:
            return True
    full = error.exception_type.lower()
    if wanted in (full, short_type(full)):
        return True
    if wanted in ("system.exception", "exception"):
        return True
    if wanted in ("system.management.automation.runtimeexception", "management.automation.runtimeexception", "runtimeexception"):
        return full.startswith("system.management.automation.")
    return False


def unwrap(node: Any) -> Any:
    """Skip the grammar's single-child precedence wrappers."""
    while True:
        named = [c for c in node.named_children if c.type != "comment"]
        if node.child_count == 1 and len(named) == 1 and (node.type in BINARY_NODES or node.type in ARRAY_NODES or node.type in (
            "unary_expression", "pipeline_chain", "left_assignment_expression", "pipeline", "argument_expression")):
            node = named[0]
            continue
        if node.type == "left_assignment_expression" and len(named) == 1:
            node = named[0]
            continue
        return node


def unroll(value: Any) -> list:
    """What an expression writes to the pipeline: a collection's elements, anything else as one object."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return [value]


def collect(output: list) -> Any:
    """A pipeline's output as one value: $null for none, the object for one, an array for several."""
    if not output:
        return None
    if len(output) == 1:
        return output[0]
    return list(output)


def parse_number(text: str) -> int | float:
    lowered = text.lower()
    multiplier = 1
    for suffix, factor in MULTIPLIERS.items():
        if lowered.endswith(suffix):
            multiplier = factor
            lowered = lowered[: -len(suffix)]
            break
    if lowered.startswith("0x"):
        digits = lowered[2:].rstrip("l")
        value: int | float = int(digits, 16)
        if not lowered.endswith("l") and value >= 2**31 and value < 2**32:
            value -= 2**32  # 0xFFFFFFFF is -1 as an Int32 literal
    else:
        digits = lowered.rstrip("ld")
        if lowered.endswith("d"):
            value = float(digits)
        elif any(c in digits for c in ".e"):
            value = float(digits)
        else:
            value = int(digits)
    result = value * multiplier
    return result


def verbatim_content(raw: str, source: Source | None = None, node: Any = None) -> str:
    """The value of a single-quoted string's inside: PowerShell treats ' ‘ ’ ‚ ‛ all as quote characters,
    and two in a row as one literal quote (the second one written)."""
    out = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char in SINGLE_QUOTES:
            if index + 1 < len(raw) and raw[index + 1] in SINGLE_QUOTES:
                out.append(raw[index + 1])
                index += 2
                continue
            # A lone quote character ends the string for PowerShell; the grammar read on. PowerShell would see
            # the rest as a new token, so the text is not the literal it looks like.
            position = source.position(node) if source is not None and node is not None else Position(1, 1, raw, 1)
            rest = raw[index + 1:]
            raise ParseException(f"Unexpected token '{rest.split()[0] if rest.split() else rest}' in expression or statement.",
                                 "UnexpectedToken", position)
        out.append(char)
        index += 1
    return "".join(out)


def here_string_content(raw: str) -> str:
    first_newline = raw.find("\n")
    last_newline = raw.rfind("\n")
    if first_newline < 0 or last_newline <= first_newline:
        return ""
    content = raw[first_newline + 1:last_newline]
    return content[:-1] if content.endswith("\r") else content


def unescape_expandable(text: str, here: bool, source: Source | None = None, node: Any = None) -> str:
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "`" and index + 1 < len(text):
            nxt = text[index + 1]
            out.append(BACKTICK_ESCAPES.get(nxt, nxt))
            index += 2
            continue
        if not here and char in DOUBLE_QUOTES:
            if index + 1 < len(text) and text[index + 1] in DOUBLE_QUOTES:
                out.append(text[index + 1])
                index += 2
                continue
            position = source.position(node) if source is not None and node is not None else Position(1, 1, text, 1)
            rest = text[index + 1:]
            raise ParseException(f"Unexpected token '{rest.split()[0] if rest.split() else rest}' in expression or statement.",
                                 "UnexpectedToken", position)
        out.append(char)
        index += 1
    return "".join(out)


def scalar_comparison(op: str, left: Any, right: Any, case_sensitive: bool, session: Any) -> bool:
    if op == "eq":
        return convert.equals(left, right, case_sensitive)
    if op == "ne":
        return not convert.equals(left, right, case_sensitive)
    if op in ("gt", "ge", "lt", "le"):
        result = convert.compare(left, right, case_sensitive)
        return {"gt": result > 0, "ge": result >= 0, "lt": result < 0, "le": result <= 0}[op]
    if op == "like":
        return convert.like(left, right, case_sensitive)
    if op == "notlike":
        return not convert.like(left, right, case_sensitive)
    if op in ("match", "notmatch"):
        match = convert.regex(right, case_sensitive).search(to_string(left))
        if op == "match" and match is not None and session is not None:
            groups = Hashtable()
            groups[0] = match.group(0)
            for number, value in enumerate(match.groups(), start=1):
                if value is not None:
                    groups[number] = value
            for name, value in match.groupdict().items():
                if value is not None:
                    groups[name] = value
            session.set_variable("Matches", groups)
        return (match is not None) == (op == "match")
    raise UnsupportedConstruct(f"operator -{op}")


def split_operator(value: Any, right: Any, case_sensitive: bool) -> list:
    results: list[str] = []
    for item in as_list(value) if isinstance(value, list) else [value]:
        text = to_string(item)
        if right is None:
            results.extend(part for part in re.split(r"\s+", text.strip()) if part != "" or text.strip() == "")
            continue
        pattern, limit = (right + [0])[:2] if isinstance(right, list) else (right, 0)
        parts = convert.regex(pattern, case_sensitive).split(text, maxsplit=max(0, convert.to_int(limit) - 1) if convert.to_int(limit) > 0 else 0)
        results.extend(p for p in parts if p is not None)
    return results


def format_operator(template: str, values: list) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        index = int(match.group(1))
        if index >= len(values):
            raise method_error("Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the size of the argument list..", "FormatError")
        if match.group(2) or match.group(3):
            raise UnsupportedConstruct("format specifier", match.group(0))
        return to_string(values[index])

    return re.sub(r"\{\{|\}\}|\{(\d+)(,-?\d+)?(:[^}]*)?\}", replace, template)


KNOWN_TYPES = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31,
    "int32": lambda v: isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31,
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool) and not -2**31 <= v < 2**31,
    "int64": lambda v: isinstance(v, int) and not isinstance(v, bool) and not -2**31 <= v < 2**31,
    "bool": lambda v: isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "double": lambda v: isinstance(v, float),
    "array": lambda v: isinstance(v, (list, bytes, bytearray)),
    "object[]": lambda v: isinstance(v, list),
    "byte[]": lambda v: isinstance(v, (bytes, bytearray)),
    "hashtable": lambda v: isinstance(v, Hashtable) and getattr(v, "ps_type", "") != "System.Collections.Specialized.OrderedDictionary",
    "collections.hashtable": lambda v: isinstance(v, Hashtable) and getattr(v, "ps_type", "") != "System.Collections.Specialized.OrderedDictionary",
    "collections.idictionary": lambda v: isinstance(v, Hashtable),
    "collections.specialized.ordereddictionary": lambda v: getattr(v, "ps_type", "") == "System.Collections.Specialized.OrderedDictionary",
    "collections.ienumerable": lambda v: isinstance(v, (list, bytes, bytearray, Hashtable, str)),
    "pscustomobject": lambda v: convert.is_custom_object(v),
    "management.automation.pscustomobject": lambda v: convert.is_custom_object(v),
    "psobject": lambda v: v is not None,
    "object": lambda v: v is not None,
    "scriptblock": lambda v: isinstance(v, ScriptBlock),
    "management.automation.scriptblock": lambda v: isinstance(v, ScriptBlock),
    "securestring": lambda v: isinstance(v, SecureString),
    "security.securestring": lambda v: isinstance(v, SecureString),
    "pscredential": lambda v: isinstance(v, PSCredential),
    "management.automation.pscredential": lambda v: isinstance(v, PSCredential),
    "management.automation.errorrecord": lambda v: isinstance(v, PSObject) and hasattr(v, "error"),
    "collections.arraylist": lambda v: isinstance(v, convert.ArrayList),
    "enum": lambda v: isinstance(v, PSEnum),
}


def type_test(value: Any, type_name: str) -> bool:
    """``$value -is [type]`` for the value model: primitive types by Python type, objects by their type names."""
    lowered = type_name.lower().replace(" ", "")
    short = lowered[len("system."):] if lowered.startswith("system.") else lowered
    if short in KNOWN_TYPES:
        return KNOWN_TYPES[short](value)
    if isinstance(value, PSObject):
        names = {n.lower() for n in value.type_names}
        return lowered in names or "system." + lowered in names
    return False


def get_member(obj: Any, name: str, strict: bool = False) -> Any:
    """``$obj.Name``: properties case-insensitively, ``Count``/``Length``, member enumeration over arrays."""
    lowered = name.lower()
    if lowered == "psobject" and obj is not None and not (isinstance(obj, PSObject) and name in obj.properties):
        return member_set(obj)
    if obj is None:
        if lowered in ("count", "length"):
            return 0
        if strict:
            raise runtime_error(f"The property '{name}' cannot be found on this object. Verify that the property exists.", "PropertyNotFoundStrict")
        return None
    if isinstance(obj, Hashtable):
        if name in obj:
            return obj[name]
        if lowered == "count":
            return len(obj)
        if lowered == "keys":
            return list(obj.keys())
        if lowered == "values":
            return list(obj.values())
        return _missing(name, strict)
    if isinstance(obj, str):
        if lowered == "length":
            return len(obj.encode("utf-16-le")) // 2
        if lowered == "count":
            return 1
        return _missing(name, strict)
    if isinstance(obj, (bytes, bytearray)):
        if lowered in ("count", "length", "longlength"):
            return len(obj)
        return _missing(name, strict)
    if isinstance(obj, list):
        if lowered in ("count", "length", "longlength"):
            return len(obj)
        if lowered == "rank":
            return 1
        values = []
        for item in obj:
            if item is None:
                continue
            value = get_member(item, name, False)
            if isinstance(value, list):
                values.extend(value)
            elif value is not None:
                values.append(value)
        if not values:
            return _missing(name, strict)
        return values[0] if len(values) == 1 else values
    if isinstance(obj, PSObject):
        if name in obj.properties:
            return obj.properties[name]
        if isinstance(obj, PSEnum):
            if lowered == "value__":
                return obj.value
        if lowered == "count" or lowered == "length":
            return 1
        if lowered == "pstypenames":
            return list(obj.type_names)
        return _missing(name, strict)
    if isinstance(obj, ScriptBlock):
        return _missing(name, strict)
    if isinstance(obj, TypeRef):
        if lowered in ("name", "fullname"):
            return obj.name if lowered == "fullname" else short_type(obj.name)
        return _missing(name, strict)
    if lowered == "count":
        return 1
    return _missing(name, strict)


def member_set(obj: Any) -> PSObject:
    """``$obj.PSObject``: ``.Properties`` (Name/Value/MemberType/TypeNameOfValue), ``.TypeNames``, ``.BaseObject``."""
    if isinstance(obj, PSObject):
        kind = "NoteProperty" if convert.is_custom_object(obj) else "Property"
        pairs = list(obj.properties.items())
        type_names = list(obj.type_names)
    elif isinstance(obj, Hashtable):
        kind = "Property"
        pairs = [("IsReadOnly", False), ("IsFixedSize", False), ("IsSynchronized", False), ("Keys", list(obj.keys())),
                 ("Values", list(obj.values())), ("SyncRoot", obj), ("Count", len(obj))]
        type_names = [convert.type_name_of(obj), "System.Object"]
    elif isinstance(obj, str):
        kind, pairs, type_names = "Property", [("Length", len(obj))], ["System.String", "System.Object"]
    else:
        kind, pairs, type_names = "Property", [], [convert.type_name_of(obj), "System.Object"]
    properties = [
        PSObject("System.Management.Automation.PSNoteProperty" if kind == "NoteProperty" else "System.Management.Automation.PSProperty",
                 {"Name": key, "Value": value, "MemberType": kind, "TypeNameOfValue": convert.type_name_of(value) if value is not None else "System.Object",
                  "IsSettable": True, "IsGettable": True},
                 string=f"{convert.type_name_of(value) if value is not None else 'System.Object'} {key}={to_string(value)}")
        for key, value in pairs
    ]
    return PSObject("System.Management.Automation.PSMemberSet", {"Properties": properties, "TypeNames": type_names, "BaseObject": obj},
                    string="System.Management.Automation.PSMemberSet")


def _missing(name: str, strict: bool) -> Any:
    if strict:
        raise runtime_error(f"The property '{name}' cannot be found on this object. Verify that the property exists.", "PropertyNotFoundStrict")
    return None


def get_index(obj: Any, index: Any) -> Any:
    if obj is None:
        raise runtime_error("Cannot index into a null array.", "NullArray")
    if isinstance(obj, Hashtable):
        if isinstance(index, list):
            return [obj.get(k) for k in index]
        return obj.get(index)
    if isinstance(obj, PSObject) and not isinstance(index, (int, list)):
        return obj.properties.get(to_string(index))
    if isinstance(obj, (list, bytes, bytearray, str)):
        if isinstance(index, list):
            values = [get_index(obj, i) for i in index]
            return [v for v in values if v is not None]
        position = convert.to_int(index)
        if -len(obj) <= position < len(obj):
            return obj[position]
        return None
    position = convert.to_int(index)
    if position in (0, -1):
        return obj
    return None


def cast_value(name: str, value: Any, unknown: Callable[[], Exception]) -> Any:
    """``[type]$value`` for the types the subset knows."""
    lowered = name.lower().replace(" ", "")
    if lowered.startswith("system."):
        lowered = lowered[len("system."):]
    if lowered in ("string",):
        if value is None:
            return ""
        return to_string(value)
    if lowered in ("int", "int32", "long", "int64", "byte", "int16", "uint32", "uint64"):
        if isinstance(value, list) and len(value) != 1:
            raise convert.conversion_error(value, "System." + {"int": "Int32", "long": "Int64"}.get(lowered, lowered.capitalize()),
                                           f'Cannot convert the "{to_string(value)}" value of type "System.Object[]" to type "System.Int32".')
        number = convert.to_int(value if not isinstance(value, list) else value[0])
        if lowered == "byte" and not 0 <= number <= 255:
            raise convert.conversion_error(value, "System.Byte", "Value was either too large or too small for an unsigned byte.")
        if lowered in ("int", "int32") and not -2**31 <= number < 2**31:
            raise convert.conversion_error(value, "System.Int32", "Value was either too large or too small for an Int32.")
        return number
    if lowered in ("double", "float", "single", "decimal"):
        return float(to_number(value, "System.Double"))
    if lowered in ("bool", "boolean"):
        return to_bool(value)
    if lowered in ("switch", "management.automation.switchparameter"):
        return to_bool(value)
    if lowered in ("byte[]",):
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            raise convert.conversion_error(value, "System.Byte[]", f'Cannot convert value "{value}" to type "System.Byte". Error: "Input string was not in a correct format."')
        items = as_list(value)
        out = bytearray()
        for item in items:
            number = convert.to_int(item)
            if not 0 <= number <= 255:
                raise convert.conversion_error(item, "System.Byte", "Value was either too large or too small for an unsigned byte.")
            out.append(number)
        return bytes(out)
    if lowered in ("array", "object[]", "string[]", "int[]", "psobject[]"):
        items = list(as_list(value)) if not isinstance(value, (bytes, bytearray)) else list(value)
        if lowered == "string[]":
            return [to_string(v) for v in items]
        if lowered == "int[]":
            return [convert.to_int(v) for v in items]
        return items
    if lowered in ("collections.arraylist",):
        return convert.ArrayList(as_list(value) if not isinstance(value, (bytes, bytearray)) else list(value))
    if lowered in ("object", "psobject"):
        return value
    if lowered in ("hashtable", "collections.hashtable"):
        if isinstance(value, Hashtable):
            return value
        raise convert.conversion_error(value, "System.Collections.Hashtable", f'Cannot convert the "{to_string(value)}" value of type "{convert.type_name_of(value)}" to type "System.Collections.Hashtable".')
    if lowered in ("pscustomobject", "management.automation.pscustomobject"):
        if isinstance(value, Hashtable):
            return convert.new_custom_object(value.items())
        return value
    if lowered in ("scriptblock", "management.automation.scriptblock"):
        if isinstance(value, ScriptBlock):
            return value
        raise convert.conversion_error(value, "System.Management.Automation.ScriptBlock", f'Cannot convert the "{to_string(value)}" value of type "{convert.type_name_of(value)}" to type "System.Management.Automation.ScriptBlock".')
    if lowered in ("securestring", "security.securestring"):
        if isinstance(value, SecureString):
            return value
        raise convert.conversion_error(value, "System.Security.SecureString", f'Cannot convert the "{to_string(value)}" value of type "{convert.type_name_of(value)}" to type "System.Security.SecureString".')
    if lowered in ("pscredential", "management.automation.pscredential"):
        if isinstance(value, PSCredential):
            return value
        raise convert.conversion_error(value, "System.Management.Automation.PSCredential", f'Cannot convert the "{to_string(value)}" value of type "{convert.type_name_of(value)}" to type "System.Management.Automation.PSCredential".')
    if lowered in ("void",):
        return None
    raise unknown()


