""" "Ask for more time": a recipient of an expired or used-up link tells its
owner, who approves with one click, and the link works again under the same
URL; no Flask.

Only a link whose owner allowed it (``more_time``) offers it, and only once
it is expired or used up. A request is a short message and, if the
recipient wants to be told, their address; it is held to
``more_time_limit`` per link and per client address, so an anonymous client
can make us store and send only a few short rows a day. The owner approves
from the dashboard or from the email (a signed, expiring action, confirmed
by a POST): an expired link gets its original lifetime again from now (as
the owner's policy allows), a used-up one one more download.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from ..core.clock import minutes
from ..core.clock import now as clock_now
from ..core.durations import format_duration
from ..core.errors import InvalidInput
from ..core.errors import LinkInvalid
from ..core.errors import TooManyRequests
from ..core.signing import Claims
from ..core.text import EMAIL
from ..db.claims import LinkState
from ..db.time_requests import TimeRequest
from ..db.users import User
from ..notify import delivery
from ..services import Services
from . import editing
from . import sharing
from .options import parse

#: Longest message, in characters.
MAX_MESSAGE = 500
#: How long the approve action in the owner's email works.
ACTION_LIFETIME = 7 * 86400
ACTION_SALT = "linksvc.more-time.v1"


def ask(
    svc: Services,
    environ: dict[str, Any],
    claims: Claims,
    state: LinkState,
    message: str,
    email: str,
) -> TimeRequest:
    """Record a recipient's request and tell the owner (called by
    open_link for Purpose.MORE_TIME, the token and row already read)."""
    now = clock_now()
    expired = now > state.expires_at
    used_up = (
        state.max_downloads is not None and state.download_count >= state.max_downloads
    )
    if not state.more_time or state.revoked_at is not None or state.share:
        raise LinkInvalid("This link does not take requests for more time.")
    if not (expired or used_up):
        raise InvalidInput("This link still works: there is nothing to ask for.")
    message = (message or "").strip()
    email = (email or "").strip()
    if len(message) > MAX_MESSAGE:
        raise InvalidInput(f"The message may have at most {MAX_MESSAGE} characters.")
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise InvalidInput("That is not an email address (leave it empty if none).")
    addr = environ.get("REMOTE_ADDR") or ""
    for key in (f"link:{claims.link_id}", f"addr:{addr}"):
        wait = svc.more_time_asks.hit(key) if svc.more_time_asks else None
        if wait is not None:
            raise TooManyRequests(
                "The owner was asked already; they will decide.", wait
            )
    made = TimeRequest(
        secrets.token_urlsafe(12),
        claims.link_id,
        message,
        email,
        addr[:64],
        now,
        None,
        "",
    )
    svc.store.time_requests.add(made)
    svc.audit.record(
        "more_time",
        "asked",
        link_id=claims.link_id,
        path=claims.path,
        remote_addr=addr,
        detail=f"asked for more time{' (' + email + ')' if email else ''}",
    )
    _tell_owner(svc, claims, state, made)
    return made


def _signer(svc: Services) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(svc.keyring.keys, salt=ACTION_SALT)


def action_token(svc: Services, request_id: str) -> str:
    return _signer(svc).dumps(request_id)


def from_action(svc: Services, token: str) -> TimeRequest:
    """The request a signed approve action names, or LinkInvalid."""
    try:
        request_id = _signer(svc).loads(token, max_age=ACTION_LIFETIME)
    except BadSignature:
        raise LinkInvalid("This approval link is not ours or has expired.") from None
    found = get(svc, str(request_id))
    if found is None:
        raise LinkInvalid("This request is gone.")
    return found


def _tell_owner(
    svc: Services, claims: Claims, state: LinkState, made: TimeRequest
) -> None:
    owner = svc.store.users.get(state.created_by) if state.created_by else None
    if owner is None or not owner.email or not svc.settings.smtp_host:
        return  # the dashboard shows it
    base = svc.settings.public_base_url
    action = f"{base}/more-time/{action_token(svc, made.id)}" if base else ""
    name = claims.path.rsplit("/", 1)[-1] or "protected"
    said = f"\nThey wrote:\n{made.message}\n" if made.message else ""
    svc.store.outbox.add(
        [
            {
                "kind": "email",
                "key": f"more-time:{made.id}",
                "user_id": owner.id,
                "link_id": claims.link_id,
                "event": "more_time",
                "recipient": owner.email,
                "subject": f"A recipient asks for more time for {name}",
                "body": (
                    f"Someone with your link to {name} (link {claims.link_id}) "
                    f"asks for more time.\n{said}\n"
                    + (
                        f"Approve it (the link works again, same URL):\n{action}\n"
                        if action
                        else "Approve it on the link's page in linksvc.\n"
                    )
                ),
            }
        ],
        clock_now(),
    )
    delivery.wake()


def get(svc: Services, request_id: str) -> TimeRequest | None:
    return svc.store.time_requests.get(request_id)


def of_link(svc: Services, link_id: str) -> list[TimeRequest]:
    return svc.store.time_requests.of_link(link_id)


def decide(
    svc: Services, by: User | None, request_id: str, approve: bool, actor: str = ""
) -> TimeRequest:
    """Approve (the link works again, its URL unchanged) or decline, once;
    ``by`` None: the signed action from the owner's email."""
    found = get(svc, request_id)
    if found is None:
        raise LinkInvalid("This request is gone.")
    link = svc.store.links.get(found.link_id)
    owner = svc.store.users.get(link.created_by)
    judge = by or owner
    if judge is None:
        raise LinkInvalid("This link's owner is gone.")
    sharing.visible_link(svc, judge, link.id)
    now = clock_now()
    decision = "approved" if approve else "declined"
    if not svc.store.time_requests.decide(request_id, now, decision):
        raise InvalidInput("This request was decided already.")
    if approve:
        raw: dict[str, object] = {}
        if now > link.expires_at:
            lifetime = min(
                max(60, link.expires_at - link.created_at), svc.settings.max_expiry
            )
            raw["expires"] = format_duration(lifetime)
        if link.max_downloads is not None and link.download_count >= link.max_downloads:
            raw["max_downloads"] = link.max_downloads + 1
        if raw:
            link = editing.edit_link(
                svc, judge, link.id, parse(raw, now), actor=actor or judge.username
            )
        if found.email and svc.settings.smtp_host:
            name = link.path.rsplit("/", 1)[-1] or "protected"
            svc.store.outbox.add(
                [
                    {
                        "kind": "email",
                        "key": f"more-time-done:{found.id}",
                        "user_id": link.created_by,
                        "link_id": link.id,
                        "event": "more_time",
                        "recipient": found.email,
                        "subject": f"Your link to {name} works again",
                        "body": (
                            f"The person who shared {name} gave you more time: "
                            f"the link you have works again until "
                            f"{minutes(link.expires_at)} UTC.\n"
                        ),
                    }
                ],
                now,
            )
            delivery.wake()
    svc.audit.record(
        "more_time",
        "approved" if approve else "declined",
        link_id=link.id,
        path=link.path,
        actor=actor or judge.username,
    )
    return replace(
        found, decided_at=now, decision="approved" if approve else "declined"
    )
