"""Make untrusted text inert before it reaches a terminal or a report file.

Probe ids, client names and above all HTTP error messages come from people and
servers we do not control. Printed raw, an escape sequence can recolour or
retitle the operator's terminal, hide text, or (OSC 8/52) plant links and write
the clipboard; a bidirectional override can make "gro.emca" read as
"acme.org" in a review. `inert` removes the first and shows the second:

1. Whole escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte ESC
   sequences, and their 8-bit C1 forms) are dropped: they carry formatting, not
   text, and dropping them keeps a coloured server message readable.
2. Line breaks and tabs become one space, so a value stays on one table line.
3. Every other C0/C1 control, DEL, each bidi control and any lone surrogate
   is shown as its code point, e.g. "<U+202E>", so a reader sees that
   something was there.
"""

from __future__ import annotations

import re

__all__ = ["inert", "json_inert", "BIDI_CONTROLS"]

# U+061C ALM, U+200E/U+200F LRM/RLM, U+202A-U+202E embeddings/overrides,
# U+2066-U+2069 isolates.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_ST = r"(?:\x1b\\|\x9c)"
_SEQUENCE = re.compile(
    "|".join(
        [
            # OSC, ended by BEL or ST; unterminated runs to the end of the text.
            rf"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|{_ST}|$)",
            # DCS, SOS, PM, APC strings, ended by ST.
            rf"(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:{_ST}|$)",
            # CSI: parameters, intermediates, one final byte.
            r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?",
            # Other ESC sequences: intermediates and one final byte (ESC c, ESC ( B).
            r"\x1b[\x20-\x2f]*[\x30-\x7e]",
        ]
    )
)
_SPACE = re.compile(r"\r\n|[\n\r\t\v\f\u0085\u2028\u2029]")
# Lone surrogates (from JSON "\\ud800" or surrogateescape) would also make a
# UTF-8 write fail, so they are shown the same way.
_VISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff" + "".join(sorted(BIDI_CONTROLS)) + "]"
)


def inert(text: str) -> str:
    """Return `text` safe to print in a terminal cell or write into a report.

    >>> inert("\\x1b[31mred\\x1b[0m \\u202eevil")
    'red <U+202E>evil'
    """
    if not isinstance(text, str):
        text = str(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    text = _SEQUENCE.sub("", text)
    text = _SPACE.sub(" ", text)
    return _VISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


# json.dumps escapes C0 controls itself; with ensure_ascii=False it passes DEL,
# C1 controls, bidi controls, line separators and lone surrogates raw.
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u2028\u2029\ud800-\udfff" + "".join(sorted(BIDI_CONTROLS)) + "]"
)


def json_inert(text: str) -> str:
    r"""JSON text (from json.dumps) with the characters above as \u escapes: the same
    values when parsed, but nothing that can drive or mislead a terminal when shown.

    >>> json_inert('"\u202eevil"')
    '"\\u202eevil"'
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
