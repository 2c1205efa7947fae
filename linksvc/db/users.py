"""Users and their grants in the database; no Flask."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection
from sqlalchemy import delete
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..core.clock import now
from ..core.errors import UnknownUser
from ..core.errors import UserExists
from .hashing import hashed
from .hashing import matches
from .schema import grants
from .schema import group_grants
from .schema import group_members
from .schema import recovery_codes
from .schema import users
from .sessions import end_all_of
from .tokens import revoke_all


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    disabled: bool
    session_token: str
    grants: tuple[str, ...]
    email: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    oidc_subject: str | None = None
    totp_secret: str | None = None
    #: Granted through the user's groups (read with the user, every request).
    group_grants: tuple[str, ...] = ()
    #: Kept by the identity provider through SCIM (its id: ``external_id``).
    provisioned: bool = False
    external_id: str | None = None
    #: The key before the last rotation and until when it still signs.
    webhook_secret_previous: str = ""
    webhook_previous_until: int | None = None

    def webhook_keys(self, now: int) -> list[str]:
        """The keys that sign this user's webhooks now, the newest first."""
        keys = [self.webhook_secret] if self.webhook_secret else []
        previous = self.webhook_secret_previous
        until = self.webhook_previous_until
        if keys and previous and until is not None and now < until:
            keys.append(previous)
        return keys

    @property
    def federated(self) -> bool:
        """The identity provider's account (signed in through it, or
        provisioned by it): never signs in with a password here."""
        return self.oidc_subject is not None or self.provisioned

    @property
    def effective_grants(self) -> list[str]:
        """Admins are granted the whole tree, spelled as the empty prefix;
        others their own grants and their groups'."""
        if self.is_admin:
            return [""]
        return list(dict.fromkeys((*self.grants, *self.group_grants)))


