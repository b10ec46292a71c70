"""Parsing with the real PowerShell grammar (tree-sitter-powershell), and errors shaped like PowerShell's."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import tree_sitter
import tree_sitter_powershell

from ..errors import PSError

LANGUAGE = tree_sitter.Language(tree_sitter_powershell.language())
_local = threading.local()  # a Parser is not thread-safe; each worker thread gets its own


def _parser() -> tree_sitter.Parser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = tree_sitter.Parser(LANGUAGE)
    return parser


@dataclass
class Source:
    """A parsed script: its text, UTF-8 bytes (tree-sitter offsets are byte offsets) and syntax tree."""

    text: str
    data: bytes
    tree: tree_sitter.Tree

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def text_of(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def position(self, node: tree_sitter.Node) -> Position:
        row, column_bytes = node.start_point
        line_start = self.data.rfind(b"\n", 0, node.start_byte) + 1
        line_end = self.data.find(b"\n", node.start_byte)
        line_bytes = self.data[line_start:(line_end if line_end >= 0 else len(self.data))]
        column = len(line_bytes[:column_bytes].decode("utf-8", "replace")) + 1
        snippet_end = min(node.end_byte, line_start + len(line_bytes))
        length = max(1, len(self.data[node.start_byte:snippet_end].decode("utf-8", "replace")))
        return Position(row + 1, column, line_bytes.decode("utf-8", "replace").rstrip("\r"), length)


@dataclass
class Position:
    """Where an error happened, for PowerShell's ``At line:L char:C`` display."""

    line: int
    column: int
    line_text: str
    length: int

    def display_lines(self) -> list[str]:
        return [f"At line:{self.line} char:{self.column}", f"+ {self.line_text}", "+ " + " " * (self.column - 1) + "~" * self.length]


class ParseException(PSError):
    """A syntax error: PowerShell reports these before running anything."""

    def __init__(self, message: str, error_id: str, position: Position, incomplete: bool = False):
        super().__init__(
            message,
            error_id=error_id,
            category="ParserError",
            exception_type="System.Management.Automation.ParseException",
            terminating=True,
        )
        self.position = position
        self.incomplete = incomplete  # the error is at the end of the text: more input could complete it


_MISSING_MESSAGES = {
    "}": ("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace"),
    ")": ("Missing closing ')' in expression.", "MissingEndParenthesisInExpression"),
    "]": ("Missing ']' after array index expression.", "MissingEndSquareBracket"),
}


_OPENERS = {"}": ("{", "@{"), ")": ("(", "@(", "$("), "]": ("[",)}


def parse(text: str) -> Source:
    """Parse a script; raise :class:`ParseException` at the first ERROR or MISSING node."""
    data = text.encode("utf-8")
    tree = _parser().parse(data)
    source = Source(text, data, tree)
    if tree.root_node.has_error:
        raise _syntax_error(source)
    return source


def _first_error(node: tree_sitter.Node) -> tree_sitter.Node | None:
    if node.is_error or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = _first_error(child)
        if found is not None:
            return found
    return node


def _syntax_error(source: Source) -> ParseException:
    node = _first_error(source.root) or source.root
    end_of_text = len(source.data.rstrip())
    position = source.position(node)
    if node.is_missing and node.type in _OPENERS and node.parent is not None:
        # PowerShell points at the bracket left open, not at the end of the text.
        opener = next((c for c in node.parent.children if c.type in _OPENERS[node.type]), None)
        if opener is not None:
            position = source.position(opener)
    if node.is_missing:
        message, error_id = _MISSING_MESSAGES.get(node.type, (f"Missing '{node.type}' in statement.", "MissingToken"))
        return ParseException(message, error_id, position, incomplete=node.start_byte >= end_of_text)
    token = source.text_of(node).strip()
    if not token:
        following = source.data[node.start_byte:].decode("utf-8", "replace").split()
        token = following[0] if following else "<end of script>"
    first = token.split()[0] if token.split() else token
    incomplete = node.end_byte >= end_of_text and (
        first[:1] in ("{", "(", "[", "@", '"', "'") or first.endswith(("{", "(", "|", ",")) or token.count("{") > token.count("}")
        or token.count("(") > token.count(")") or token.count('"') % 2 == 1 or token.count("'") % 2 == 1
    )
    if first[:1] in ('"', "'") and token.count(first[0]) % 2 == 1:
        return ParseException(f"The string is missing the terminator: {first[0]}.", "TerminatorExpectedAtEndOfString", position, incomplete)
    return ParseException(f"Unexpected token '{first}' in expression or statement.", "UnexpectedToken", position, incomplete)
