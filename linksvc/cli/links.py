"""``linksvc link …`` and ``linksvc audit …``: share links and their record."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ..core.clock import iso
from ..core.clock import now
from ..core.durations import parse_duration
from ..core.text import printable
from ..db import audit
from ..links import editing
from ..links import sharing
from ..links import uploads
from ..links.options import EDITABLE
from ..links.options import parse
from .base import plural
from .base import services
from .base import SubGroup


@click.group("link", cls=SubGroup)
def link_group() -> None:
    """Create and list share links."""


@link_group.command("create")
@click.argument("path", required=False)
@click.option("--user", "username", required=True, help="Owner; their grants apply.")
@click.option(
    "--upload",
    "upload_folder",
    metavar="FOLDER",
    default=None,
    help="An upload link (a file request) into FOLDER instead of a link to PATH.",
)
@click.option("--max-file-size", default=None, help="Upload links: largest file (10M).")
@click.option("--max-files", default=None, help="Upload links: most files.")
@click.option("--max-bytes", default=None, help="Upload links: most bytes in all (1G).")
@click.option(
    "--types", default="", help="Upload links: only these extensions ('pdf,jpg')."
)
@click.option("--expires", default=None, help="Lifetime, e.g. 90m, 1d, 2w.")
@click.option("--max-downloads", type=int, default=None, help="1 makes it one-time.")
@click.option(
    "--not-before", default=None, help="Start: ISO 8601 (UTC) or a delay like +2h."
)
@click.option("--note", default="", help="Who the link is for.")
@click.option(
    "--recipient-page/--no-recipient-page",
    "--page/--no-page",  # the old spelling, read until the next release
    "recipient_page",
    default=None,
    help="Show the recipient a page before the download (default: setting).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password for the link from the first line of standard input.",
)
@click.option("--ranges", default=None, help="Only from these CIDR ranges.")
@click.option(
    "--notify/--no-notify",
    default=None,
    help="Email the owner on the first download (default: setting).",
)
@click.option(
    "--pin/--no-pin",
    default=None,
    help="410 once the file changes (default: the pin setting).",
)
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    metavar="LABEL_OR_EMAIL",
    help="A recipient with a link of their own (repeat for each); prints "
    "'LABEL URL' per recipient.",
)
@click.option(
    "--verify/--no-verify",
    default=None,
    help="Recipients with an address give a one-time code sent there first.",
)
@click.option(
    "--more-time/--no-more-time",
    default=None,
    help="The expired page lets the recipient ask the owner for more time.",
)
@with_appcontext
def link_create(
    path: str | None,
    username: str,
    upload_folder: str | None,
    max_file_size: str | None,
    max_files: str | None,
    max_bytes: str | None,
    types: str,
    expires: str | None,
    max_downloads: int | None,
    not_before: str | None,
    note: str,
    recipient_page: bool | None,
    password_stdin: bool,
    ranges: str | None,
    notify: bool | None,
    pin: bool | None,
    recipients: tuple[str, ...],
    verify: bool | None,
    more_time: bool | None,
) -> None:
    """Create a link to PATH (a file or a folder), or with --upload an upload
    link into a folder; the URL is the last line. With --recipient, a share
    with a link per recipient: one line each, the URL last."""
    svc = services()
    user = svc.store.users.by_name(username)
    if (path is None) == (upload_folder is None):
        raise click.UsageError("Give PATH, or --upload FOLDER (not both).")
    given = {
        "expires": expires,
        "max_downloads": max_downloads,
        "not_before": not_before,
        "note": note,
        "recipient_page": recipient_page,
        "password": _stdin_password() if password_stdin else None,
        "ranges": ranges,
        "pin": pin,
        "notify": notify,
        "recipients": list(recipients) or None,
        "verify": verify,
        "more_time": more_time,
    }
    asked = sharing.options(**{k: v for k, v in given.items() if v is not None})
    if upload_folder is not None:
        link, token = uploads.create_upload_link(
            svc,
            user,
            upload_folder,
            asked,
            uploads.limits(max_file_size, max_files, max_bytes, types),
            actor=f"cli:{username}",
        )
        try:
            url = uploads.upload_url(svc, token)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            printable(
                f"upload link {link.id} into {link.path}, "
                f"expires {iso(link.expires_at)}"
            )
        )
        click.echo(url)
        return
    assert path is not None
    if asked.recipients:
        share, made = sharing.create_share(
            svc, user, path, asked, actor=f"cli:{username}"
        )
        try:
            lines = [(r.recipient_label, sharing.link_url(svc, t)) for r, t in made]
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            printable(
                f"share {share.id} of {share.path} for {len(made)} recipients, "
                f"expires {iso(share.expires_at)}"
            )
        )
        for label, url in lines:
            click.echo(f"{printable(label)} {url}")
        return
    link, token = sharing.create_link(
        svc,
        user,
        path,
        asked,
        actor=f"cli:{username}",
    )
    try:
        url = sharing.link_url(svc, token)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        printable(f"link {link.id} to {link.path}, expires {iso(link.expires_at)}")
    )
    click.echo(url)


def _stdin_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError("--password-stdin: standard input had no password.")
    return line


@link_group.command("edit")
@click.argument("link_id")
@click.option("--expires", default=None, help="New expiry: 3d from now, or a time.")
@click.option("--max-downloads", type=int, default=None, help="A new limit.")
@click.option("--no-limit", is_flag=True, help="Remove the download limit.")
@click.option("--note", default=None, help="A new note.")
@click.option("--password-stdin", is_flag=True, help="A new password, from stdin.")
@click.option("--remove-password", is_flag=True, help="Remove the password.")
@click.option("--ranges", default=None, help="New CIDR ranges ('' for anywhere).")
@with_appcontext
def link_edit(
    link_id: str,
    expires: str | None,
    max_downloads: int | None,
    no_limit: bool,
    note: str | None,
    password_stdin: bool,
    remove_password: bool,
    ranges: str | None,
) -> None:
    """Change a live link; its URL stays the same. As the operator: the
    owner's group policy applies."""
    if max_downloads is not None and no_limit:
        raise click.UsageError("Give --max-downloads or --no-limit, not both.")
    if password_stdin and remove_password:
        raise click.UsageError("Give --password-stdin or --remove-password, not both.")
    svc = services()
    link = svc.store.links.get(link_id)
    changes: dict = {}
    if expires is not None:
        changes["expires"] = expires
    if max_downloads is not None or no_limit:
        changes["max_downloads"] = max_downloads
    if note is not None:
        changes["note"] = note
    if password_stdin or remove_password:
        changes["password"] = _stdin_password() if password_stdin else None
    if ranges is not None:
        changes["ranges"] = ranges
    if not changes:
        raise click.UsageError("Nothing to change: see --help.")
    owner = svc.store.users.get(link.created_by)
    if owner is None:
        raise click.ClickException(f"The owner of link {link.id} is gone.")
    edited = editing.edit_link(
        svc, owner, link_id, parse(changes, now(), only=EDITABLE), actor="cli"
    )
    downloads = "no limit" if edited.max_downloads is None else edited.max_downloads
    click.echo(
        printable(
            f"link {edited.id} to {edited.path}: expires {iso(edited.expires_at)}, "
            f"downloads {edited.download_count}/{downloads}"
        )
    )


