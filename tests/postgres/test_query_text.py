"""Query texts are printed with every literal replaced by ``?``, tokenised by PostgreSQL's own
scanner: quotes, dollar-quoting, escape strings and comments by the server's rules."""

from __future__ import annotations

import pytest

from transport.postgres import normalize_query


def shown(text: str, limit: int = 120) -> str:
    return normalize_query(text, limit)


@pytest.mark.parametrize("query, expected", [
    ("SELECT * FROM users WHERE email = 'ann@example.com' AND id = 42",
     "SELECT * FROM users WHERE email = ? AND id = ?"),
    ("SELECT 'it''s', E'c:\\\\x\\'y', U&'d\\0061t', B'101', X'1F', 1.5e3, .5, -7",
     "SELECT ?, ?, ?, ?, ?, ?, ?, -?"),
    ("SELECT $body$ secret ' \" $$ $body$, $$x$$ FROM t", "SELECT ?, ? FROM t"),
    ("SELECT pg_sleep(30) /* password=hunter2 */ -- card 4111\n FROM t", "SELECT pg_sleep(?) FROM t"),
    ('SELECT "Quoted ""Col""" FROM "T" WHERE a = $1', 'SELECT "Quoted ""Col""" FROM "T" WHERE a = $1'),
    ("UPDATE   t\n\tSET a = 'x'", "UPDATE t SET a = ?"),
])
def test_every_kind_of_literal_becomes_a_question_mark(query, expected):
    assert shown(query) == expected


def test_a_backslash_ending_a_standard_string_does_not_swallow_the_next_literal():
    # standard_conforming_strings: 'C:\' is a complete string; a naive escape-aware regex would
    # run on and expose 'hunter2' as code.
    assert shown("SELECT 'C:\\', 'hunter2'") == "SELECT ?, ?"


def test_a_text_cut_inside_a_literal_keeps_the_code_before_it_and_hides_the_rest():
    # pg_stat_activity cuts query texts at track_activity_query_size, possibly inside a literal.
    text = shown("SELECT id FROM users WHERE ssn = '078-05-11")
    assert text == "SELECT id FROM users WHERE ssn = ?"
    assert shown("SELECT $$ 078-05-1120 ") == "SELECT ?"
    assert "078" not in shown("SELECT 1 /* unterminated 078-05-1120")


def test_the_shown_text_is_at_most_the_limit():
    text = shown("SELECT " + ", ".join(f"column_{n}" for n in range(100)) + " FROM t")
    assert len(text) == 120 and text.endswith("…")


def test_no_text_is_said_plainly():
    assert normalize_query(None) == "(query text not available)"
    assert shown("") == ""
