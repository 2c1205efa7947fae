"""core/text.py: user text that cannot drive a terminal or fool a reader."""

import pytest

from linksvc.core.text import BIDI_CONTROLS
from linksvc.core.text import filesize
from linksvc.core.text import has_bidi
from linksvc.core.text import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("tab\there", "tab\\x09here"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85\x9f", "c1\\x85\\x9f"),
        ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("mark\u200e\u200f\u061c", "mark\\u200e\\u200f\\u061c"),
        ("Zoë ünïcode", "Zoë ünïcode"),
        ("\xa0nbsp", "\xa0nbsp"),
    ],
)
def test_printable_escapes_control_and_bidi_characters(text, shown):
    assert printable(text) == shown


def test_every_bidi_control_is_escaped_and_detected():
    for char in BIDI_CONTROLS:
        assert has_bidi(f"a{char}b")
        assert printable(char) == f"\\u{ord(char):04x}"
    assert not has_bidi("plain \u2065 text")
    assert len(BIDI_CONTROLS) == 12


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (21, "21 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1024.0 KiB"),
        (1024 * 1024, "1.0 MiB"),
        (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
        (1024**3, "1.0 GiB"),
        (3 * 1024**4, "3072.0 GiB"),
    ],
)
def test_file_sizes_read_as_people_write_them(size, shown):
    """What the browse page and the recipient page show for a file."""
    assert filesize(size) == shown
