"""Reading ESC/POS jobs back: Chinese text in GB18030 with its style, QR payloads, raster
images and cuts, from bytes python-escpos itself produced; and any bytes fuzzed."""

from __future__ import annotations

from escpos.printer import Dummy
from hypothesis import given
from hypothesis import strategies as st

from simulators.escpos_parse import QR, Cut, Raster, Text, parse, text_lines


def ticket() -> bytes:
    p = Dummy()
    p.hw("INIT")
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p._raw(b"\x1c&" + "请 A012 号到 3 号窗口办理".encode("gb18030") + b"\n")
    p.set(align="left", bold=False, normal_textsize=True)
    p._raw("前面还有 5 人\n".encode("gb18030"))
    p.qr("https://hall.example/q/A012", native=True, size=6)
    p.cut()
    return p.output


def test_chinese_text_with_its_style_the_qr_and_the_cut():
    els = parse(ticket())
    texts = [e for e in els if isinstance(e, Text)]
    assert texts[0].text == "请 A012 号到 3 号窗口办理"
    assert texts[0].bold and texts[0].height == 2 and texts[0].width == 2 and texts[0].align == "center"
    assert texts[1] == Text("前面还有 5 人")
    assert [e for e in els if isinstance(e, QR)] == [QR("https://hall.example/q/A012", 6)]
    assert isinstance(els[-1], Cut)


def test_raster_image_is_read_whole():
    p = Dummy()
    p._raw(b"\x1dv0\x00\x02\x00\x03\x00" + bytes(range(6)) + b"ok\n")
    els = parse(p.output)
    assert els[0] == Raster(2, 3, bytes(range(6))) and text_lines(p.output) == ["ok"]


@given(st.binary(max_size=400))
def test_any_bytes_parse_without_crashing(data):
    for e in parse(data):
        assert isinstance(e, (Text, QR, Raster, Cut)) or type(e).__name__ in ("Feed", "Unknown")
