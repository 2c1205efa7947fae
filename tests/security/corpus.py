"""Hostile paths: traversal, encodings, look-alikes, devices, absolute and long.

Built, not listed by hand, so every encoding meets every target and depth.
"""

from __future__ import annotations

#: Ways to write the parent directory, as they would appear in a URL path.
DOTDOTS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",  # double-encoded
    "%25252e%25252e",  # triple-encoded
    "%c0%ae%c0%ae",  # overlong UTF-8
    "%e0%80%ae%e0%80%ae",
    "%c0%2e%c0%2e",
    "\uff0e\uff0e",  # fullwidth full stops
    "\u2025",  # two dot leader
    "\u2024\u2024",  # one dot leaders
    "%u002e%u002e",
    "...",
    "....",
    "..%00",
    "..%20",
    ". .",
]
#: Ways to write the separator.
SLASHES = [
    "/",
    "%2f",
    "%2F",
    "%252f",
    "\\",
    "%5c",
    "%5C",
    "%c0%af",  # overlong '/'
    "%c1%9c",  # overlong '\'
    "\u2215",  # division slash
    "\uff0f",  # fullwidth solidus
    "\u2044",  # fraction slash
    "//",
    "/./",
]
#: Where a traversal tries to land.
TARGETS = [
    "outside/secret.txt",
    "etc/passwd",
    "reports/q3-old/draft.txt",
]
#: Where a traversal starts: the top, inside alice's grant, and deeper.
STARTS = ["", "reports/q3/"]

SPECIALS = [
    "/etc/passwd",
    "//etc/passwd",
    "/proc/self/environ",
    "file:///etc/passwd",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "c:secret.txt",
    "\\\\server\\share\\secret.txt",
    "\\\\?\\C:\\secret.txt",
    "CON",
    "NUL",
    "COM1",
    "LPT1",
    "AUX.txt",
    "readme.txt::$DATA",
    "readme.txt.",
    "readme.txt ",
    "readme.txt%00.png",
    "readme.txt\x00.png",
    "readme.txt%0a",
    "read%0dme.txt",
    "escape.txt",
    "escape-dir/secret.txt",
    "escape-dir%2fsecret.txt",
    "hardlink.txt",
    "inside-link.txt/../escape.txt",
    ".hidden",
    "%2ehidden",
    "reports/q3/.",
    "reports/q3/..",
    "reports/q3x",
    "reports/q3-old",
    "reports/q3-old/draft.txt",
    "reports/q3/../q3-old/draft.txt",
    "reports/q3/%2e%2e/q3-old/draft.txt",
    "reports/q3\\..\\q3-old\\draft.txt",
    "REPORTS/Q3-OLD/DRAFT.TXT",
    "reports/q3/summary.csv/../../q3-old/draft.txt",
    "a" * 300,
    "a/" * 700 + "b",
    "x" * 5000,
    "%" * 40,
    "%zz/%%",
    "\ud800",  # lone surrogate
    "%ed%a0%80",  # a surrogate, UTF-8 encoded
    "\u202e" + "txt.exe",  # right-to-left override
]


def traversals() -> list[str]:
    """Every dot-dot spelling with every separator, over starts, depths, targets."""
    out = []
    for dotdot in DOTDOTS:
        for sep in SLASHES:
            n = len(out)
            start, depth = STARTS[n % len(STARTS)], (1, 3, 5)[n % 3]
            out.append(start + (dotdot + sep) * depth + TARGETS[n % len(TARGETS)])
    return out


CORPUS = list(dict.fromkeys(traversals() + SPECIALS))
assert len(CORPUS) >= 300, len(CORPUS)
