"""inert(): untrusted text loses every way to drive a terminal, and shows hidden tricks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaprobe.sanitize import BIDI_CONTROLS, inert


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("ACME Corp", "ACME Corp"),
        ("Zürich 宇宙 👍", "Zürich 宇宙 👍"),
        ("[bold]x[/bold]", "[bold]x[/bold]"),  # rich markup is the renderer's business
        ("\x1b[31mred\x1b[0m", "red"),  # SGR colour
        ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear screen, cursor home
        ("\x1b[?1049hx", "x"),  # private-mode CSI
        ("a\x1b]0;pwned\x07b", "ab"),  # OSC title, BEL-terminated
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST
        ("\x1b]52;c;Y3VybA==\x07copied?", "copied?"),  # OSC 52 clipboard write
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1b_apc\x1b\\b", "ab"),  # APC
        ("a\x1bcb", "ab"),  # RIS: full reset
        ("a\x1b(Bb", "ab"),  # charset designation
        ("a\x9b31mb", "ab"),  # 8-bit CSI
        ("a\x9d0;t\x9cb", "ab"),  # 8-bit OSC and ST
        ("a\x1b]0;unterminated", "a"),
        ("trailing\x1b", "trailing<U+001B>"),
        ("line1\nline2\r\nline3\rx\ty", "line1 line2 line3 x y"),
        ("a\u2028b\u2029c\x85d", "a b c d"),
        ("bell\x07", "bell<U+0007>"),
        ("nul\x00", "nul<U+0000>"),
        ("del\x7f", "del<U+007F>"),
        ("bs\x08\x08ok", "bs<U+0008><U+0008>ok"),
        ("c1\x80\x81\x9a", "c1<U+0080><U+0081><U+009A>"),
        ("a\x9fapc\x9cb", "ab"),  # 8-bit APC up to 8-bit ST
        ("\u202eevil", "<U+202E>evil"),
        ("gro.\u202dem\u202c", "gro.<U+202D>em<U+202C>"),
        ("\u2066iso\u2069\u2067\u2068", "<U+2066>iso<U+2069><U+2067><U+2068>"),
        ("\u200e\u200f\u061c", "<U+200E><U+200F><U+061C>"),
        ("\ud800lone", "<U+D800>lone"),
    ],
)
def test_inert(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_non_strings_are_shown_as_text() -> None:
    assert inert(42) == "42"  # type: ignore[arg-type]


_DANGEROUS = set(chr(c) for c in range(0x20)) | set(chr(c) for c in range(0x7F, 0xA0))
_DANGEROUS |= BIDI_CONTROLS | {"\u2028", "\u2029"}


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(sorted(_DANGEROUS))))
def test_output_has_no_control_bidi_or_line_break(raw: str) -> None:
    out = inert(raw)
    assert not (set(out) & _DANGEROUS)
    out.encode("utf-8")  # never fails, whatever came in
    assert inert(out) == out  # idempotent: a second pass changes nothing


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"])))
def test_printable_text_is_unchanged(raw: str) -> None:
    assert inert(raw) == raw
