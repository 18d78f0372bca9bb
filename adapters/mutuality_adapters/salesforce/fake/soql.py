"""The SOQL subset the fake server understands: exactly what the adapter sends.

Supported::

    SELECT field, Parent.Field, (SELECT field, ... FROM ChildRelationship) ...
    FROM Object
    [WHERE cond]          cond: term {AND|OR term}, parentheses, NOT IN
                          term: field (= != < <= > >=) literal | field [NOT] IN (literal, ...)
    [ORDER BY field [ASC|DESC], ...]
    [LIMIT n]

Literals: 'strings' (backslash escapes), numbers, true/false, null, datetimes
(``2024-05-01T12:30:15Z``, ``...+02:00``, optional fractional seconds) and dates.
Datetimes are normalised to the server's canonical ``YYYY-MM-DDTHH:MM:SS.fff+0000``
form so that they compare as strings, exactly as the stored values do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

__all__ = ["MalformedQuery", "Query", "canonical_datetime", "parse"]


class MalformedQuery(ValueError):
    """The statement is outside the subset (the server answers MALFORMED_QUERY)."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def canonical_datetime(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _parse_dt_literal(text: str) -> str:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return canonical_datetime(datetime.fromisoformat(text))


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise MalformedQuery(f"unexpected token at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


@attrs.frozen
class Query:
    object: str
    fields: tuple[str, ...]
    subqueries: tuple[Query, ...]
    where: Callable[[Mapping[str, Any]], bool] | None
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int | None
    #: (field, "date" | "datetime") for each date or datetime literal it is compared
    #: with: Salesforce refuses a date literal against a dateTime field and vice versa.
    temporal: tuple[tuple[str, str], ...] = ()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.temporal: list[tuple[str, str]] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MalformedQuery("unexpected end of query")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise MalformedQuery(f"expected {word} near {self.peek()!r}")

    def expect_punct(self, punct: str) -> None:
        token = self.next()
        if token != ("punct", punct):
            raise MalformedQuery(f"expected {punct!r}, got {token[1]!r}")

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[str] = []
        subqueries: list[Query] = []
        while True:
            token = self.peek()
            if token == ("punct", "("):
                self.next()
                subqueries.append(self.query())
                self.expect_punct(")")
            else:
                kind, value = self.next()
                if kind != "word":
                    raise MalformedQuery(f"expected a field name, got {value!r}")
                fields.append(value)
            if self.peek() == ("punct", ","):
                self.next()
                continue
            break
        self.expect_keyword("FROM")
        kind, obj = self.next()
        if kind != "word":
            raise MalformedQuery(f"expected an object name, got {obj!r}")
        where = None
        if self.keyword("WHERE"):
            where = self.disjunction()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            while True:
                kind, field = self.next()
                if kind != "word":
                    raise MalformedQuery(f"expected a field to order by, got {field!r}")
                descending = False
                if self.keyword("DESC"):
                    descending = True
                else:
                    self.keyword("ASC")
                order.append((field, descending))
                if self.peek() == ("punct", ","):
                    self.next()
                    continue
                break
        limit = None
        if self.keyword("LIMIT"):
            kind, value = self.next()
            if kind != "num":
                raise MalformedQuery(f"LIMIT needs a number, got {value!r}")
            limit = int(value)
        return Query(
            obj, tuple(fields), tuple(subqueries), where, tuple(order), limit, tuple(self.temporal)
        )

    def disjunction(self) -> Callable[[Mapping[str, Any]], bool]:
        terms = [self.conjunction()]
        while self.keyword("OR"):
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda row: any(term(row) for term in terms)

    def conjunction(self) -> Callable[[Mapping[str, Any]], bool]:
        terms = [self.term()]
        while self.keyword("AND"):
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        return lambda row: all(term(row) for term in terms)

    def literal(self) -> Any:
        kind, value = self.next()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "dt":
            return _parse_dt_literal(value)
        if kind == "date":
            return value
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "word" and value.lower() == "null":
            return None
        raise MalformedQuery(f"expected a literal, got {value!r}")

    def term(self) -> Callable[[Mapping[str, Any]], bool]:
        if self.peek() == ("punct", "("):
            self.next()
            inner = self.disjunction()
            self.expect_punct(")")
            return inner
        kind, field = self.next()
        if kind != "word":
            raise MalformedQuery(f"expected a field name, got {field!r}")
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self._literal_for(field)]
            while self.peek() == ("punct", ","):
                self.next()
                values.append(self._literal_for(field))
            self.expect_punct(")")
            allowed = frozenset(values)
            if negate:
                return lambda row: row.get(field) not in allowed
            return lambda row: row.get(field) in allowed
        if negate:
            raise MalformedQuery("NOT is only supported as NOT IN")
        kind, op = self.next()
        if kind != "op":
            raise MalformedQuery(f"expected an operator after {field}, got {op!r}")
        value = self._literal_for(field)
        return _comparison(field, op, value)

    def _literal_for(self, field: str) -> Any:
        kind = self.peek()
        if kind is not None and kind[0] in ("dt", "date"):
            self.temporal.append((field, "datetime" if kind[0] == "dt" else "date"))
        return self.literal()


def _comparison(field: str, op: str, value: Any) -> Callable[[Mapping[str, Any]], bool]:
    if op == "=":
        return lambda row: row.get(field) == value
    if op in ("!=", "<>"):
        return lambda row: row.get(field) != value
    if value is None:
        raise MalformedQuery(f"cannot compare {field} {op} null")

    def ordered(row: Mapping[str, Any]) -> bool:
        current = row.get(field)
        if current is None:
            return False
        if op == "<":
            return current < value
        if op == "<=":
            return current <= value
        if op == ">":
            return current > value
        return current >= value

    return ordered


def parse(text: str) -> Query:
    parser = _Parser(text)
    query = parser.query()
    if parser.peek() is not None:
        raise MalformedQuery(f"unexpected {parser.peek()[1]!r} after the query")  # type: ignore[index]
    return query
