"""The SQL dialect of stream apps: PostgreSQL's, as sqlglot parses it, plus two forms the seed's stream
apps wrote: `FROM *` (the tenant's readings) and `XOR` (between AND and OR in precedence).

PostgreSQL is the base because its operators are the ones users of a time-series platform know (`^` is
a power, `||` joins strings, `INTERVAL '1' MINUTE`).
"""

import re
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.parsers.postgres import PostgresParser
from sqlglot.tokenizer_core import TokenType

__all__ = ["READINGS", "SqlError", "construct", "parse", "position_of", "unsupported"]

READINGS = "readings"  # the one table an app reads: its tenant's readings


class SqlError(ValueError):
    """What is wrong with an app's SQL, and where: `line` and `column` count from 1 (None: the whole)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.line = line
        self.column = column


class StreamSql(Postgres):
    class Tokenizer(Postgres.Tokenizer):
        # SESSION(time, gap) is a window here, not the start of a SESSION statement
        KEYWORDS: ClassVar = {k: v for k, v in Postgres.Tokenizer.KEYWORDS.items() if k != "SESSION"}
        KEYWORDS["XOR"] = TokenType.XOR

    class Parser(PostgresParser):
        DISJUNCTION: ClassVar = {**PostgresParser.DISJUNCTION, TokenType.XOR: exp.Xor}

        def _parse_table(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
            if self._match(TokenType.STAR):  # the seed's `FROM *`
                return exp.Table(this=exp.to_identifier(READINGS))
            return super()._parse_table(*args, **kwargs)


def parse(sql: str) -> exp.Expr:
    """One SELECT statement; a syntax error becomes a `SqlError` at the place the parser stopped."""
    try:
        statements = sqlglot.parse(sql, read=StreamSql)
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        reason = _TOKEN.sub(_token_text, str(first.get("description", err)))
        reason = _MISSING.sub(lambda m: f"an incomplete {m[1].upper()} expression", reason)
        raise SqlError(f"syntax error: {reason}", first.get("line"), first.get("col")) from None
    except TokenError as err:
        raise SqlError(f"syntax error: {err}") from None
    found = [statement for statement in statements if statement is not None]
    if len(found) != 1:
        raise SqlError(f"an app is one SELECT statement, got {len(found)} statements")
    return found[0]


_TOKEN = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+, col: \d+, .*?>")

_MISSING = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+\.(\w+)'>")


def _token_text(match: re.Match[str]) -> str:
    """sqlglot names tokens by their repr; a user wants the text (or the end of the statement)."""
    return "the end of the statement" if match[1] == "SENTINEL" else repr(match[2])


def position_of(node: exp.Expr) -> tuple[int | None, int | None]:
    """Where `node` starts: sqlglot keeps positions on identifiers, literals and functions only, so a
    node without one is placed at the first of its parts that has one."""
    best: tuple[int, int, int] | None = None
    for part in node.walk():
        meta = part.meta
        if "line" in meta and "start" in meta and (best is None or meta["start"] < best[0]):
            best = (meta["start"], meta["line"], meta["col"] - (meta["end"] - meta["start"]))
    return (None, None) if best is None else (best[1], best[2])


def unsupported(node: exp.Expr, what: str | None = None) -> SqlError:
    line, column = position_of(node)
    name = what or construct(node)
    return SqlError(f"{name} is not supported in stream apps", line, column)


def construct(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function {node.name.upper()}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}()"
    return node.key.upper()
