"""Upload links (file requests): made by a person for a folder inside their
grants; opened by anyone who holds one through the one way of opening a
link (links/opening.py, purposes UPLOAD_PAGE and UPLOAD); each file sent
with tus lands in quarantine (files/quarantine.py) until the owner accepts
it into the folder or rejects it. No Flask.

What an anonymous holder of the link can make us keep is bounded here, and
every bound is checked before the bytes that would pass it are written:
the link's file count and total (declared lengths, reserved at creation),
the largest file, the free-disk floor, new uploads per address, uploads
receiving at once per link and per worker, and the expiry of unfinished
ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from ..accounts.access import granted_folder
from ..core.clients import Client
from ..core.clock import now as clock_now
from ..core.errors import InsufficientStorage
from ..core.errors import InvalidInput
from ..core.errors import NotGranted
from ..core.errors import TooManyRequests
from ..core.errors import UnknownLink
from ..core.sizes import BadSize
from ..core.sizes import parse_size
from ..core.sniff import parse_types
from ..core.sniff import refused
from ..core.tus import TusError
from ..db import uploads as states
from ..db.links import Link
from ..db.uploads import Upload
from ..db.users import User
from ..files.quarantine import TooLarge
from ..files.quarantine import upload_name
from ..services import Services
from .options import LinkOptions
from .policy import policy_for
from .sharing import hashed
from .sharing import link_url
from .sharing import target

#: A PATCH holds its upload this long, renewed while bytes flow.
LEASE = 30
#: How often a PATCH writes its progress (seconds) while bytes flow.
PROGRESS_EVERY = 5
#: Bytes of a file's start the type sniff reads.
SNIFF = 8192


@dataclass(frozen=True)
class UploadLimits:
    """What one upload link takes (None: the settings' maxima)."""

    max_file_size: int | None = None
    max_files: int | None = None
    max_bytes: int | None = None
    types: tuple[str, ...] = ()


def limits(
    max_file_size: str | int | None = None,
    max_files: str | int | None = None,
    max_bytes: str | int | None = None,
    types: str = "",
) -> UploadLimits:
    """Limits from what a person typed (the form, the CLI, the API)."""
    try:
        size = None if max_file_size in (None, "") else parse_size(max_file_size)
        total = None if max_bytes in (None, "") else parse_size(max_bytes)
    except BadSize as exc:
        raise InvalidInput(f"A size: {exc}.") from None
    files = None
    if max_files not in (None, ""):
        text = str(max_files)
        if not text.isdigit() or not 0 < int(text) <= 1_000_000:
            raise InvalidInput("The number of files must be a whole number from 1.")
        files = int(text)
    if size == 0 or total == 0:
        raise InvalidInput("A size limit must be more than 0.")
    try:
        kinds = parse_types(types or "")
    except ValueError as exc:
        raise InvalidInput(f"File types: {exc}.") from None
    return UploadLimits(size, files, total, kinds)


@dataclass(frozen=True)
class Bounds:
    """A link's limits with the settings filled in (never above them)."""

    max_file_size: int
    max_files: int
    max_bytes: int
    types: tuple[str, ...]


def bounds(svc: Services, link: Link) -> Bounds:
    s = svc.settings

    def least(asked: int | None, most: int) -> int:
        return most if asked is None else min(asked, most)

    return Bounds(
        least(link.upload_max_file_size, s.upload_max_file_size),
        least(link.upload_max_files, s.upload_max_files),
        least(link.upload_max_bytes, s.upload_max_bytes),
        tuple(link.upload_types.split()),
    )


# -- making one ----------------------------------------------------------------


def create_upload_link(
    svc: Services,
    user: User,
    folder: str,
    asked: LinkOptions,
    wanted: UploadLimits = UploadLimits(),
    *,
    actor: str = "",
    remote_addr: str = "",
    user_agent: str = "",
) -> tuple[Link, str]:
    """An upload link into ``folder`` (inside ``user``'s grants): the
    options that make sense for one (expiry, start, password, networks, a
    note for the uploader; the group policy applies) and its limits.
    Returns the link and its token (opaque: the row says everything)."""
    shared = target(svc, user, folder)
    if not shared.folder:
        raise InvalidInput("An upload link takes files into a folder; name a folder.")
    now = clock_now()
    settings = svc.settings
    start = now if asked.not_before is None else asked.not_before
    if start - now > settings.max_expiry:
        raise InvalidInput("A link may not start later than max_expiry from now.")
    chosen = replace(
        asked,
        max_downloads=None,
        recipient_page=False,
        pin=False,
        notify=True if asked.notify is None else asked.notify,
        opaque=True,
        folder=True,
    )
    chosen = policy_for(svc, user).applied(chosen, start, settings)
    chosen = replace(chosen, max_downloads=None)
    assert chosen.expires is not None
    s = settings
    for name, value, most in (
        ("largest file", wanted.max_file_size, s.upload_max_file_size),
        ("total", wanted.max_bytes, s.upload_max_bytes),
        ("number of files", wanted.max_files, s.upload_max_files),
    ):
        if value is not None and value > most:
            raise InvalidInput(f"The {name} may be at most {most} here.")
    link = svc.store.links.add(
        shared.path,
        user.id,
        chosen.expires.at(start),
        chosen,
        password_hash=hashed(chosen.password),
        created_at=now,
        upload={
            "max_file_size": wanted.max_file_size,
            "max_files": wanted.max_files,
            "max_bytes": wanted.max_bytes,
            "types": " ".join(wanted.types),
        },
    )
    svc.audit.record(
        "created",
        "ok",
        link_id=link.id,
        path=shared.path,
        actor=actor or user.username,
        detail="upload link",
        remote_addr=remote_addr,
        user_agent=user_agent,
    )
    return link, svc.signer.issue_opaque(link.id)


def upload_url(svc: Services, token: str, base_url: str | None = None) -> str:
    """The uploader's page, ``/u/<token>``."""
    return link_url(svc, token, base_url, "u")


# -- what the uploader's requests do (the link already opened) ----------------


def _record(svc: Services, outcome: str, upload: Upload, **extra: Any) -> None:
    svc.audit.record(
        "upload",
        outcome,
        link_id=upload.link_id,
        path=upload.name,
        bytes=upload.received,
        **extra,
    )


def begin(
    svc: Services,
    link: Link,
    length: int,
    meta: dict[str, str],
    who: Client,
) -> Upload:
    """tus creation: a new upload of ``length`` bytes, or why not (413 too
    big, 403 no more files, 415 a type not taken, 507 no room, 429 too many
    new uploads from this address)."""
    b = bounds(svc, link)
    if length > b.max_file_size:
        raise TusError(f"Files here may be at most {b.max_file_size} bytes.", 413)
    name = upload_name(meta.get("filename") or meta.get("name") or "upload")
    why = refused(name, b"", b.types)
    if why:
        raise TusError(f"{name}: {why}.", 415)
    if svc.quarantine.free_bytes() - length < svc.settings.upload_free_disk:
        raise InsufficientStorage("There is no room for this upload now.")
    assert svc.upload_starts is not None
    wait = svc.upload_starts.hit(who.get("remote_addr", ""))
    if wait is not None:
        raise TooManyRequests("Too many new uploads from your address; wait.", wait)
    sweep(svc)
    at = clock_now()
    upload = svc.store.uploads.add(
        link.id,
        name,
        length,
        at + svc.settings.upload_expiry,
        who.get("remote_addr", ""),
        who.get("user_agent", ""),
        b.max_files,
        b.max_bytes,
    )
    if upload is None:
        raise TusError("This link has taken as many files (or bytes) as it may.", 413)
    svc.quarantine.create(upload.id)
    _record(svc, "started", upload, **who)
    if length == 0:
        return _complete(svc, link, upload)
    return upload


def find(svc: Services, link: Link, upload_id: str) -> Upload:
    """An upload of this link (404 for any other id: ids are not probed)."""
    upload = svc.store.uploads.get(upload_id) if len(upload_id) <= 64 else None
    if upload is None or upload.link_id != link.id:
        raise TusError("There is no such upload.", 404)
    if upload.status in (states.TERMINATED, states.EXPIRED) or (
        upload.status == states.UPLOADING and upload.expires_at < clock_now()
    ):
        raise TusError("This upload was cancelled or has expired.", 410)
    return upload


def receive(
    svc: Services,
    link: Link,
    upload: Upload,
    offset: int,
    chunks: Iterator[bytes],
    declared: int | None,
    who: Client,
) -> Upload:
    """tus PATCH: bytes from ``offset``, which must be the upload's (409);
    never past its length (413, checked on ``declared`` before a byte is
    read); one PATCH at a time (423); a file whose start is not of the
    link's types is refused (415) before the rest arrives."""
    if upload.status != states.UPLOADING or offset != upload.received:
        raise TusError(f"The upload is at offset {upload.received}, not {offset}.", 409)
    room = upload.length - offset
    if declared is not None and declared > room:
        raise TusError("That is more than the upload's length.", 413)
    addr = who.get("remote_addr", "")
    if not svc.upload_slots.take(addr):
        raise TooManyRequests("The server is receiving many uploads; retry soon.", 5)
    try:
        busy = svc.store.uploads.in_progress(link.id, clock_now())
        if busy >= svc.settings.uploads_per_link:
            raise TooManyRequests("This link is receiving many uploads; retry soon.", 5)
        at = clock_now()
        if not svc.store.uploads.lease(upload.id, offset, at + LEASE, at):
            raise TusError("Another request is sending this upload.", 423)
        return _write(svc, link, upload, offset, chunks, room)
    finally:
        svc.upload_slots.give(addr)


def _write(
    svc: Services,
    link: Link,
    upload: Upload,
    offset: int,
    chunks: Iterator[bytes],
    room: int,
) -> Upload:
    """Write, recording progress every few seconds (the lease renewed) and
    once at the end, however the request ends (a dropped connection keeps
    what arrived: the next PATCH resumes there)."""
    b = bounds(svc, link)
    if offset < SNIFF and b.types:
        chunks = _sniffed(svc, upload, offset, chunks, b.types)
    reached = [offset]
    last = [time.monotonic()]

    def progress(received: int) -> None:
        reached[0] = received
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            at = clock_now()
            svc.store.uploads.progress(
                upload.id, received, at + svc.settings.upload_expiry, at + LEASE
            )

    too_large = False
    try:
        svc.quarantine.write(upload.id, offset, chunks, room, progress)
    except TooLarge:
        too_large = True
    finally:
        at = clock_now()
        svc.store.uploads.progress(
            upload.id, reached[0], at + svc.settings.upload_expiry, None
        )
    if too_large:
        raise TusError("That is more than the upload's length.", 413)
    now_row = svc.store.uploads.get(upload.id)
    assert now_row is not None
    if now_row.received == now_row.length:
        return _complete(svc, link, now_row)
    return now_row


def _sniffed(
    svc: Services,
    upload: Upload,
    offset: int,
    chunks: Iterator[bytes],
    types: tuple[str, ...],
) -> Iterator[bytes]:
    """The chunks, the file's first bytes checked against ``types`` before
    any is written past them."""
    head = svc.quarantine.head(upload.id, offset) if offset else b""
    held: list[bytes] = []
    for chunk in chunks:
        held.append(chunk)
        if len(head) + sum(map(len, held)) >= SNIFF:
            break
    start = (head + b"".join(held))[:SNIFF]
    why = refused(upload.name, start, types)
    if why:
        svc.store.uploads.move(
            upload.id,
            (states.UPLOADING,),
            states.REJECTED,
            verdict=why[:255],
            lease_until=None,
        )
        svc.quarantine.delete(upload.id)
        _record(svc, "refused", upload, detail=why)
        raise TusError(f"{upload.name}: {why}.", 415)
    yield from held
    yield from chunks


def _complete(svc: Services, link: Link, upload: Upload) -> Upload:
    """Every byte is in: its SHA-256, the scanner's verdict (with
    ``clamd_socket``), then it waits for the owner; the owner is told."""
    digest = svc.quarantine.sha256(upload.id)
    status, verdict = states.WAITING, None
    if svc.settings.clamd_socket:
        clean, said = svc.quarantine.scan(upload.id, svc.settings.clamd_socket)
        if clean is False:
            status, verdict = states.INFECTED, said
        elif clean is None:
            verdict = f"not scanned: {said}"
        else:
            verdict = "scanned: clean"
    moved = svc.store.uploads.move(
        upload.id,
        (states.UPLOADING,),
        status,
        sha256=digest,
        verdict=verdict,
        completed_at=clock_now(),
        lease_until=None,
    )
    done = svc.store.uploads.get(upload.id)
    assert done is not None
    if moved:
        if status == states.INFECTED:
            svc.quarantine.delete(upload.id)
        _record(
            svc,
            "infected" if status == states.INFECTED else "received",
            done,
            detail=f"sha256 {digest}" + (f"; {verdict}" if verdict else ""),
            remote_addr=done.remote_addr,
            user_agent=done.user_agent,
        )
    return done


def terminate(svc: Services, upload: Upload) -> None:
    """tus termination: the uploader cancels (before the owner decided)."""
    if not svc.store.uploads.move(
        upload.id,
        (states.UPLOADING, states.WAITING),
        states.TERMINATED,
        lease_until=None,
    ):
        raise TusError("This upload can no longer be cancelled.", 409)
    svc.quarantine.delete(upload.id)
    _record(svc, "cancelled", upload)


# -- what the owner does -----------------------------------------------------


def visible_upload(svc: Services, user: User, upload_id: str) -> tuple[Upload, Link]:
    """The upload if ``user`` owns its link or is an admin, else UnknownLink
    (other people's upload ids are not probed)."""
    upload = svc.store.uploads.get(upload_id) if len(upload_id) <= 64 else None
    if upload is None:
        raise UnknownLink(f"There is no upload {upload_id!r}.")
    link = svc.store.links.get(upload.link_id)
    if link.created_by != user.id and not user.is_admin:
        raise UnknownLink(f"There is no upload {upload_id!r}.")
    return upload, link


def accept(svc: Services, by: User, upload_id: str, actor: str = "") -> Upload:
    """Move a waiting upload into the link's folder, under its name (or
    ``name (2)`` …: never over a file). The link's owner must still reach
    the folder. The audit keeps its name, size, SHA-256, address and time."""
    upload, link = visible_upload(svc, by, upload_id)
    if upload.status != states.WAITING:
        raise InvalidInput(f"{upload.name} is {upload.status}, not waiting.")
    owner = svc.store.users.get(link.created_by)
    if owner is None:
        raise NotGranted("The link's owner is gone.")
    folder, real = granted_folder(svc, owner, link.path)
    if not svc.store.uploads.move(upload.id, (states.WAITING,), states.ACCEPTED):
        raise InvalidInput(f"{upload.name} was decided meanwhile.")
    try:
        name = svc.tree.receive(svc.quarantine, upload.id, folder, real, upload.name)
    except OSError:
        svc.store.uploads.move(upload.id, (states.ACCEPTED,), states.WAITING)
        raise
    path = f"{folder}/{name}"
    svc.store.uploads.move(
        upload.id,
        (states.ACCEPTED,),
        states.ACCEPTED,
        accepted_path=path,
        decided_at=clock_now(),
        decided_by=(actor or by.username)[:64],
    )
    svc.audit.record(
        "upload",
        "accepted",
        link_id=link.id,
        path=path,
        bytes=upload.length,
        actor=actor or by.username,
        detail=(
            f"{upload.name}; sha256 {upload.sha256}; from {upload.remote_addr} "
            f"at {upload.completed_at}"
        ),
    )
    done = svc.store.uploads.get(upload.id)
    assert done is not None
    return done


def reject(svc: Services, by: User, upload_id: str, actor: str = "") -> Upload:
    """Throw an upload away (waiting, infected or still arriving)."""
    upload, link = visible_upload(svc, by, upload_id)
    if not svc.store.uploads.move(
        upload.id,
        (states.WAITING, states.INFECTED, states.UPLOADING),
        states.REJECTED,
        decided_at=clock_now(),
        decided_by=(actor or by.username)[:64],
        lease_until=None,
    ):
        raise InvalidInput(f"{upload.name} is {upload.status}: nothing to reject.")
    svc.quarantine.delete(upload.id)
    svc.audit.record(
        "upload",
        "rejected",
        link_id=link.id,
        path=upload.name,
        bytes=upload.received,
        actor=actor or by.username,
    )
    done = svc.store.uploads.get(upload.id)
    assert done is not None
    return done


def sweep(svc: Services, limit: int = 100) -> int:
    """Delete unfinished uploads past their expiry (a few at a time, at
    each new upload, and all of them with ``linksvc upload sweep``)."""
    gone = 0
    for upload in svc.store.uploads.expired(clock_now(), limit):
        if svc.store.uploads.move(upload.id, (states.UPLOADING,), states.EXPIRED):
            svc.quarantine.delete(upload.id)
            _record(svc, "expired", upload)
            gone += 1
    return gone
