"""What the groups of a user allow their links to be; no Flask.

A user's groups each may set a default and a maximum expiry, a maximum
number of downloads, "password required" and "address ranges required"
(listing the ranges the group allows). The strictest applies: the shortest
default, the smallest maximum, any requirement of any group, and ranges that
lie inside the allowed ranges of every group that lists some. A refusal
names the group and the rule, so a person knows whom to ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from ..config import Settings
from ..core import addresses
from ..core.durations import format_duration
from ..core.durations import parse_duration
from ..core.errors import ExpiryTooLong
from ..core.errors import InvalidInput
from ..core.errors import PolicyRefused
from ..db.groups import Group
from ..db.groups import RULES
from ..db.users import User
from ..services import Services
from .options import download_limit
from .options import Expiry
from .options import LinkOptions
from .ownership import follow_access


def within_max_expiry(seconds: int, limit: int) -> None:
    """The settings' ``max_expiry``, before any group's."""
    if seconds > limit:
        raise ExpiryTooLong(
            f"Share links may live at most {format_duration(limit)}, "
            f"not {format_duration(seconds)}."
        )


@dataclass(frozen=True)
class Policy:
    """The rules that apply to one user's links, and the group each is from."""

    groups: tuple[Group, ...] = ()

    def _least(self, rule: str) -> tuple[int, str] | None:
        found = [(getattr(g, rule), g.name) for g in self.groups]
        found = [(value, name) for value, name in found if value is not None]
        return min(found) if found else None

    @property
    def default_expiry(self) -> tuple[int, str] | None:
        return self._least("default_expiry")

    @property
    def max_expiry(self) -> tuple[int, str] | None:
        return self._least("max_expiry")

    @property
    def max_downloads(self) -> tuple[int, str] | None:
        return self._least("max_downloads")

    @property
    def password_required_by(self) -> str | None:
        return next((g.name for g in self.groups if g.password_required), None)

    @property
    def ranges_required_by(self) -> list[Group]:
        return [g for g in self.groups if g.ranges]

    def expiry(self, given: int | None, settings_default: int) -> int:
        """Seconds a link lives when the person gave ``given`` (None: the
        default, the group's shortest default first), or PolicyRefused."""
        if given is None:
            default = self.default_expiry
            given = default[0] if default else settings_default
            limit = self.max_expiry
            return min(given, limit[0]) if limit else given
        limit = self.max_expiry
        if limit and given > limit[0]:
            raise PolicyRefused(
                f"Group {limit[1]!r} allows links of at most "
                f"{format_duration(limit[0])}, not {format_duration(given)}."
            )
        return given

    def downloads(self, given: int | None) -> int | None:
        """The download limit: ``given``, or the group's maximum when none is
        given; more than the maximum is refused."""
        limit = self.max_downloads
        if limit is None:
            return given
        if given is None:
            return limit[0]
        if given > limit[0]:
            raise PolicyRefused(
                f"Group {limit[1]!r} allows at most {limit[0]} download"
                f"{'s' if limit[0] != 1 else ''} per link, not {given}."
            )
        return given

    def check_password(self, has_password: bool) -> None:
        group = self.password_required_by
        if group and not has_password:
            raise PolicyRefused(f"Group {group!r} requires a password on every link.")

    def check_ranges(self, ranges: str) -> None:
        for group in self.ranges_required_by:
            if not ranges:
                raise PolicyRefused(
                    f"Group {group.name!r} requires address ranges on every link, "
                    f"inside {group.ranges}."
                )
            outside = addresses.within(ranges, group.ranges)
            if outside:
                raise PolicyRefused(
                    f"Group {group.name!r} allows address ranges inside "
                    f"{group.ranges}; {', '.join(outside)} is not."
                )

    def applied(
        self,
        options: LinkOptions,
        start: int,
        settings: Settings,
        edit: bool = False,
    ) -> LinkOptions:
        """``options`` as this policy lets them be, for a link starting at
        ``start`` (an edit: now): the expiry as a length, from the groups'
        default when none was given; the download limit, the group's maximum
        when none was given; a password and ranges where a group requires
        them. An edit is judged only on what it gives. PolicyRefused names
        the group, ExpiryTooLong the setting."""

        def asked(name: str) -> bool:
            return not edit or name in options.given

        changes: dict[str, Any] = {}
        if asked("expires"):
            if options.expires is None:
                if edit:
                    raise InvalidInput("Give the new expiry, or leave it unchanged.")
                seconds = self.expiry(None, settings.default_expiry)
            else:
                seconds = options.expires.length(start)
                if seconds <= 0:
                    raise InvalidInput(
                        "The expiry must be in the future; "
                        "revoke the link to end it now."
                    )
                within_max_expiry(seconds, settings.max_expiry)
                seconds = self.expiry(seconds, settings.default_expiry)
            changes["expires"] = Expiry(seconds)
        if asked("max_downloads"):
            if edit and options.max_downloads is None and self.max_downloads:
                raise PolicyRefused(
                    f"Group {self.max_downloads[1]!r} requires a download limit "
                    "on every link."
                )
            changes["max_downloads"] = self.downloads(options.max_downloads)
        if asked("password"):
            self.check_password(options.password is not None)
        if asked("ranges"):
            self.check_ranges(options.ranges)
        return replace(options, **changes)

    def describe(self) -> list[str]:
        """The rules in words, for the share form and the API."""
        said = []
        if self.default_expiry:
            said.append(f"default expiry {format_duration(self.default_expiry[0])}")
        if self.max_expiry:
            said.append(f"expiry at most {format_duration(self.max_expiry[0])}")
        if self.max_downloads:
            said.append(f"at most {self.max_downloads[0]} downloads")
        if self.password_required_by:
            said.append("a password is required")
        for group in self.ranges_required_by:
            said.append(f"address ranges inside {group.ranges}")
        return said


