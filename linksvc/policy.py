"""What the groups of a user allow their links to be; no Flask.

A user's groups each may set a default and a maximum expiry, a maximum
number of downloads, "password required" and "address ranges required"
(listing the ranges the group allows). The strictest applies: the shortest
default, the smallest maximum, any requirement of any group, and ranges that
lie inside the allowed ranges of every group that lists some. A refusal
names the group and the rule, so a person knows whom to ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import addresses
from .core.durations import format_duration
from .core.errors import PolicyRefused
from .db.groups import Group
from .db.users import User
from .services import Services


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
