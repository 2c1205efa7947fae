"""Numbers people type in query strings, read one way."""

from __future__ import annotations


def whole_number(text: str, high: int) -> int | None:
    """``text`` as a number from 1 to ``high``, or None.

    ASCII digits only: ``"²".isdigit()`` is true and ``int("²")`` fails.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if 1 <= number <= high else None
