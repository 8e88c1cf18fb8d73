"""Tokens of the rule language. Hand-written scanner: positions are 0-based character offsets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from syncd.errors import RuleError


class Kind(StrEnum):
    IDENT = "identifier"
    NUMBER = "number"
    STRING = "string"
    KEYWORD = "keyword"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COMMA = "','"
    MINUS = "'-'"
    END = "end of rule"


#: keywords are case-insensitive (``AND`` = ``and``); field names are not
KEYWORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "in",
        "between",
        "contains",
        "starts_with",
        "ends_with",
        "is",
        "null",
        "true",
        "false",
        "segment",
    }
)

_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")
_SINGLE = {
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ",": Kind.COMMA,
    "-": Kind.MINUS,
}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Token:
    kind: Kind
    #: keyword tokens carry their lower-cased text; strings their unescaped value
    text: str
    pos: int
    end: int

    def describe(self) -> str:
        if self.kind is Kind.END:
            return "end of rule"
        if self.kind is Kind.STRING:
            return f"string {self.text!r}"
        return f"'{self.text}'"


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_ident_char(ch: str) -> bool:
    # dots join ``custom.<name>``; hyphens are not allowed (they would read as minus)
    return ch.isalnum() or ch in "_."


def tokenize(rule: str) -> list[Token]:
    tokens: list[Token] = []
    scan(rule, tokens)
    return tokens


def scan(rule: str, tokens: list[Token]) -> None:
    """Append the tokens of ``rule`` to ``tokens``; on a bad character the ones before it stay,
    so the parser can report an earlier error first."""
    i, n = 0, len(rule)
    while i < n:
        ch = rule[i]
        if ch.isspace():
            i += 1
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(rule[j]):
                j += 1
            word = rule[i:j]
            if word.lower() in KEYWORDS:
                tokens.append(Token(Kind.KEYWORD, word.lower(), i, j))
            else:
                tokens.append(Token(Kind.IDENT, word, i, j))
            i = j
        elif ch.isdigit() or (ch == "." and i + 1 < n and rule[i + 1].isdigit()):
            i = _scan_number(rule, i, tokens)
        elif ch in "\"'":
            i = _scan_string(rule, i, tokens)
        elif ch in _SINGLE:
            tokens.append(Token(_SINGLE[ch], ch, i, i + 1))
            i += 1
        else:
            op = next((op for op in _OPERATORS if rule.startswith(op, i)), None)
            if op is None:
                raise RuleError(f"unexpected character {ch!r}", i, rule)
            tokens.append(Token(Kind.OP, op, i, i + len(op)))
            i += len(op)
    tokens.append(Token(Kind.END, "", n, n))


def _scan_number(rule: str, start: int, tokens: list[Token]) -> int:
    n = len(rule)
    j = start
    while j < n and rule[j].isdigit():
        j += 1
    if j < n and rule[j] == ".":
        j += 1
        while j < n and rule[j].isdigit():
            j += 1
    if j < n and rule[j] in "eE":
        k = j + 1
        if k < n and rule[k] in "+-":
            k += 1
        if k < n and rule[k].isdigit():
            j = k
            while j < n and rule[j].isdigit():
                j += 1
    if j < n and _is_ident_start(rule[j]):
        raise RuleError(f"malformed number {rule[start : j + 1]!r}", start, rule)
    tokens.append(Token(Kind.NUMBER, rule[start:j], start, j))
    return j


def _scan_string(rule: str, start: int, tokens: list[Token]) -> int:
    quote = rule[start]
    chars: list[str] = []
    j = start + 1
    n = len(rule)
    while j < n:
        ch = rule[j]
        if ch == "\\" and j + 1 < n:
            chars.append(_ESCAPES.get(rule[j + 1], "\\" + rule[j + 1]))
            j += 2
        elif ch == quote:
            tokens.append(Token(Kind.STRING, "".join(chars), start, j + 1))
            return j + 1
        else:
            chars.append(ch)
            j += 1
    raise RuleError("unterminated string", start, rule)
