"""What a person asks of a link, parsed once; pure (no I/O, no Flask).

Each adapter (the share form, the JSON API, the command line) turns its own
input into a :class:`LinkOptions` with :func:`parse`; creating, editing, the
group policy and the store take it whole. One name per idea: these field
names are the form's, the API's, the CLI's (``--max-downloads``) and the
columns'.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from functools import partial
from typing import Any

from ..core import addresses
from ..core.durations import parse_duration
from ..core.durations import parse_instant
from ..core.errors import BadDuration
from ..core.errors import InvalidInput
from ..core.text import EMAIL
from ..core.text import printable

#: Link passwords: long enough not to be guessed within the per-link
#: throttle, short enough to read out on the phone.
MIN_LINK_PASSWORD, MAX_LINK_PASSWORD = 6, 128
#: Longest note on a link, in characters.
MAX_NOTE = 500
#: The largest download limit accepted; beyond it, leave the link unlimited.
MAX_DOWNLOADS = 1_000_000

#: Recipients one share may have, and the longest label.
MAX_RECIPIENTS, MAX_LABEL = 50, 100

#: What an edit may change; the rest is fixed when the link is made.
EDITABLE = ("expires", "max_downloads", "note", "password", "ranges")
#: Names the API took before there was one name per idea; read for one
#: release (docs/api.md says so).
OLD_NAMES = {"pinned": "pin"}


@dataclass(frozen=True)
class Expiry:
    """When a link ends: a duration from its start, or a moment."""

    seconds: int = 0
    moment: int | None = None

    def at(self, start: int) -> int:
        """The moment it ends for a link starting at ``start``."""
        return self.moment if self.moment is not None else start + self.seconds

    def length(self, start: int) -> int:
        return self.at(start) - start


@dataclass(frozen=True)
class Recipient:
    """Who a share's link is for: a label, and their address if they have
    one (an entry with an @ is an address, and its own label)."""

    label: str
    email: str = ""


@dataclass(frozen=True)
class LinkOptions:
    """A link's options. ``None`` is "the default" (a setting or a group's
    rule) when a link is made; an edit changes only the names in ``given``
    (there ``None`` removes a limit, a password or the ranges)."""

    expires: Expiry | None = None
    not_before: int | None = None
    max_downloads: int | None = None
    note: str = ""
    password: str | None = None
    ranges: str = ""
    pin: bool | None = None
    recipient_page: bool | None = None
    notify: bool | None = None
    #: A share for named recipients, each with their own link (issue 25).
    recipients: tuple[Recipient, ...] = ()
    #: Recipients with an address give a one-time code sent there first.
    verify: bool | None = None
    #: The expired or used-up page offers "ask for more time".
    more_time: bool | None = None
    #: Not asked by a person: the opaque_links setting, and what the path is.
    opaque: bool | None = None
    folder: bool | None = None
    #: The names the person gave.
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def resolved(self, **defaults: Any) -> LinkOptions:
        """These options with each None among ``defaults``' names filled."""
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return replace(self, **filled)


def _expires(value: object, now: int) -> Expiry | None:
    """A duration (``3d``, ``90m``, seconds) or a moment (ISO 8601, ``+2h``)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput("expires must be a duration such as 3d, or a time.")
    if isinstance(value, int):
        return Expiry(parse_duration(value))
    text = value.strip()
    try:
        return Expiry(parse_duration(text.removeprefix("+")))
    except BadDuration:
        pass
    try:
        return Expiry(moment=parse_instant(text, now))
    except InvalidInput:
        raise BadDuration(value) from None


def _not_before(value: object, now: int) -> int | None:
    """A start after now; one in the past is simply "now" (None)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput("not_before must be a time.")
    start = parse_instant(value, now)
    return start if start > now else None


def download_limit(value: object, now: int = 0) -> int | None:
    """A download limit from what a person gave (empty: none)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        limit = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"The download limit (max_downloads) must be a whole number, not {value!r}."
        ) from None
    if isinstance(value, bool) or not 1 <= limit <= MAX_DOWNLOADS:
        raise InvalidInput(
            f"The download limit (max_downloads) must be between 1 and {MAX_DOWNLOADS}."
        )
    return limit


def clean_note(value: object, now: int = 0) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidInput("The note must be text.")
    note = (value or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note may have at most {MAX_NOTE} characters.")
    return note


def clean_password(value: object, now: int = 0) -> str | None:
    """None or a password of acceptable length (the empty string is none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("The link's password must be text.")
    if not MIN_LINK_PASSWORD <= len(value) <= MAX_LINK_PASSWORD:
        raise InvalidInput(
            f"A link's password needs {MIN_LINK_PASSWORD} to "
            f"{MAX_LINK_PASSWORD} characters."
        )
    return value


def _ranges(value: object, now: int) -> str:
    if value is not None and not isinstance(value, str | list | tuple):
        raise InvalidInput("ranges must be text or a list of CIDR ranges.")
    return addresses.parse_ranges(value)


def _choice(name: str, value: object, now: int) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput(f"{name} must be true or false.")


def recipients(value: object, now: int = 0) -> tuple[Recipient, ...]:
    """Recipients from a list, or text with one per line (or comma): an
    address, or a plain label for a link handed out by hand."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        entries = [e for line in value.splitlines() for e in line.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(e, str) for e in value):
        entries = list(value)
    else:
        raise InvalidInput("recipients must be a list of labels or addresses.")
    found: dict[str, Recipient] = {}
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        if "@" in entry:
            if len(entry) > 254 or not EMAIL.fullmatch(entry):
                raise InvalidInput(f"{printable(entry[:80])!r} is not an address.")
            one = Recipient(entry, entry)
        else:
            if len(entry) > MAX_LABEL or printable(entry) != entry:
                raise InvalidInput(
                    f"A recipient's label is printable text of at most {MAX_LABEL} "
                    "characters."
                )
            one = Recipient(entry)
        if one.label.lower() in found:
            raise InvalidInput(f"{one.label!r} is named twice among the recipients.")
        found[one.label.lower()] = one
    if len(found) > MAX_RECIPIENTS:
        raise InvalidInput(f"A share may have at most {MAX_RECIPIENTS} recipients.")
    return tuple(found.values())


#: option -> what turns a person's value into the option's.
PARSERS: dict[str, Callable[[object, int], Any]] = {
    "expires": _expires,
    "not_before": _not_before,
    "max_downloads": download_limit,
    "note": clean_note,
    "password": clean_password,
    "ranges": _ranges,
    "pin": partial(_choice, "pin"),
    "recipient_page": partial(_choice, "recipient_page"),
    "notify": partial(_choice, "notify"),
    "recipients": recipients,
    "verify": partial(_choice, "verify"),
    "more_time": partial(_choice, "more_time"),
}


def parse(
    raw: Mapping[str, object], now: int, only: Iterable[str] | None = None
) -> LinkOptions:
    """Options from a person's values by name (old API names read too);
    ``only`` limits the names (an edit's). InvalidInput names a bad one."""
    allowed = tuple(PARSERS if only is None else only)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        new = OLD_NAMES.get(name, name)
        if new not in PARSERS and only is None:
            raise InvalidInput(
                f"There is no link option {name!r}; the options are: "
                f"{', '.join(allowed)}."
            )
        if new not in allowed:
            raise InvalidInput(
                f"{name} cannot be changed; these can: {', '.join(allowed)}."
            )
        if new in values:
            raise InvalidInput(f"Give {new} once (not also as {name}).")
        values[new] = PARSERS[new](value, now)
    return LinkOptions(**values, given=frozenset(values))
