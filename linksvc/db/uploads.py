"""What upload links received, in the database; no Flask.

A row per tus upload: its declared length, the bytes received so far (the
offset a resume continues from), its state, and what the owner decided.
Every change of state is one conditional UPDATE, so two workers (or two
instances) can never both move the same upload: a PATCH takes a lease,
a decision needs the state it saw.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..core.clock import now
from ..core.ids import random_id
from .schema import links
from .schema import uploads

UPLOADING = "uploading"
#: Complete (and scanned clean, when a scanner is set): the owner decides.
WAITING = "waiting"
INFECTED = "infected"
ACCEPTED = "accepted"
REJECTED = "rejected"
TERMINATED = "terminated"
EXPIRED = "expired"
#: States whose bytes are (or will be) kept: they count against the limits.
LIVE = (UPLOADING, WAITING, ACCEPTED)


@dataclass(frozen=True)
class Upload:
    id: str
    link_id: str
    name: str
    length: int
    received: int
    status: str
    sha256: str | None
    verdict: str | None
    remote_addr: str
    user_agent: str
    created_at: int
    updated_at: int
    expires_at: int
    completed_at: int | None
    decided_at: int | None
    decided_by: str | None
    accepted_path: str | None
    lease_until: int | None


def _upload(row: Any) -> Upload:
    return Upload(**{name: row._mapping[name] for name in Upload.__dataclass_fields__})


class Uploads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        link_id: str,
        name: str,
        length: int,
        expires_at: int,
        remote_addr: str,
        user_agent: str,
        max_files: int,
        max_bytes: int,
    ) -> Upload | None:
        """A new upload, unless the link's files or bytes (declared lengths
        of what is live) would pass ``max_files`` or ``max_bytes``: then
        None. Checked and written in one transaction, the link's row locked
        first, so two creations at once cannot both take the last place."""
        upload_id = random_id(16)
        at = now()
        with self.engine.begin() as conn:
            # The link's row as a lock (SQLite: the write lock, taken here).
            conn.execute(update(links).where(links.c.id == link_id).values(upload=True))
            count, total = conn.execute(
                select(
                    func.count(), func.coalesce(func.sum(uploads.c.length), 0)
                ).where(uploads.c.link_id == link_id, uploads.c.status.in_(LIVE))
            ).one()
            if count + 1 > max_files or total + length > max_bytes:
                return None
            conn.execute(
                insert(uploads).values(
                    id=upload_id,
                    link_id=link_id,
                    name=name,
                    length=length,
                    received=0,
                    status=UPLOADING,
                    remote_addr=remote_addr[:64],
                    user_agent=user_agent[:256],
                    created_at=at,
                    updated_at=at,
                    expires_at=expires_at,
                )
            )
        return self.get(upload_id)

    def get(self, upload_id: str) -> Upload | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.id == upload_id)).first()
        return _upload(row) if row else None

    def of_link(self, link_id: str, limit: int = 1000) -> builtins.list[Upload]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(uploads)
                .where(uploads.c.link_id == link_id)
                .order_by(uploads.c.created_at.desc(), uploads.c.id)
                .limit(limit)
            ).all()
        return [_upload(r) for r in rows]

    def list(
        self, owner_id: int | None = None, status: str | None = None, limit: int = 200
    ) -> builtins.list[Upload]:
        """Newest first; an owner's links' uploads, or everyone's (admins)."""
        query = select(uploads).order_by(uploads.c.created_at.desc(), uploads.c.id)
        if owner_id is not None:
            query = query.join(links, links.c.id == uploads.c.link_id).where(
                links.c.created_by == owner_id
            )
        if status is not None:
            query = query.where(uploads.c.status == status)
        with self.engine.connect() as conn:
            return [_upload(r) for r in conn.execute(query.limit(limit))]

    def in_progress(self, link_id: str, since: int) -> int:
        """Uploads of the link that received bytes since ``since``."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).where(
                    uploads.c.link_id == link_id,
                    uploads.c.status == UPLOADING,
                    uploads.c.lease_until.is_not(None),
                    uploads.c.lease_until > since,
                )
            ).scalar_one()

    def lease(self, upload_id: str, received: int, until: int, at: int) -> bool:
        """Take (or renew) the upload for one PATCH from ``received``:
        only while it is uploading, at that offset, and no other PATCH holds
        it. False: refused (the caller answers 409 or 423)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(uploads)
                    .where(
                        uploads.c.id == upload_id,
                        uploads.c.status == UPLOADING,
                        uploads.c.received == received,
                        or_(
                            uploads.c.lease_until.is_(None), uploads.c.lease_until <= at
                        ),
                    )
                    .values(lease_until=until)
                ).rowcount
            )

    def progress(
        self, upload_id: str, received: int, expires_at: int, lease_until: int | None
    ) -> None:
        """Bytes written so far (the next PATCH starts here), and the lease
        kept (``lease_until``) or let go (None)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id)
                .values(
                    received=received,
                    updated_at=now(),
                    expires_at=expires_at,
                    lease_until=lease_until,
                )
            )

    def move(
        self, upload_id: str, before: tuple[str, ...], after: str, **values: Any
    ) -> bool:
        """``before`` -> ``after`` (with ``values``), only from those
        states: False when another request moved it first."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(uploads)
                    .where(uploads.c.id == upload_id, uploads.c.status.in_(before))
                    .values(status=after, updated_at=now(), **values)
                ).rowcount
            )

    def expired(self, at: int, limit: int = 100) -> builtins.list[Upload]:
        """Unfinished uploads past their expiry (to delete)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(uploads)
                .where(uploads.c.status == UPLOADING, uploads.c.expires_at < at)
                .limit(limit)
            ).all()
        return [_upload(r) for r in rows]