class Users:
    """Reads and writes of users and their grants."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        username: str,
        password: str,
        is_admin: bool = False,
        grant_prefixes: Iterable[str] = (),
    ) -> User:
        return self._add(username, hashed(password), is_admin, grant_prefixes)

    def add_federated(self, username: str, subject: str, email: str) -> User:
        """A user the identity provider vouches for: no password anyone
        knows (a random one's hash), found again by ``subject``."""
        password_hash = hashed(secrets.token_urlsafe(32))
        return self._add(username, password_hash, email=email, oidc_subject=subject)

    def _add(
        self,
        username: str,
        password_hash: str,
        is_admin: bool = False,
        grant_prefixes: Iterable[str] = (),
        email: str = "",
        oidc_subject: str | None = None,
    ) -> User:
        """The hash is made before the write: no lock held while it is."""
        try:
            with self.engine.begin() as conn:
                user_id = conn.execute(
                    insert(users).values(
                        username=username,
                        password_hash=password_hash,
                        is_admin=is_admin,
                        disabled=False,
                        session_token=secrets.token_urlsafe(16),
                        created_at=now(),
                        email=email,
                        oidc_subject=oidc_subject,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                for prefix in dict.fromkeys(grant_prefixes):
                    conn.execute(insert(grants).values(user_id=user_id, prefix=prefix))
        except IntegrityError:
            raise UserExists(f"A user named {username!r} already exists.") from None
        return self.by_name(username)

    def set_second_factor(
        self, user_id: int, secret: str | None, code_hashes: Iterable[str] = ()
    ) -> None:
        """Turn a TOTP second factor on (with its recovery codes' hashes) or,
        with ``secret`` None, off; either way the old recovery codes go."""
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_secret=secret, totp_step=None)
            )
            conn.execute(
                delete(recovery_codes).where(recovery_codes.c.user_id == user_id)
            )
            rows = [{"user_id": user_id, "code_hash": h} for h in code_hashes]
            if rows:
                conn.execute(insert(recovery_codes), rows)

    def use_step(self, user_id: int, step: int) -> bool:
        """Accept a code of time step ``step`` once: later than any accepted
        before (one UPDATE, so two workers cannot both take it)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(users)
                    .where(
                        users.c.id == user_id,
                        or_(users.c.totp_step.is_(None), users.c.totp_step < step),
                    )
                    .values(totp_step=step)
                ).rowcount
            )

    def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(recovery_codes)
                    .where(
                        recovery_codes.c.user_id == user_id,
                        recovery_codes.c.code_hash == code_hash,
                        recovery_codes.c.used_at.is_(None),
                    )
                    .values(used_at=now())
                ).rowcount
            )

    def recovery_codes_left(self, user_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(recovery_codes)
                .where(
                    recovery_codes.c.user_id == user_id,
                    recovery_codes.c.used_at.is_(None),
                )
            ).scalar_one()

    def by_name_or_none(self, username: str) -> User | None:
        return self._user(users.c.username == username)

    def by_subject(self, subject: str) -> User | None:
        return self._user(users.c.oidc_subject == subject)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    def _user(self, where) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(where)).first()
            if row is None:
                return None
            prefixes = list(
                conn.execute(
                    select(grants.c.prefix)
                    .where(grants.c.user_id == row.id)
                    .order_by(grants.c.prefix)
                ).scalars()
            )
            through_groups = conn.execute(
                select(group_grants.c.prefix)
                .distinct()
                .join(
                    group_members, group_members.c.group_id == group_grants.c.group_id
                )
                .where(group_members.c.user_id == row.id)
                .order_by(group_grants.c.prefix)
            ).scalars()
            return User(
                row.id,
                row.username,
                row.is_admin,
                row.disabled,
                row.session_token,
                tuple(prefixes),
                row.email,
                row.webhook_url,
                row.webhook_secret,
                row.oidc_subject,
                row.totp_secret,
                tuple(through_groups),
                row.provisioned,
                row.external_id,
                row.webhook_secret_previous,
                row.webhook_previous_until,
            )

    def get(self, user_id: int) -> User | None:
        return self._user(users.c.id == user_id)

    def by_name(self, username: str) -> User:
        user = self._user(users.c.username == username)
        if user is None:
            raise UnknownUser(f"There is no user named {username!r}.")
        return user

    def authenticate(
        self,
        username: str,
        password: str,
        verify: Callable[[str, str], bool] | None = None,
    ) -> User | None:
        """The user if the password is right and the account enabled.

        A password is checked against a hash every time, a stand-in one for
        an unknown name, so a wrong password takes as long for an unknown or
        disabled user as for a real one and the timing names no account.
        Hashing runs off the event loop (db/hashing.py): it takes ~0.1 s
        of CPU by design, and the hash releases the GIL. ``verify(hash,
        given)`` is the app's throttled check (accounts/passwords.py).
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.password_hash, users.c.disabled).where(
                    users.c.username == username
                )
            ).first()
        stored = row.password_hash if row is not None else _stand_in_hash()
        if verify is None:
            right = matches(stored, password)
        else:
            right = verify(stored, password)
        if row is None or row.disabled or not right:
            return None
        return self.by_name(username)

    def list(self) -> list[User]:
        with self.engine.connect() as conn:
            query = select(users.c.username).order_by(users.c.username)
            names = list(conn.execute(query).scalars())
        return [self.by_name(name) for name in names]

    def grant(self, username: str, prefix: str) -> User:
        user = self.by_name(username)
        if prefix not in user.grants:
            with self.engine.begin() as conn:
                conn.execute(insert(grants).values(user_id=user.id, prefix=prefix))
        return self.by_name(username)

    def ungrant(self, username: str, prefix: str) -> User:
        user = self.by_name(username)
        with self.engine.begin() as conn:
            conn.execute(
                delete(grants).where(
                    grants.c.user_id == user.id, grants.c.prefix == prefix
                )
            )
        return self.by_name(username)

    def set_password(self, username: str, password: str) -> User:
        """A new password; every session and API token of the user ends."""
        user = self.by_name(username)
        password_hash = hashed(password)  # before the write
        with self.engine.begin() as conn:
            _end_sessions(conn, user.id, password_hash=password_hash)
            revoke_all(conn, user.id)
        return self.by_name(username)

    def set_admin(self, username: str, is_admin: bool) -> User:
        """Make or unmake an administrator; their sessions end either way."""
        user = self.by_name(username)
        with self.engine.begin() as conn:
            _end_sessions(conn, user.id, is_admin=is_admin)
        return self.by_name(username)

    def rename(self, user_id: int, username: str) -> None:
        """A new name (the identity provider's); links and grants follow the
        id. UserExists if another account has it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(users).where(users.c.id == user_id).values(username=username)
                )
        except IntegrityError:
            raise UserExists(f"A user named {username!r} already exists.") from None

    def set_subject(self, user_id: int, subject: str) -> None:
        """Link a provisioned account to its provider subject (first sign-in)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(oidc_subject=subject)
            )

    def add_provisioned(self, username: str, email: str) -> User:
        """An account the identity provider made through SCIM: no password
        anyone knows; its provider subject is linked at its first sign-in."""
        password_hash = hashed(secrets.token_urlsafe(32))
        return self._add(username, password_hash, email=email)

    def set_email(self, username: str, email: str) -> User:
        user = self.by_name(username)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(email=email))
        return self.by_name(username)

    def set_webhook(
        self,
        username: str,
        url: str,
        secret: str,
        previous: str = "",
        previous_until: int | None = None,
    ) -> User:
        user = self.by_name(username)
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(
                    webhook_url=url,
                    webhook_secret=secret,
                    webhook_secret_previous=previous,
                    webhook_previous_until=previous_until,
                )
            )
        return self.by_name(username)

    def end_all_sessions(self) -> int:
        """Every user's sessions end (a signing key was retired); returns how
        many users there were."""
        with self.engine.begin() as conn:
            ids = list(conn.execute(select(users.c.id)).scalars())
            for user_id in ids:
                _end_sessions(conn, user_id)
        return len(ids)

    def end_sessions(self, user_id: int) -> None:
        """End every session of the user: their cookies name the old token."""
        with self.engine.begin() as conn:
            _end_sessions(conn, user_id)

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (or enable) an account; either ends its sessions and API
        tokens, so enabling an account gives nothing from before back."""
        user = self.by_name(username)
        with self.engine.begin() as conn:
            _end_sessions(conn, user.id, disabled=disabled)
            revoke_all(conn, user.id)
        return self.by_name(username)


def _end_sessions(conn: Connection, user_id: int, **values) -> None:
    """Write ``values`` for a user and a fresh session token: every session
    cookie names the old one, so they all end (and so do their rows)."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(session_token=secrets.token_urlsafe(16), **values)
    )
    end_all_of(conn, user_id)


@lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    """A hash made the way real ones are, checked when a name is unknown."""
    return hashed(secrets.token_urlsafe(16))