def policy_for(svc: Services, user: User) -> Policy:
    """The policy of ``user``'s groups (no groups: no rules)."""
    return Policy(tuple(svc.store.groups.of_user(user.id)))


# -- changing groups (the CLI, the admin page and the API) --------------------

#: Group names, as user names: letters, digits, . _ @ -.
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def group_rules(
    svc: Services, given: dict[str, Any], partial: bool = False
) -> dict[str, Any]:
    """Typed rules from what a person gave (durations as text or seconds,
    ranges as text or a list); with ``partial``, only the given ones."""
    rules: dict[str, Any] = {}
    for name in RULES:
        if name not in given:
            if not partial:
                rules[name] = False if name == "password_required" else None
            continue
        value = given[name]
        if name in ("default_expiry", "max_expiry"):
            value = None if value in (None, "") else parse_duration(value)
        elif name == "max_downloads":
            value = download_limit(value)
        elif name == "password_required":
            if not isinstance(value, bool):
                raise InvalidInput("password_required must be true or false.")
        else:
            value = addresses.parse_ranges(value)
        rules[name] = value
    if rules.get("ranges") is None and "ranges" in rules:
        rules["ranges"] = ""
    return rules


def _consistent(group: Group) -> None:
    if (
        group.default_expiry is not None
        and group.max_expiry is not None
        and group.default_expiry > group.max_expiry
    ):
        raise InvalidInput("A group's default expiry must not exceed its maximum.")


def _record(
    svc: Services, outcome: str, name: str, actor: str, detail: str = ""
) -> None:
    svc.audit.record("group", outcome, subject=name, actor=actor, detail=detail or None)


def add_group(svc: Services, name: str, actor: str = "cli", **given: Any) -> Group:
    if not GROUP_NAME.fullmatch(name):
        raise InvalidInput(
            "A group name has 1 to 64 letters, digits, dots, underscores, @ or "
            "hyphens, and starts with a letter or digit."
        )
    rules = group_rules(svc, given)
    _consistent(Group(0, name, **rules))
    group = svc.store.groups.add(name, **rules)
    _record(svc, "added", name, actor, _said(group))
    return group


def change_group(svc: Services, name: str, actor: str = "cli", **given: Any) -> Group:
    rules = group_rules(svc, given, partial=True)
    before = svc.store.groups.get(name)
    _consistent(replace(before, **rules))
    group = svc.store.groups.change(name, **rules)
    _record(svc, "changed", name, actor, _said(group))
    return group


def remove_group(svc: Services, name: str, actor: str = "cli") -> None:
    svc.store.groups.remove(name)
    _record(svc, "removed", name, actor)


def grant_group(svc: Services, name: str, prefix: str, actor: str = "cli") -> str:
    """Members of group ``name`` may reach ``prefix`` (cleaned as a path)."""
    clean = svc.tree.clean(prefix)
    svc.store.groups.grant(name, clean)
    _record(svc, "granted", name, actor, f"path: {clean or '(everything)'}")
    for member in svc.store.groups.get(name).members:
        follow_access(svc, member, actor)
    return clean


def ungrant_group(svc: Services, name: str, prefix: str, actor: str = "cli") -> str:
    """Members of ``name`` no longer reach ``prefix`` through it, at once
    (grants are read on every request); their links there are suspended, or
    revoked if ``on_access_lost`` says so."""
    clean = svc.tree.clean(prefix)
    if svc.store.groups.ungrant(name, clean):
        _record(svc, "ungranted", name, actor, f"path: {clean or '(everything)'}")
        for member in svc.store.groups.get(name).members:
            follow_access(svc, member, actor)
    return clean


def join_group(svc: Services, name: str, username: str, actor: str = "cli") -> Group:
    group = svc.store.groups.join(name, username)
    _record(svc, "joined", name, actor, f"member: {username}")
    follow_access(svc, username, actor)
    return group


def leave_group(svc: Services, name: str, username: str, actor: str = "cli") -> Group:
    group = svc.store.groups.leave(name, username)
    _record(svc, "left", name, actor, f"member: {username}")
    follow_access(svc, username, actor)
    return group


def _said(group: Group) -> str:
    return "; ".join(Policy((group,)).describe()) or "no rules"
