"""SQL fingerprints: the statement's shape with every literal stripped (sqlparse)."""

from __future__ import annotations

import re
from functools import lru_cache

import sqlparse
from sqlparse import tokens as T

__all__ = ["fingerprint"]

_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")
_PLACEHOLDER = re.compile(r"%s|%\([^)]+\)s|\$\d+|:\w+")


@lru_cache(maxsize=2048)
def fingerprint(sql: str) -> str:
    """``SELECT * FROM t WHERE id = 7 AND x IN (1, 2)`` -> ``SELECT * FROM t WHERE id = ? AND x IN (?+)``.

    Literals and driver placeholders become ``?`` so queries that differ only in values
    group together, and no value (which may be personal data) survives.
    """
    out = []
    for statement in sqlparse.parse(sql):
        for token in statement.flatten():  # type: ignore[no-untyped-call]
            ttype = token.ttype
            if ttype is T.String.Symbol:  # a quoted identifier ("table"), not a value
                out.append(token.value)
            elif ttype in T.Literal.String or ttype in T.Literal.Number:
                out.append("?")
            elif ttype in T.Comment:
                continue
            elif ttype in T.Name.Placeholder:
                out.append("?")
            else:
                out.append(token.value)
    text = _PLACEHOLDER.sub("?", "".join(out))
    text = _SPACE.sub(" ", text).strip()
    return _LIST.sub("(?+)", text)
