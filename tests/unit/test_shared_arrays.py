"""`text_array`: a list of strings bound as one PostgreSQL array literal (the server side: tests/integration)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winback_shared.db.arrays import text_array

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


def parse_literal(literal: str) -> list[str | None]:
    """A reference reader of one-dimensional array literals whose elements are quoted or NULL."""
    assert literal[0] == "{" and literal[-1] == "}"
    out: list[str | None] = []
    i, body = 0, literal[1:-1]
    while i < len(body):
        if body.startswith("NULL", i):
            out.append(None)
            i += 4
        else:
            assert body[i] == '"'
            i += 1
            chars = []
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                chars.append(body[i])
                i += 1
            out.append("".join(chars))
            i += 1
        if i < len(body):
            assert body[i] == ","
            i += 1
    return out


@given(st.lists(st.one_of(TEXT, st.none())))
def test_every_string_and_null_reads_back_as_given(values: list[str | None]) -> None:
    assert parse_literal(text_array(values)) == values


def test_edges() -> None:
    assert text_array([]) == "{}"
    assert text_array([""]) == '{""}'
    assert text_array(["NULL", None]) == '{"NULL",NULL}'
    assert text_array(['a"b', "c\\d", "{e,f}"]) == r'{"a\"b","c\\d","{e,f}"}'


@pytest.mark.parametrize("values", [["a\x00b"], ["x", "\x00"], ["a\x00", None]])
def test_a_nul_is_refused_not_split(values: list[str | None]) -> None:
    with pytest.raises(ValueError, match="NUL"):
        text_array(values)
