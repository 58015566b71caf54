"""The DLE EOT status bytes: known answers from the Epson specification, every state
encoded and decoded back, and any byte fuzzed (refused or decoded, never a crash)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall_common import escpos_status
from hall_common.escpos_status import PrinterStatus, StatusError, decode, encode, query


def test_queries():
    assert [query(n) for n in (1, 2, 3, 4)] == [b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x03", b"\x10\x04\x04"]
    with pytest.raises(ValueError):
        query(5)


@pytest.mark.parametrize(
    "answers, expected",
    [
        ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}, PrinterStatus(online=True)),
        ({1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12}, PrinterStatus(online=False, cover_open=True)),  # cover open
        ({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E}, PrinterStatus(online=False, paper="out")),       # paper end
        ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E}, PrinterStatus(online=True, paper="near_end")),
        ({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12}, PrinterStatus(online=False, cutter_error=True)),
        ({1: 0x1A, 2: 0x52, 3: 0x32, 4: 0x12}, PrinterStatus(online=False, unrecoverable=True)),
    ],
)
def test_known_answers(answers, expected):
    assert decode(answers) == expected


@pytest.mark.parametrize(
    "status",
    [
        PrinterStatus(online=True),
        PrinterStatus(online=True, paper="near_end"),
        PrinterStatus(online=True, paper="out"),
        PrinterStatus(online=True, cover_open=True),
        PrinterStatus(online=False),
        PrinterStatus(online=True, cutter_error=True),
        PrinterStatus(online=True, unrecoverable=True),
    ],
)
def test_encode_then_decode_keeps_what_matters(status):
    back = decode(encode(status))
    assert back.paper == status.paper and back.cover_open == status.cover_open
    assert back.can_print == status.can_print
    assert back.cutter_error == status.cutter_error and back.unrecoverable == status.unrecoverable


@pytest.mark.parametrize("bad", [0x00, 0xFF, 0x10, 0x02, 0x92, 0x13])
def test_bytes_that_are_not_status_answers_are_refused(bad):
    with pytest.raises(StatusError):
        decode({1: bad})


@given(st.dictionaries(st.sampled_from([1, 2, 3, 4]), st.integers(min_value=0, max_value=255)))
def test_any_answer_is_decoded_or_refused(answers):
    try:
        status = decode(answers)
    except StatusError:
        return
    assert status.paper in ("ok", "near_end", "out")
    assert isinstance(status.can_print, bool)


def test_docstring_examples_hold():
    assert doctest.testmod(escpos_status).failed == 0
