"""What a file's first bytes say it is, against what its name says; pure.

Used when an upload link lists the types it takes: a file whose bytes are a
program (Windows PE, ELF, Mach-O, a script with ``#!``) is refused whatever
its name, and a known type must start as that type does, so ``invoice.pdf``
that is really ``setup.exe`` never reaches anyone's folder.
"""

from __future__ import annotations

_PROGRAMS = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\xce\xfa\xed\xfe", "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script"),
)

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
#: Extension -> the starts its files have.
_STARTS: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "webp": (b"RIFF",),
    "zip": _ZIP,
    "docx": _ZIP,
    "xlsx": _ZIP,
    "pptx": _ZIP,
    "odt": _ZIP,
    "ods": _ZIP,
    "odp": _ZIP,
    "gz": (b"\x1f\x8b",),
    "mp4": (),
}
#: Text types: no NUL byte in the first bytes.
_TEXT = {"txt", "csv", "md", "json", "xml", "log", "tsv"}


def parse_types(text: str) -> tuple[str, ...]:
    """``"pdf, .JPG png"`` -> ``("jpg", "pdf", "png")``; ValueError for a
    word that cannot be an extension."""
    found = set()
    for word in text.replace(",", " ").split():
        word = word.lower().lstrip(".")
        if not word.isascii() or not word.isalnum() or len(word) > 16:
            raise ValueError(f"{word[:20]!r} is not a file extension")
        found.add(word)
    return tuple(sorted(found))


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def refused(name: str, head: bytes, types: tuple[str, ...]) -> str | None:
    """Why a file named ``name`` starting with ``head`` may not come in
    through a link taking ``types`` (None: it may). With no types, anything
    may (the owner decides after looking)."""
    if not types:
        return None
    ext = extension(name)
    if ext not in types:
        return f"only {', '.join(types)} files are taken here"
    for start, what in _PROGRAMS:
        if head.startswith(start):
            return f"the file is {what}, not a {ext} file"
    starts = _STARTS.get(ext)
    if starts and head and not head.startswith(starts):
        return f"the file does not look like a {ext} file"
    if ext in _TEXT and b"\x00" in head:
        return f"the file does not look like a {ext} file"
    return None
