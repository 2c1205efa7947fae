"""The one check of a password against its hash, throttled; no Flask.

Every place that checks a password goes through :meth:`PasswordCheck.check`:
a link's password (per link), the current password asked again before a
token is made or the password changed (per account), and logins (whose
limits Flask-Limiter applies per name and address before the view runs, so
this check adds none). Each attempt counts *before* the hash is checked, in
the limiter's storage (atomic, shared by every worker and instance when it is
Redis), so parallel guesses cannot slip past the limit; hashing runs off the
event loop (it takes ~0.1 s of CPU by design).
"""

from __future__ import annotations

from ..core.errors import TooManyAttempts
from ..db.hashing import matches
from ..throttle import Throttle

#: What each scope's limit is about, for the message a client is shown.
_SUBJECT = {"link": "this link", "account": "this account"}


class PasswordCheck:
    """Throttled password checks, by scope: ``link`` (per link id),
    ``account`` (per user id), ``login`` (limited by the login route)."""

    def __init__(self, throttles: dict[str, Throttle | None]) -> None:
        self.throttles = throttles

    def check(self, scope: str, key: object, stored_hash: str, given: str) -> bool:
        """Whether ``given`` matches ``stored_hash``; TooManyAttempts when the
        scope's key is over its limit (that attempt is not checked)."""
        throttle = self.throttles[scope]
        if throttle is not None:
            wait = throttle.hit(str(key))
            if wait is not None:
                raise TooManyAttempts(
                    f"Too many password attempts for {_SUBJECT[scope]}; "
                    "try again later.",
                    wait,
                )
        return matches(stored_hash, given)
