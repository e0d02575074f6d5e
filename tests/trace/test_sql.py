from __future__ import annotations

import pytest

from async_audit.trace import fingerprint


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"),
        (
            "SELECT * FROM t WHERE name = 'alice' AND x = 1.5",
            "SELECT * FROM t WHERE name = ? AND x = ?",
        ),
        (
            'SELECT "a"."id" FROM "a" WHERE "a"."id" = %s',
            'SELECT "a"."id" FROM "a" WHERE "a"."id" = ?',
        ),
        ("SELECT 1 FROM t WHERE id IN (1, 2, 3)", "SELECT ? FROM t WHERE id IN (?+)"),
        ("SELECT 1 FROM t WHERE id IN (%s, %s)", "SELECT ? FROM t WHERE id IN (?+)"),
        ("SELECT  *\n  FROM t -- secret comment\n WHERE a = $1", "SELECT * FROM t WHERE a = ?"),
    ],
)
def test_fingerprint_strips_every_literal(sql, expected):
    assert fingerprint(sql) == expected


def test_queries_differing_only_in_values_share_a_fingerprint():
    assert fingerprint("UPDATE u SET email = 'a@b.c' WHERE id = 1") == fingerprint(
        "UPDATE u SET email = 'x@y.z' WHERE id = 999"
    )
