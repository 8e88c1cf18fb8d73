"""Recursive-descent parser: rule text -> syntax tree. Never ``eval``.

Precedence, loosest first: ``or``, ``and``, ``not``, then a predicate (comparison, ``in``,
``between``, ``contains`` ...). Parentheses group.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from syncd.errors import RuleError

from ._ast import (
    And,
    Between,
    Compare,
    CompareOp,
    FieldRef,
    InList,
    IsNull,
    Literal,
    MatchOp,
    Node,
    Not,
    Operand,
    Or,
    SegmentRef,
    Span,
    StringMatch,
    Truthy,
)
from ._lexer import Kind, Token, scan

_MATCH_OPS = ("contains", "starts_with", "ends_with")
_NEGATABLE = ("in", "between", *_MATCH_OPS)


def parse(rule: str) -> Node:
    """Parse a rule; raises :class:`RuleError` with a 0-based position on a syntax error."""
    return _Parser(rule).parse_rule()


class _Parser:
    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.tokens: list[Token] = []
        #: a scanning error is raised only once the parser reaches it, so that the earliest
        #: problem in the rule is the one reported
        self.scan_error: RuleError | None = None
        try:
            scan(rule, self.tokens)
        except RuleError as err:
            self.scan_error = err
            self.tokens.append(Token(Kind.END, "", err.position, err.position))
        self.i = 0

    # --- helpers -------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.END:
            self.i += 1
        return tok

    def at(self, kind: Kind) -> bool:
        # a method, not an attribute test, so type narrowing does not outlive advance()
        return self.tokens[self.i].kind is kind

    def at_keyword(self, *words: str) -> bool:
        return self.at(Kind.KEYWORD) and self.tok.text in words

    def error(self, message: str, pos: int | None = None) -> RuleError:
        if self.scan_error is not None and self.at(Kind.END):
            return self.scan_error
        return RuleError(message, self.tok.pos if pos is None else pos, self.rule)

    def unexpected(self, expected: str) -> RuleError:
        if self.scan_error is not None and self.at(Kind.END):
            return self.scan_error
        if self.at(Kind.END):
            return self.error(f"expected {expected}, found end of rule")
        return self.error(f"unexpected {self.tok.describe()}, expected {expected}")

    def expect(self, kind: Kind, expected: str) -> Token:
        if self.tok.kind is not kind:
            raise self.unexpected(expected)
        return self.advance()

    # --- grammar -------------------------------------------------------------------------

    def parse_rule(self) -> Node:
        if self.at(Kind.END):
            raise self.error("empty rule", 0)
        node = self.parse_or()
        if not self.at(Kind.END):
            raise self.unexpected("'and', 'or' or end of rule")
        if self.scan_error is not None:
            raise self.scan_error
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        return Or(tuple(items), Span(items[0].span.start, items[-1].span.end))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.parse_not())
        if len(items) == 1:
            return items[0]
        return And(tuple(items), Span(items[0].span.start, items[-1].span.end))

    def parse_not(self) -> Node:
        if self.at_keyword("not"):
            start = self.advance().pos
            operand = self.parse_not()
            return Not(operand, Span(start, operand.span.end))
        return self.parse_primary()

    def parse_primary(self) -> Node:
        if self.at(Kind.LPAREN):
            lparen = self.advance()
            inner = self.parse_or()
            if self.at(Kind.END):
                raise self.error("unclosed '('", lparen.pos)
            if not self.at(Kind.RPAREN):
                raise self.unexpected("')', 'and' or 'or'")
            rparen = self.advance()
            # the span takes the parentheses in, so explain shows the clause as written
            return replace(inner, span=Span(lparen.pos, rparen.end))
        if self.at_keyword("segment"):
            return self.parse_segment_ref()
        return self.parse_predicate()

    def parse_segment_ref(self) -> SegmentRef:
        start = self.advance().pos
        parenthesised = self.at(Kind.LPAREN)
        if parenthesised:
            self.advance()
        name = self.expect(Kind.STRING, 'a quoted segment name, as in segment("name")')
        end = name.end
        if parenthesised:
            end = self.expect(Kind.RPAREN, "')' after the segment name").end
        return SegmentRef(name.text, Span(start, end), name.pos)

    def parse_predicate(self) -> Node:
        left = self.parse_operand()
        start = left.span.start
        tok = self.tok
        if tok.kind is Kind.OP:
            self.advance()
            right = self.parse_operand()
            op = "=" if tok.text == "==" else tok.text
            return Compare(cast(CompareOp, op), left, right, Span(start, right.span.end))
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            end = self.tok.end
            if not self.at_keyword("null"):
                raise self.unexpected("'null' after 'is'" if not negated else "'null'")
            self.advance()
            return IsNull(left, negated, Span(start, end))
        negated = False
        if self.at_keyword("not"):
            if not (self.peek().kind is Kind.KEYWORD and self.peek().text in _NEGATABLE):
                self.advance()
                raise self.unexpected("'in', 'between', 'contains', 'starts_with' or 'ends_with'")
            self.advance()
            negated = True
        if self.at_keyword("in"):
            self.advance()
            items, end = self.parse_list()
            return InList(left, items, negated, Span(start, end))
        if self.at_keyword("between"):
            self.advance()
            low = self.parse_operand()
            if not self.at_keyword("and"):
                raise self.unexpected("'and' in 'between ... and ...'")
            self.advance()
            high = self.parse_operand()
            return Between(left, low, high, negated, Span(start, high.span.end))
        if self.at_keyword(*_MATCH_OPS):
            op = cast(MatchOp, self.advance().text)
            pattern = self.parse_operand()
            return StringMatch(op, left, pattern, negated, Span(start, pattern.span.end))
        return Truthy(left, left.span)

    def parse_list(self) -> tuple[tuple[Literal, ...], int]:
        lbracket = self.expect(Kind.LBRACKET, "'[' to start a list")
        items: list[Literal] = []
        while not self.at(Kind.RBRACKET):
            if self.at(Kind.END):
                raise self.error("unclosed '['", lbracket.pos)
            operand = self.parse_operand()
            if not isinstance(operand, Literal):
                raise self.error("list items must be literals", operand.span.start)
            items.append(operand)
            if self.at(Kind.COMMA):
                self.advance()
            elif not self.at(Kind.RBRACKET):
                if self.at(Kind.END):
                    raise self.error("unclosed '['", lbracket.pos)
                raise self.unexpected("',' or ']'")
        end = self.advance().end
        if not items:
            raise self.error("empty list", lbracket.pos)
        return tuple(items), end

    def parse_operand(self) -> Operand:
        tok = self.tok
        if tok.kind is Kind.IDENT:
            self.advance()
            return FieldRef(tok.text, Span(tok.pos, tok.end))
        if tok.kind is Kind.NUMBER:
            self.advance()
            return Literal(float(tok.text), Span(tok.pos, tok.end))
        if tok.kind is Kind.MINUS and self.peek().kind is Kind.NUMBER:
            self.advance()
            number = self.advance()
            return Literal(-float(number.text), Span(tok.pos, number.end))
        if tok.kind is Kind.STRING:
            self.advance()
            return Literal(tok.text, Span(tok.pos, tok.end))
        if self.at_keyword("true", "false"):
            self.advance()
            return Literal(tok.text == "true", Span(tok.pos, tok.end))
        if self.at_keyword("null"):
            raise self.error("null is not a value here: use 'is null' or 'is not null'")
        if tok.kind is Kind.KEYWORD:
            raise self.error(f"unexpected keyword '{tok.text}', expected a field or a value")
        raise self.unexpected("a field or a value")