@link_group.command("list")
@with_appcontext
def link_list() -> None:
    """One line per link: id, path, owner, expiry, status, downloads."""
    at = now()
    store = services().store
    offset = 0
    while True:
        page = store.links.list(limit=LIST_PAGE, offset=offset)
        for link in page:
            downloads = str(link.download_count)
            if link.max_downloads is not None:
                downloads += f"/{link.max_downloads}"
            fields = [
                link.id,
                link.path,
                link.owner,
                iso(link.expires_at) or "",
                link.status(at),
                downloads,
            ]
            click.echo("\t".join(printable(field) for field in fields))
        if len(page) < LIST_PAGE:
            break
        offset += LIST_PAGE


#: Links fetched at a time by ``link list``.
LIST_PAGE = 1000


@link_group.command("revoke")
@click.argument("link_id", required=False)
@click.option("--user", "username", default=None, help="Every live link of a user.")
@click.option(
    "--path", "prefix", default=None, help="Every live link to a path or folder."
)
@with_appcontext
def link_revoke(link_id: str | None, username: str | None, prefix: str | None) -> None:
    """Revoke a link by id, or every link of --user and/or under --path."""
    svc = services()
    if link_id and (username or prefix) or not (link_id or username or prefix):
        raise click.UsageError("Give a link id, or --user and/or --path.")
    if link_id:
        link = sharing.revoke_link(svc, None, link_id, actor="cli")
        click.echo(printable(f"revoked {link.id} ({link.path})"))
        return
    owner = svc.store.users.by_name(username) if username else None
    ids = sharing.revoke_many(svc, None, owner=owner, path_prefix=prefix, actor="cli")
    for revoked in ids:
        click.echo(f"revoked {revoked}")
    click.echo(f"{plural(len(ids), 'link')} revoked")


