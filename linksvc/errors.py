"""The exceptions linksvc raises; each becomes one HTTP status in handlers.py.

They know nothing of HTTP so the pure modules (signing, files, store) can raise
them and the CLI can print them.
"""

from __future__ import annotations

from datetime import datetime
from datetime import UTC


class LinksvcError(Exception):
    """Base of every refusal linksvc explains to a person."""

    #: A stable machine-readable code, used by the JSON API.
    code = "error"


class ConfigError(LinksvcError):
    """The settings cannot be used; the message names the key."""

    code = "config"


class BadDuration(LinksvcError, ValueError):
    """A duration is not written like ``90s``, ``15m``, ``2h``, ``7d`` or ``2w``."""

    code = "bad_duration"

    def __init__(self, text: str) -> None:
        super().__init__(
            f"{text!r} is not a duration: write a positive number followed by "
            "s, m, h, d or w (for example 90s, 15m, 2h, 7d, 2w)"
        )


class ExpiryTooLong(LinksvcError, ValueError):
    """A requested expiry is beyond ``max_expiry``."""

    code = "expiry_too_long"


# -- paths ------------------------------------------------------------------


class PathRefused(LinksvcError):
    """A path that could leave the protected tree or names something hidden."""

    code = "path_refused"


class FileMissing(LinksvcError):
    """The path is safe but there is no regular file at it."""

    code = "not_found"


class NotGranted(LinksvcError):
    """The user's grants do not cover the path."""

    code = "forbidden"


# -- links ------------------------------------------------------------------


class LinkInvalid(LinksvcError):
    """A token that is tampered, garbage, signed by an unknown key or unknown."""

    code = "link_invalid"


class LinkExpired(LinksvcError):
    """A genuine token whose expiry has passed."""

    code = "link_expired"

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(f"this link expired at {expired_at:%Y-%m-%d %H:%M:%S} UTC")
        self.expired_at = expired_at


class LinkRevoked(LinksvcError):
    """A genuine token whose link was revoked."""

    code = "link_revoked"

    def __init__(self, revoked_at: int | None = None) -> None:
        when = ""
        if revoked_at is not None:
            when = (
                f" at {datetime.fromtimestamp(revoked_at, UTC):%Y-%m-%d %H:%M:%S} UTC"
            )
        super().__init__(f"this link was revoked{when}")
        self.revoked_at = revoked_at


class LinkUsedUp(LinksvcError):
    """A genuine token whose download limit is reached."""

    code = "link_used_up"

    def __init__(self, max_downloads: int) -> None:
        super().__init__(
            f"this link allowed {max_downloads} download"
            f"{'s' if max_downloads != 1 else ''} and they are used up"
        )
        self.max_downloads = max_downloads


class LinkNotYetValid(LinksvcError):
    """A genuine token whose start time has not come yet."""

    code = "link_not_yet_valid"

    def __init__(self, not_before: datetime) -> None:
        super().__init__(
            f"this link becomes valid at {not_before:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.not_before = not_before


# -- users --------------------------------------------------------------------


class UserExists(LinksvcError):
    code = "user_exists"


class UnknownUser(LinksvcError):
    code = "unknown_user"


class UnknownLink(LinksvcError):
    code = "not_found"


class UnknownToken(LinksvcError):
    code = "not_found"


class AlreadyRevoked(LinksvcError):
    code = "already_revoked"


class InvalidInput(LinksvcError, ValueError):
    """A value a person typed is not acceptable; the message says why."""

    code = "invalid"


class StoreUnavailable(LinksvcError):
    """The database cannot be reached or is locked; worth a retry later."""

    code = "unavailable"


class Unauthorized(LinksvcError):
    """No credentials, or credentials that are not (or no longer) valid."""

    code = "unauthorized"


class TooManyRequests(LinksvcError):
    """A client is over a limit; ``retry_after`` says how many seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(LinksvcError):
    """The request itself is malformed (not JSON, a bad query parameter)."""

    code = "bad_request"
