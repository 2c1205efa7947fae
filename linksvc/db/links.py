"""Share links in the database: create, read, list, revoke; no Flask.

What a download does to a link (the atomic count) is claims.py.
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from ..core.clock import now
from ..core.errors import AlreadyRevoked
from ..core.errors import EditConflict
from ..core.errors import UnknownLink
from ..core.ids import random_id
from ..links.options import LinkOptions
from .outbox import queue
from .paths import under
from .schema import links
from .schema import users

#: Random bytes in a link id: 96 bits, not guessable, short in a URL.
LINK_ID_BYTES = 12


def new_link_id() -> str:
    """96 random bits, URL-safe, never starting with ``-``."""
    return random_id(LINK_ID_BYTES)


@dataclass(frozen=True)
class Link:
    id: str
    path: str
    created_by: int
    owner: str
    created_at: int
    expires_at: int
    not_before: int | None
    max_downloads: int | None
    download_count: int
    last_downloaded_at: int | None
    revoked_at: int | None
    note: str
    recipient_page: bool = False
    password_hash: str | None = None
    ranges: str = ""
    #: The file version the link is pinned to (None: not pinned).
    pin: str | None = None
    opaque: bool = False
    token_expires_at: int | None = None
    token_limited: bool | None = None
    folder: bool = False
    notify: bool = False
    sent_to: str = ""
    #: The owner no longer reaches the path: the link does not work.
    suspended: bool = False
    #: An upload link (a file request) into the folder ``path``, its limits.
    upload: bool = False
    upload_max_file_size: int | None = None
    upload_max_files: int | None = None
    upload_max_bytes: int | None = None
    upload_types: str = ""
    #: A share for named recipients opens nothing itself; each recipient's
    #: link names it as ``parent_id`` and carries their label and address.
    parent_id: str | None = None
    share: bool = False
    recipient_label: str = ""
    recipient_email: str = ""
    #: The recipient gives a one-time code sent to their address first.
    verify: bool = False
    #: The expired or used-up page offers "ask for more time".
    more_time: bool = False

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def revision(self) -> str:
        """What an edit form was loaded with: an edit that names another
        revision is refused (409), so a stale page cannot undo a change."""
        seen = "|".join(
            str(v)
            for v in (
                self.expires_at,
                self.max_downloads,
                self.password_hash,
                self.ranges,
                self.note,
                self.revoked_at,
            )
        )
        return hashlib.sha256(seen.encode()).hexdigest()[:16]

    def status(self, now: float) -> str:
        """active, expired, revoked, used up or scheduled, as the dashboard says."""
        if self.revoked_at is not None:
            return "revoked"
        if self.suspended:
            return "suspended"
        if now > self.expires_at:
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "used up"
        if self.not_before is not None and now < self.not_before:
            return "scheduled"
        return "active"


class Links:
    """Reads and writes of links."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        path: str,
        user_id: int,
        expires_at: int,
        options: LinkOptions,
        *,
        password_hash: str | None = None,
        pin: str | None = None,
        created_at: int | None = None,
        upload: dict[str, object] | None = None,
        recipient: dict[str, object] | None = None,
    ) -> Link:
        """A new link with ``options`` as the rules resolved them (nothing
        left None but the start and the limit); the password comes hashed,
        the pin as the file version it keeps; ``created_at`` the moment the
        rules judged it by (default now)."""
        link_id = new_link_id()
        with self.engine.begin() as conn:
            conn.execute(
                insert(links).values(
                    id=link_id,
                    path=path,
                    created_by=user_id,
                    created_at=now() if created_at is None else created_at,
                    expires_at=expires_at,
                    not_before=options.not_before,
                    max_downloads=options.max_downloads,
                    download_count=0,
                    note=options.note,
                    recipient_page=bool(options.recipient_page),
                    password_hash=password_hash,
                    ranges=options.ranges,
                    pin=pin,
                    opaque=bool(options.opaque),
                    folder=bool(options.folder),
                    notify=bool(options.notify),
                    upload=upload is not None,
                    **{f"upload_{k}": v for k, v in (upload or {}).items()},
                    **(recipient or {}),
                )
            )
        return self.get(link_id)

    def _links_query(self):
        return select(links, users.c.username.label("owner")).join(
            users, users.c.id == links.c.created_by
        )

    @staticmethod
    def _link(row) -> Link:
        m = row._mapping
        return Link(**{name: m[name] for name in Link.__dataclass_fields__})

    def get(self, link_id: str) -> Link:
        with self.engine.connect() as conn:
            row = conn.execute(self._links_query().where(links.c.id == link_id)).first()
        if row is None:
            raise UnknownLink(f"There is no link with id {link_id!r}.")
        return self._link(row)

    def recipients(self, parent_ids: builtins.list[str]) -> dict[str, list[Link]]:
        """The recipients' links of shares, by share, by label."""
        found: dict[str, list[Link]] = {p: [] for p in parent_ids}
        if not parent_ids:
            return found
        query = (
            self._links_query()
            .where(links.c.parent_id.in_(parent_ids))
            .order_by(func.lower(links.c.recipient_label), links.c.id)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                link = self._link(row)
                assert link.parent_id is not None
                found[link.parent_id].append(link)
        return found

    def list(
        self, user_id: int | None = None, limit: int = 200, offset: int = 0
    ) -> list[Link]:
        """Newest first; every user's when ``user_id`` is None (admins). A
        share's recipients' links are not listed on their own (they come
        with their share: :meth:`recipients`)."""
        query = (
            self._links_query()
            .where(links.c.parent_id.is_(None))
            .order_by(links.c.created_at.desc(), links.c.id)
        )
        if user_id is not None:
            query = query.where(links.c.created_by == user_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset))
            return [self._link(row) for row in rows]

    def count(self, user_id: int | None = None) -> int:
        query = (
            select(func.count()).select_from(links).where(links.c.parent_id.is_(None))
        )
        if user_id is not None:
            query = query.where(links.c.created_by == user_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def edit(self, link: Link, changes: dict[str, object]) -> Link:
        """Write ``changes`` (column: value) to a link, keeping what its token
        was signed with so its URL stays the same text. Only if the row is
        still as ``link`` says (UnknownLink otherwise): two edits at once
        cannot each undo the other unseen."""
        values = dict(changes)
        if link.token_expires_at is None:
            values["token_expires_at"] = link.expires_at
        if link.token_limited is None:
            values["token_limited"] = link.max_downloads is not None
        with self.engine.begin() as conn:
            done = conn.execute(
                update(links)
                .where(
                    links.c.id == link.id,
                    links.c.expires_at == link.expires_at,
                    _same(links.c.max_downloads, link.max_downloads),
                    _same(links.c.password_hash, link.password_hash),
                    links.c.ranges == link.ranges,
                    links.c.note == link.note,
                )
                .values(**values)
            ).rowcount
        if not done:
            raise EditConflict(
                f"Link {link.id} changed meanwhile; look at it again and retry."
            )
        return self.get(link.id)

    def sent(
        self,
        link: Link,
        sent_to: str,
        message: dict[str, object],
        at: int,
        recipient_page: bool = False,
    ) -> None:
        """Keep the addresses ``link`` was sent to (for reminders) and queue
        the message, in one transaction; ``recipient_page`` turns it on."""
        values: dict[str, object] = {"sent_to": sent_to}
        if recipient_page:
            values["recipient_page"] = True
        with self.engine.begin() as conn:
            conn.execute(update(links).where(links.c.id == link.id).values(**values))
            queue(conn, [message], at)

    def revoke(self, link_id: str, by_user_id: int | None) -> Link:
        """Revoke one link (a share: with every recipient's link under it, in
        the same transaction); AlreadyRevoked if it was, UnknownLink if none."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.revoked_at.is_(None))
                .values(revoked_at=now(), revoked_by=by_user_id)
            ).rowcount
            conn.execute(
                update(links)
                .where(links.c.parent_id == link_id, links.c.revoked_at.is_(None))
                .values(revoked_at=now(), revoked_by=by_user_id)
            )
        link = self.get(link_id)
        if not done:
            raise AlreadyRevoked(f"Link {link_id} was already revoked.")
        return link

    def owned(self, owner_id: int) -> builtins.list[tuple[str, str, bool]]:
        """(id, path, suspended) of every unrevoked link of an owner: what
        a change of their grants is checked against."""
        query = select(links.c.id, links.c.path, links.c.suspended).where(
            links.c.created_by == owner_id, links.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            return [(r.id, r.path, bool(r.suspended)) for r in conn.execute(query)]

    def set_suspended(self, ids: builtins.list[str], suspended: bool) -> None:
        """Suspend (or bring back) links whose owner lost (or regained) their
        path; the download path reads the flag with the rest of the row."""
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(
                    update(links)
                    .where(links.c.id.in_(ids[start : start + 500]))
                    .values(suspended=suspended)
                )

    def revoke_many(
        self,
        by_user_id: int | None,
        owner_id: int | None = None,
        path_prefix: str | None = None,
    ) -> builtins.list[str]:
        """Revoke every unrevoked link of an owner and/or under a path.

        ``path_prefix`` follows grant rules: ``a/b`` means ``a/b`` and
        everything below it, not ``a/bc``; the empty prefix means every path.
        """
        query = select(links.c.id).where(links.c.revoked_at.is_(None))
        if owner_id is not None:
            query = query.where(links.c.created_by == owner_id)
        if path_prefix:
            query = query.where(under(links.c.path, path_prefix))
        with self.engine.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if ids:
                conn.execute(
                    update(links)
                    .where(links.c.id.in_(ids), links.c.revoked_at.is_(None))
                    .values(revoked_at=now(), revoked_by=by_user_id)
                )
        return ids


def _same(column, value):
    return column.is_(None) if value is None else column == value
