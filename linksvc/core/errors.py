"""The exceptions linksvc raises, and the one table of what each means.

Each class says, in one place, its stable ``code`` (the JSON API's and the
audit's), its HTTP ``status`` (and ``api_status`` where the API answers
otherwise), the page ``title`` and a ``hint`` for the person who meets it.
Nothing here imports HTTP machinery: the pure modules raise these, the CLI
prints their messages, and web/handlers.py reads the table. Messages are
written as sentences where they are raised.
"""

from __future__ import annotations

from datetime import datetime
from datetime import UTC

#: The hint for anyone holding a link that no longer works.
ASK_FOR_A_NEW_LINK = "Ask the person who shared it for a new link."


class LinksvcError(Exception):
    """Base of every refusal linksvc explains to a person."""

    #: A stable machine-readable code, used by the JSON API and the audit.
    code = "error"
    status = 400
    #: The API's status where it differs (a well-formed but unacceptable value).
    api_status: int | None = None
    title = "Request refused"
    hint: str | None = None

    @classmethod
    def codes(cls) -> list[str]:
        """Every code this class and its subclasses may carry, sorted."""
        found = {cls.code}
        for sub in cls.__subclasses__():
            found.update(sub.codes())
        return sorted(found)


class ConfigError(LinksvcError):
    """The settings cannot be used; the message names the key."""

    code = "config"
    status = 500
    title = "Configuration error"


class InvalidInput(LinksvcError, ValueError):
    """A value a person typed is not acceptable; the message says why."""

    code = "invalid"
    api_status = 422
    title = "Invalid input"


class BadDuration(InvalidInput):
    """A duration is not written like ``90s``, ``15m``, ``2h``, ``7d`` or ``2w``."""

    code = "bad_duration"
    title = "Invalid duration"

    def __init__(self, text: str) -> None:
        super().__init__(
            f"{text!r} is not a duration: write a positive number followed by "
            "s, m, h, d or w (for example 90s, 15m, 2h, 7d, 2w)."
        )


class ExpiryTooLong(InvalidInput):
    """A requested expiry is beyond ``max_expiry``."""

    code = "expiry_too_long"
    title = "Expiry too long"


class BadRequest(LinksvcError):
    """The request itself is malformed (not JSON, a bad query parameter)."""

    code = "bad_request"
    title = "Bad request"


# -- paths ------------------------------------------------------------------


class PathRefused(LinksvcError):
    """A path that could leave the protected tree or names something hidden."""

    code = "path_refused"
    api_status = 422
    title = "Path refused"


class FileMissing(LinksvcError):
    """The path is safe but there is no regular file at it."""

    code = "not_found"
    status = 404
    title = "File not found"
    hint = "The file may have been moved or deleted."


class NotGranted(LinksvcError):
    """The user's grants (or role) do not cover what they asked for."""

    code = "forbidden"
    status = 403
    title = "Not allowed"


# -- links ------------------------------------------------------------------


class LinkInvalid(LinksvcError):
    """A token that is tampered, garbage, signed by an unknown key or unknown."""

    code = "link_invalid"
    status = 404
    title = "Link not found"
    hint = (
        "Check that the whole link was copied. If it was, it is not a link "
        "this service made, or it no longer works."
    )


class LinkExpired(LinksvcError):
    """A genuine link whose expiry has passed."""

    code = "link_expired"
    status = 410
    title = "Link expired"
    hint = ASK_FOR_A_NEW_LINK

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(f"This link expired at {expired_at:%Y-%m-%d %H:%M:%S} UTC.")
        self.expired_at = expired_at


class LinkRevoked(LinksvcError):
    """A genuine link that was revoked."""

    code = "link_revoked"
    status = 410
    title = "Link revoked"
    hint = ASK_FOR_A_NEW_LINK

    def __init__(self, revoked_at: int | None = None) -> None:
        when = ""
        if revoked_at is not None:
            when = (
                f" at {datetime.fromtimestamp(revoked_at, UTC):%Y-%m-%d %H:%M:%S} UTC"
            )
        super().__init__(f"This link was revoked{when}.")
        self.revoked_at = revoked_at


class LinkSuspended(LinksvcError):
    """A genuine link whose owner can no longer reach its path: it works
    again if their access comes back (``on_access_lost = "keep"``)."""

    code = "link_suspended"
    status = 403
    title = "Link not available"
    hint = "Ask the person who sent it whether they can still share this file."

    def __init__(self) -> None:
        super().__init__(
            "This link does not work at the moment: the person who shared "
            "it can no longer reach what it points to."
        )


