"""Recipients' requests for more time and the owner's decisions; no Flask."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from .schema import time_requests


@dataclass(frozen=True)
class TimeRequest:
    id: str
    link_id: str
    message: str
    email: str
    remote_addr: str
    created_at: int
    decided_at: int | None
    decision: str


class TimeRequests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, made: TimeRequest) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(time_requests).values(
                    id=made.id,
                    link_id=made.link_id,
                    message=made.message,
                    email=made.email,
                    remote_addr=made.remote_addr,
                    created_at=made.created_at,
                    decision="",
                )
            )

    def get(self, request_id: str) -> TimeRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(time_requests).where(time_requests.c.id == request_id)
            ).first()
        return None if row is None else TimeRequest(**row._mapping)

    def of_link(self, link_id: str, limit: int = 50) -> list[TimeRequest]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(time_requests)
                .where(time_requests.c.link_id == link_id)
                .order_by(time_requests.c.created_at.desc())
                .limit(limit)
            )
            return [TimeRequest(**row._mapping) for row in rows]

    def decide(self, request_id: str, now: int, decision: str) -> bool:
        """Record the decision once; False if it was decided already."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(time_requests)
                    .where(
                        time_requests.c.id == request_id,
                        time_requests.c.decided_at.is_(None),
                    )
                    .values(decided_at=now, decision=decision)
                ).rowcount
            )
