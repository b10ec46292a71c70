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

    def __init__(self, message: str, error_id: str, position: Position, text: str | None = None):
        super().__init__(
            message,
            error_id=error_id,
            category="ParserError",
            exception_type="System.Management.Automation.ParseException",
            terminating=True,
        )
        self.position = position
        self._text = text

    @property
    def incomplete(self) -> bool:
        """More input could complete the text (PowerShell's IncompleteParseException): `-Command -` then reads on."""
        return self._text is not None and is_incomplete(self._text)


# What may follow an unfinished text: closing brackets and quotes, an operand, the end of a here-string.
_COMPLETIONS = ("}", ")", "]", " 1", " x", "'", '"', "\n'@", '\n"@')


def is_incomplete(text: str, depth: int = 3) -> bool:
    """True when some short continuation makes ``text`` parse: the error is the end of input, not a wrong token."""
    return completion(text, depth) is not None


def completion(text: str, depth: int = 3) -> str | None:
    """The shortest continuation (closing brackets, quotes, an operand) that makes ``text`` parse, if any."""
    data = text.encode("utf-8")
    parser = _parser()
    tree = parser.parse(data)
    end = _point_after((0, 0), data)
    candidates = [""]
    for _ in range(depth):
        candidates = [prefix + suffix for prefix in candidates for suffix in _COMPLETIONS]
        for suffix in candidates:
            # Re-parse incrementally: only the end of a long line changes.
            extra = suffix.encode("utf-8")
            edited = tree.copy()
            edited.edit(start_byte=len(data), old_end_byte=len(data), new_end_byte=len(data) + len(extra),
                        start_point=end, old_end_point=end, new_end_point=_point_after(end, extra))
            if not parser.parse(data + extra, edited).root_node.has_error:
                return suffix
    return None


def _point_after(start: tuple[int, int], data: bytes) -> tuple[int, int]:
    lines = data.count(b"\n")
    if lines == 0:
        return (start[0], start[1] + len(data))
    return (start[0] + lines, len(data) - data.rfind(b"\n") - 1)


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
    _check_quotes(source)
    return source


SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'


def lone_quote(content: str, quotes: str, backtick_escapes: bool) -> int:
    """Index of the first quote character that is not doubled (PowerShell ends the string there), else -1."""
    index = 0
    while index < len(content):
        char = content[index]
        if backtick_escapes and char == "`":
            index += 2
            continue
        if char in quotes:
            if index + 1 < len(content) and content[index + 1] in quotes:
                index += 2
                continue
            return index
        index += 1
    return -1


def _check_quotes(source: Source) -> None:
    """tree-sitter-powershell ends strings only at ASCII quotes; PowerShell also at the typographic ones
    (U+2018-U+201B single, U+201C-U+201E double). A literal PowerShell would end early is a syntax error."""
    stack = [source.root]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "verbatim_string_characters":
            text = source.text_of(node)
            if text.startswith("'") and len(text) >= 2:
                _raise_if_lone(source, node, text[1:-1], SINGLE_QUOTES, False, 1)
            continue
        if kind == "expandable_string_literal":
            data = source.data
            start = node.start_byte + len(data[node.start_byte:node.start_byte + 4].decode("utf-8", "ignore")[:1].encode("utf-8"))
            pieces = []
            position = start
            for child in node.named_children:
                pieces.append(data[position:child.start_byte].decode("utf-8", "replace"))
                pieces.append("x")  # a variable or subexpression: no quote characters of this string
                position = child.end_byte
                stack.append(child)
            end_char = data[:node.end_byte].decode("utf-8", "replace")[-1:]
            pieces.append(data[position:node.end_byte - len(end_char.encode("utf-8"))].decode("utf-8", "replace"))
            _raise_if_lone(source, node, "".join(pieces), DOUBLE_QUOTES, True, 1)
            continue
        stack.extend(node.children)


def _raise_if_lone(source: Source, node: tree_sitter.Node, content: str, quotes: str, backtick: bool, offset: int) -> None:
    index = lone_quote(content, quotes, backtick)
    if index < 0:
        return
    position = source.position(node)
    position = Position(position.line, position.column + offset + index, position.line_text, 1)
    rest = content[index + 1:].split()
    token = rest[0] if rest else content[index]
    raise ParseException(f"Unexpected token '{token}' in expression or statement.", "UnexpectedToken", position)


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
    position = source.position(node)
    if node.is_missing and node.type in _OPENERS and node.parent is not None:
        # PowerShell points at the bracket left open, not at the end of the text.
        opener = next((c for c in node.parent.children if c.type in _OPENERS[node.type]), None)
        if opener is not None:
            position = source.position(opener)
    if node.is_missing:
        message, error_id = _MISSING_MESSAGES.get(node.type, (f"Missing '{node.type}' in statement.", "MissingToken"))
        return ParseException(message, error_id, position, source.text)
    token = source.text_of(node).strip()
    if not token:
        following = source.data[node.start_byte:].decode("utf-8", "replace").split()
        token = following[0] if following else "<end of script>"
    first = token.split()[0] if token.split() else token
    ending = completion(source.text) if node.end_byte >= len(source.data.rstrip()) else None
    if ending is not None:
        # The text just stops: say what PowerShell says is missing at its end.
        lines = source.text.rstrip().split("\n")
        end = Position(len(lines), len(lines[-1]) + 1, lines[-1].rstrip("\r"), 1)
        opening = ending.lstrip("\n")[:1]
        if opening in ("'", '"'):
            terminator = ending.strip()[:2] if ending.strip().endswith("@") else opening
            return ParseException(f"The string is missing the terminator: {terminator}.", "TerminatorExpectedAtEndOfString", end, source.text)
        closers = [c for c in ending if c in "})]"]
        if closers:
            message, error_id = _MISSING_MESSAGES[closers[0]]
            return ParseException(message, error_id, end, source.text)
        stripped = source.text.rstrip()
        if stripped.endswith("|"):
            return ParseException("An empty pipe element is not allowed.", "EmptyPipeElement", end, source.text)
        operator = stripped.split()[-1] if stripped.split() else stripped
        return ParseException(f"You must provide a value expression following the '{operator}' operator.", "ExpectedValueExpression", end, source.text)
    if first[:1] in ('"', "'") and token.count(first[0]) % 2 == 1:
        return ParseException(f"The string is missing the terminator: {first[0]}.", "TerminatorExpectedAtEndOfString", position, source.text)
    return ParseException(f"Unexpected token '{first}' in expression or statement.", "UnexpectedToken", position, source.text)