@click.group("audit", cls=SubGroup)
def audit_group() -> None:
    """The audit log."""


@audit_group.command("export")
@click.option("--since", default="7d", show_default=True, help="How far back.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--user", "username", default=None)
@click.option("--path", "prefix", default=None)
@click.option("--outcome", default=None)
@with_appcontext
def audit_export(
    since: str, fmt: str, username: str | None, prefix: str | None, outcome: str | None
) -> None:
    """Write audit records, newest first, to standard output."""
    svc = services()
    svc.audit.flush()
    records = svc.store.records.stream(
        since=now() - parse_duration(since),
        user=username,
        path=prefix,
        outcome=outcome,
    )
    for chunk in (audit.to_csv if fmt == "csv" else audit.to_jsonl)(records):
        click.echo(chunk, nl=False)


@audit_group.command("prune")
@click.option(
    "--older-than",
    default=None,
    help="Default: the audit_retention setting (90d unless set).",
)
@with_appcontext
def audit_prune(older_than: str | None) -> None:
    """Delete audit records (and stored client addresses) past the retention."""
    svc = services()
    svc.audit.flush()
    keep = parse_duration(older_than) if older_than else svc.settings.audit_retention
    deleted = svc.store.records.prune(now() - keep)
    click.echo(f"deleted {plural(deleted, 'audit record')}")


@click.group("upload", cls=SubGroup)
def upload_group() -> None:
    """What upload links received: list, accept into the folder, reject."""


@upload_group.command("list")
@click.option("--link", "link_id", default=None, help="Only this link's uploads.")
@click.option("--status", default=None, help="waiting, accepted, rejected …")
@with_appcontext
def upload_list(link_id: str | None, status: str | None) -> None:
    """One line per upload: id, state, size, SHA-256, link, name."""
    svc = services()
    found = (
        svc.store.uploads.of_link(link_id)
        if link_id
        else svc.store.uploads.list(status=status, limit=10_000)
    )
    for u in found:
        if status and u.status != status:
            continue
        click.echo(
            printable(
                f"{u.id}  {u.status:10} {u.received}/{u.length}  "
                f"{u.sha256 or '-':64}  {u.link_id}  {u.name}"
                + (f"  ({u.verdict})" if u.verdict else "")
            )
        )


@upload_group.command("accept")
@click.argument("upload_id")
@with_appcontext
def upload_accept(upload_id: str) -> None:
    """Move a waiting upload into its link's folder (never over a file)."""
    svc = services()
    done = uploads.accept(svc, _operator(svc, upload_id), upload_id, actor="cli")
    click.echo(printable(f"accepted {done.id} as {done.accepted_path}"))


@upload_group.command("reject")
@click.argument("upload_id")
@with_appcontext
def upload_reject(upload_id: str) -> None:
    """Throw an upload away."""
    svc = services()
    done = uploads.reject(svc, _operator(svc, upload_id), upload_id, actor="cli")
    click.echo(f"rejected {done.id}")


@upload_group.command("sweep")
@with_appcontext
def upload_sweep() -> None:
    """Delete unfinished uploads past upload_expiry (the server also does a
    few at each new upload)."""
    total = 0
    while gone := uploads.sweep(services(), limit=1000):
        total += gone
    click.echo(f"deleted {total} expired upload{'s' if total != 1 else ''}")


def _operator(svc, upload_id: str):
    """The server's operator acts as the link's owner (any link)."""
    found = svc.store.uploads.get(upload_id)
    if found is None:
        raise click.ClickException(f"There is no upload {upload_id!r}.")
    owner = svc.store.users.get(svc.store.links.get(found.link_id).created_by)
    assert owner is not None
    return owner


GROUPS = [link_group, audit_group, upload_group]