class LinkUsedUp(LinksvcError):
    """A genuine link whose download limit is reached."""

    code = "link_used_up"
    status = 410
    title = "Link used up"
    hint = ASK_FOR_A_NEW_LINK

    def __init__(self, max_downloads: int) -> None:
        super().__init__(
            f"This link allowed {max_downloads} download"
            f"{'s' if max_downloads != 1 else ''} and they are used up."
        )
        self.max_downloads = max_downloads


class LinkNotYetValid(LinksvcError):
    """A genuine link whose start time has not come yet."""

    code = "link_not_yet_valid"
    status = 403
    title = "Link not active yet"

    def __init__(self, not_before: datetime) -> None:
        super().__init__(
            f"This link becomes valid at {not_before:%Y-%m-%d %H:%M:%S} UTC."
        )
        self.not_before = not_before


class FileChanged(LinksvcError):
    """A pinned link's file was replaced or changed after the link was made."""

    code = "file_changed"
    status = 410
    title = "File changed"
    hint = ASK_FOR_A_NEW_LINK


class VerificationRequired(LinksvcError):
    """The recipient must give a code sent to their address first."""

    code = "verification_required"
    status = 403
    title = "Check your email"
    hint = "Ask for a code; we email it to the address this link was made for."


class WrongCode(LinksvcError):
    """A one-time code that is wrong, used, expired or tried too often."""

    code = "wrong_code"
    status = 403
    title = "That code does not work"
    hint = "Ask for a new code and enter it within ten minutes."


class PasswordRequired(LinksvcError):
    """The link has a password and this request did not unlock it."""

    code = "password_required"
    status = 403
    title = "Password required"
    hint = "Enter the password the person who shared the link gave you."


class WrongPassword(PasswordRequired):
    code = "wrong_password"
    title = "Wrong password"


class AddressRefused(LinksvcError):
    """The link may only be used from certain networks, not the client's."""

    code = "address_refused"
    status = 403
    title = "Not available from your network"
    hint = "Open the link from the network it was shared for (an office or VPN)."


class PolicyRefused(InvalidInput):
    """A group's policy forbids what was asked; the message names the group
    and the rule."""

    code = "policy"
    title = "Not allowed by policy"


# -- users and records --------------------------------------------------------


class DirectoryUnavailable(LinksvcError):
    """The LDAP directory cannot be reached or refuses linksvc's reader."""

    code = "directory_unavailable"
    status = 503
    title = "Directory unavailable"
    hint = "Try again in a minute; if it lasts, tell the administrator."


class SignInFailed(LinksvcError):
    """Single sign-on did not prove who this is (a wrong ``state``, a code
    used twice, a token that is forged, expired or from another issuer), or
    proved someone who may not sign in here; the message says which."""

    code = "sign_in_failed"
    status = 403
    title = "Sign-in failed"
    hint = "Go back to the login page and sign in again."


class UserExists(LinksvcError):
    code = "user_exists"
    status = 409
    title = "User exists"


class UnknownUser(LinksvcError):
    code = "unknown_user"
    status = 404
    title = "User not found"


class UnknownGroup(LinksvcError):
    code = "unknown_group"
    status = 404
    title = "Group not found"


class GroupExists(LinksvcError):
    code = "group_exists"
    status = 409
    title = "Group exists"


class UnknownLink(LinksvcError):
    code = "not_found"
    status = 404
    title = "Link not found"


class UnknownSession(LinksvcError):
    code = "not_found"
    status = 404
    title = "Session not found"


class UnknownToken(LinksvcError):
    code = "not_found"
    status = 404
    title = "Token not found"


class EditConflict(LinksvcError):
    code = "conflict"
    status = 409
    title = "Changed meanwhile"


class AlreadyRevoked(LinksvcError):
    code = "already_revoked"
    status = 409
    title = "Already revoked"


class Unauthorized(LinksvcError):
    """No credentials, or credentials that are not (or no longer) valid."""

    code = "unauthorized"
    status = 401
    title = "Log in required"


# -- the service ----------------------------------------------------------------


class StoreUnavailable(LinksvcError):
    """The database cannot be reached or is locked; worth a retry later."""

    code = "unavailable"
    status = 503
    title = "Try again shortly"
    retry_after = 5


class InsufficientStorage(LinksvcError):
    """The disk is below the free-space floor: no upload starts (507)."""

    code = "insufficient_storage"
    status = 507
    title = "No room for uploads"
    hint = "Try again later; the administrator has been told by the logs."


class TooManyRequests(LinksvcError):
    """A client is over a limit; ``retry_after`` says how many seconds to wait."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttempts(TooManyRequests):
    """Too many password attempts for one link or account (the one throttled
    check of passwords, passwords.py)."""
