"""Upload links through the Flask client: the tus protocol's answers, the
limits, quarantine, accept and reject (a real tus client against a real
gunicorn: tests/live/test_uploads_live.py)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

import pytest

from linksvc.cli import cli
from linksvc.links import sharing
from linksvc.links import uploads
from linksvc.services import of

from ..conftest import audit_rows
from .test_api import check

TUS = {"Tus-Resumable": "1.0.0"}


def rel(location: str) -> str:
    return urlsplit(location).path


def meta(name: str) -> str:
    return "filename " + base64.b64encode(name.encode()).decode()


@pytest.fixture
def request_link(app, svc):
    """make(**limits) -> the upload link's token, into reports/ (alice's)."""

    def make(folder="reports/q3", user="alice", password=None, **wanted):
        with app.app_context():
            link, token = uploads.create_upload_link(
                svc,
                svc.store.users.by_name(user),
                folder,
                sharing.options(**({"password": password} if password else {})),
                uploads.limits(**wanted),
            )
        return link, token

    return make


def create(client, token, length, name="report.pdf", **headers):
    return client.post(
        f"/u/{token}/files",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta(name)}
        | headers,
    )


def patch(client, location, offset, data, **headers):
    return client.patch(
        location,
        data=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        | headers,
    )


def test_options_announce_the_protocol(app, request_link):
    _, token = request_link(max_file_size="10M")
    answer = app.test_client().options(f"/u/{token}/files")
    assert answer.status_code == 204
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Extension"] == "creation,termination,expiration"
    assert answer.headers["Tus-Max-Size"] == str(10 << 20)


def test_an_upload_in_two_pieces_waits_in_quarantine_until_accepted(
    app, svc, request_link, tree
):
    link, token = request_link()
    client = app.test_client()
    data = b"%PDF-1.7\n" + bytes(range(256)) * 40
    made = create(client, token, len(data))
    assert made.status_code == 201, made.text
    location = made.headers["Location"]
    assert "/u/" in location and made.headers["Upload-Expires"].endswith("GMT")
    path = rel(location)
    first = patch(client, path, 0, data[:1000])
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "1000"
    head = client.head(path, headers=TUS)
    assert head.headers["Upload-Offset"] == "1000"
    assert head.headers["Upload-Length"] == str(len(data))
    assert "no-store" in head.headers["Cache-Control"]
    # A wrong offset is refused and writes nothing.
    assert patch(client, path, 10, b"x").status_code == 409
    done = patch(client, path, 1000, data[1000:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
    upload_id = path.rsplit("/", 1)[-1]
    row = svc.store.uploads.get(upload_id)
    assert row.status == "waiting" and row.sha256 == hashlib.sha256(data).hexdigest()
    # In quarantine: not in the tree, not downloadable by anyone.
    assert not (tree / "reports/q3/report.pdf").exists()
    assert (svc.quarantine.root / f"{upload_id}.part").read_bytes() == data
    runner = app.test_cli_runner()
    listed = runner.invoke(cli, ["upload", "list"]).output
    assert upload_id in listed and "waiting" in listed
    result = runner.invoke(cli, ["upload", "accept", upload_id])
    assert result.exit_code == 0, result.output
    assert (tree / "reports/q3/report.pdf").read_bytes() == data
    assert not (svc.quarantine.root / f"{upload_id}.part").exists()
    svc.audit.flush()
    accepted = [
        r for r in audit_rows(svc) if (r.event, r.outcome) == ("upload", "accepted")
    ]
    assert accepted and hashlib.sha256(data).hexdigest() in accepted[0].detail
    # A second report.pdf never overwrites the first.
    made = create(client, token, 3)
    path = rel(made.headers["Location"])
    patch(client, path, 0, b"abc")
    runner.invoke(cli, ["upload", "accept", path.rsplit("/", 1)[-1]])
    assert (tree / "reports/q3/report (2).pdf").read_bytes() == b"abc"
    assert (tree / "reports/q3/report.pdf").read_bytes() == data


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Tus-Resumable": "0.2.2"}, 412),
        ({"Upload-Length": "abc"}, 400),
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Metadata": "filename !!!notbase64"}, 400),
        ({"Upload-Length": str(11 << 20)}, 413),
        ({"Upload-Defer-Length": "1"}, 400),
    ],
)
def test_creation_refuses_what_the_protocol_or_the_link_does_not_take(
    app, request_link, headers, status
):
    _, token = request_link(max_file_size="10M")
    answer = create(app.test_client(), token, 10, **headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    if status == 412:
        assert answer.headers["Tus-Version"] == "1.0.0"


def test_limits_hold_while_bytes_arrive(app, svc, request_link):
    _, token = request_link(max_files="2", max_bytes="100")
    client = app.test_client()
    one = create(client, token, 60)
    assert one.status_code == 201
    # The bytes are reserved at creation: a second 60 would pass 100.
    assert create(client, token, 60).status_code == 413
    assert create(client, token, 40).status_code == 201
    assert create(client, token, 1).status_code == 413  # the file count
    # A body longer than the upload is refused before a byte is read.
    path = rel(one.headers["Location"])
    assert patch(client, path, 0, b"x" * 61).status_code == 413
    assert svc.store.uploads.get(path.rsplit("/", 1)[-1]).received == 0
    assert patch(client, path, 0, b"x" * 60).status_code == 204


def test_a_program_renamed_pdf_is_refused_at_its_first_bytes(app, svc, request_link):
    _, token = request_link(types="pdf,png")
    client = app.test_client()
    assert create(client, token, 10, name="notes.exe").status_code == 415
    made = create(client, token, 100_000, name="invoice.pdf")
    path = rel(made.headers["Location"])
    refused = patch(client, path, 0, b"MZ\x90\x00" + b"\x00" * 9000)
    assert refused.status_code == 415 and "Windows program" in refused.text
    upload_id = path.rsplit("/", 1)[-1]
    assert svc.store.uploads.get(upload_id).status == "rejected"
    assert not (svc.quarantine.root / f"{upload_id}.part").exists()


def test_names_are_cleaned(app, svc, request_link):
    _, token = request_link()
    client = app.test_client()
    for given, kept in [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        (".hidden", "hidden"),
        ("in\u202evoice.txt", "in_voice.txt"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ]:
        made = create(client, token, 1, name=given)
        assert made.status_code == 201, (given, made.text)
        upload_id = made.headers["Location"].rsplit("/", 1)[-1]
        assert svc.store.uploads.get(upload_id).name == kept


def test_an_upload_link_never_lists_or_sends_its_folder(app, request_link):
    _, token = request_link()
    client = app.test_client()
    assert client.get(f"/d/{token}").status_code == 404
    assert client.get(f"/d/{token}/summary.csv").status_code == 404
    assert client.get(f"/d/{token}?zip=1").status_code == 404
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Send files to" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "summary.csv" not in page.text
    # And a download link's token is not an upload link.
    with app.app_context():
        svc = of(app)
        _, download = sharing.create_link(
            svc, svc.store.users.by_name("alice"), "reports/q3/summary.csv"
        )
    assert create(client, download, 1).status_code == 404
    assert client.get(f"/u/{download}").status_code == 404


def test_a_password_protects_the_page_and_the_tus_endpoint(app, request_link):
    _, token = request_link(password="upload-secret-1")
    client = app.test_client()
    assert client.get(f"/u/{token}").status_code == 403
    assert create(client, token, 1).status_code == 403
    from ..conftest import csrf_token

    form = csrf_token(client, f"/u/{token}")
    given = client.post(
        f"/u/{token}", data={"csrf_token": form, "password": "upload-secret-1"}
    )
    assert given.status_code == 303
    assert client.get(f"/u/{token}").status_code == 200
    assert create(client, token, 1).status_code == 201


def test_termination_and_expiry(app, svc, request_link, frozen):
    _, token = request_link()
    client = app.test_client()
    made = create(client, token, 10)
    path = rel(made.headers["Location"])
    assert client.delete(path, headers=TUS).status_code == 204
    assert client.head(path, headers=TUS).status_code == 410
    other = create(client, token, 10)
    other_path = rel(other.headers["Location"])
    patch(client, other_path, 0, b"12345")
    frozen.tick(svc.settings.upload_expiry + 1)
    assert client.head(other_path, headers=TUS).status_code == 410
    assert uploads.sweep(svc) == 1
    upload_id = other_path.rsplit("/", 1)[-1]
    assert svc.store.uploads.get(upload_id).status == "expired"
    assert not (svc.quarantine.root / f"{upload_id}.part").exists()


def test_no_upload_starts_below_the_free_disk_floor(make_app, request_link):
    app = make_app(upload_free_disk="100000T")
    svc = of(app)
    with app.app_context():
        _, token = uploads.create_upload_link(
            svc,
            svc.store.users.by_name("alice"),
            "reports/q3",
            sharing.options(),
        )
    answer = create(app.test_client(), token, 1)
    assert answer.status_code == 507


def test_new_uploads_are_limited_per_address(make_app):
    app = make_app(upload_limit="2 per minute")
    svc = of(app)
    with app.app_context():
        _, token = uploads.create_upload_link(
            svc, svc.store.users.by_name("alice"), "reports/q3", sharing.options()
        )
    client = app.test_client()
    answers = [create(client, token, 1).status_code for _ in range(3)]
    assert answers == [201, 201, 429]


def test_the_cli_makes_an_upload_link(app, svc):
    result = app.test_cli_runner().invoke(
        cli,
        [
            "link",
            "create",
            "--upload",
            "reports/q3",
            "--user",
            "alice",
            "--max-file-size",
            "10M",
            "--max-files",
            "3",
            "--max-bytes",
            "1G",
            "--types",
            "pdf",
        ],
    )
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert "/u/" in url
    link = svc.store.links.list(svc.store.users.by_name("alice").id)[0]
    assert link.upload and link.upload_max_file_size == 10 << 20
    assert (link.upload_max_files, link.upload_max_bytes) == (3, 1 << 30)
    assert link.upload_types == "pdf"
    outside = app.test_cli_runner().invoke(
        cli, ["link", "create", "--upload", "docs", "--user", "alice"]
    )
    assert outside.exit_code != 0


def test_the_hours_one_email_names_files_that_arrived_after_it_was_queued(
    app, svc, request_link
):
    """At most one email a link an hour, and it names every file that came
    before it went out, even when they came in separate audit batches."""
    with app.app_context():
        from linksvc.accounts import people

        people.set_email(svc, "alice", "alice@example.org", "admin")
    _, token = request_link()
    client = app.test_client()
    for name in ("first.txt", "second.txt", "third.txt"):
        made = create(client, token, 2, name=name)
        patch(client, rel(made.headers["Location"]), 0, b"hi")
        svc.audit.flush()  # each arrival its own batch, its own notice
    mails = [m for m in svc.store.outbox.list() if m.event == "upload"]
    assert len(mails) == 1
    for name in ("first.txt", "second.txt", "third.txt"):
        assert name in mails[0].body


def test_the_owner_is_told_and_sees_the_files_on_the_link_page(app, svc, request_link):
    from ..conftest import Auth
    from ..conftest import csrf_token

    with app.app_context():
        from linksvc.accounts import people

        people.set_email(svc, "alice", "alice@example.org", "admin")
    link, token = request_link()
    client = app.test_client()
    for name in ("a.txt", "b.txt"):
        made = create(client, token, 2, name=name)
        patch(client, rel(made.headers["Location"]), 0, b"hi")
    svc.audit.flush()
    mails = [m for m in svc.store.outbox.list() if m.event == "upload"]
    assert len(mails) == 1 and "a.txt" in mails[0].body and "b.txt" in mails[0].body
    owner = app.test_client()
    Auth(owner).login_as("alice")
    page = owner.get(f"/links/{link.id}").text
    assert "Received files" in page and "a.txt" in page and "waiting for you" in page
    token_form = csrf_token(owner, f"/links/{link.id}")
    done = owner.post(
        f"/links/{link.id}/uploads/accept-all", data={"csrf_token": token_form}
    )
    assert done.status_code == 303
    assert {u.status for u in svc.store.uploads.of_link(link.id)} == {"accepted"}
    # Nobody else sees or decides them.
    bob = app.test_client()
    Auth(bob).login_as("admin")
    assert bob.get(f"/links/{link.id}").status_code == 200  # admins may


def test_the_api_lists_accepts_and_rejects(app, svc, request_link):
    with app.app_context():
        alice = svc.store.users.by_name("alice")
        _, secret = svc.store.tokens.create(alice.id, "script")
    api = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    made = client.post(
        "/api/v1/links",
        json={"path": "reports/q3", "upload": True, "max_files": 2, "types": ["txt"]},
        headers=api,
    )
    assert made.status_code == 201, made.text
    check(made, "/links", "post")
    assert "/u/" in made.json["url"] and made.json["upload"] is True
    token = made.json["url"].rsplit("/", 1)[-1]
    link_id = made.json["id"]
    ids = []
    for name in ("keep.txt", "drop.txt"):
        up = create(client, token, 2, name=name)
        patch(client, rel(up.headers["Location"]), 0, b"ok")
        ids.append(rel(up.headers["Location"]).rsplit("/", 1)[-1])
    listed = client.get(f"/api/v1/links/{link_id}/uploads", headers=api).json
    assert {u["name"] for u in listed["items"]} == {"keep.txt", "drop.txt"}
    assert (
        client.post(f"/api/v1/uploads/{ids[0]}/accept", headers=api).json[
            "accepted_path"
        ]
        == "reports/q3/keep.txt"
    )
    assert (
        client.post(f"/api/v1/uploads/{ids[1]}/reject", headers=api).json["status"]
        == "rejected"
    )
    # Another person's token cannot touch them.
    with app.app_context():
        _, other = svc.store.tokens.create(svc.store.users.by_name("admin").id, "x")
    assert (
        client.get(
            "/api/v1/links/nope/uploads", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 404
    )


#: Every /u/ route of the URL map, each opened above for every refusal.
UPLOAD_ROUTES = {
    ("/u/<token>", "GET"),
    ("/u/<token>", "HEAD"),
    ("/u/<token>", "POST"),
    ("/u/<token>/receipt", "GET"),
    ("/u/<token>/receipt", "HEAD"),
    ("/u/<token>/files", "OPTIONS"),
    ("/u/<token>/files", "POST"),
    ("/u/<token>/files/<upload_id>", "HEAD"),
    ("/u/<token>/files/<upload_id>", "PATCH"),
    ("/u/<token>/files/<upload_id>", "DELETE"),
    ("/u/<token>/files/<upload_id>", "OPTIONS"),
}


def test_the_refusal_test_covers_every_u_route(app):
    """A new route under /u/ must be added to the refusal test below."""
    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/u/")
        for method in rule.methods
        # Flask's own OPTIONS answers (Allow) open no link; tus's do.
        if not (method == "OPTIONS" and rule.provide_automatic_options)
    }
    assert routes == UPLOAD_ROUTES


@pytest.mark.parametrize("refusal", ["revoked", "expired", "network", "suspended"])
def test_an_upload_link_is_refused_as_a_download_link_is(
    app, svc, request_link, frozen, refusal
):
    link, token = request_link()
    client = app.test_client()
    made = create(client, token, 4)
    upload = rel(made.headers["Location"])
    if refusal == "revoked":
        with app.app_context():
            sharing.revoke_link(svc, svc.store.users.by_name("alice"), link.id)
        status = 410
    elif refusal == "expired":
        frozen.tick(svc.settings.max_expiry + 10)
        status = 410
    elif refusal == "network":
        from linksvc.links import editing
        from linksvc.links.options import parse

        with app.app_context():
            editing.edit_link(
                svc,
                svc.store.users.by_name("alice"),
                link.id,
                parse({"ranges": "10.9.0.0/16"}, 0, only=("ranges",)),
            )
        status = 403
    else:
        app.test_cli_runner().invoke(cli, ["user", "ungrant", "alice", "reports/q3"])
        status = 403
    upload_id = upload.rsplit("/", 1)[-1]
    from ..conftest import csrf_token

    form = csrf_token(client, "/login")
    answers = [
        client.get(f"/u/{token}").status_code,
        client.get(f"/u/{token}/receipt?ids={upload_id}").status_code,
        client.post(
            f"/u/{token}", data={"csrf_token": form, "password": "x-secret"}
        ).status_code,
        client.options(f"/u/{token}/files").status_code,
        create(client, token, 1).status_code,
        client.head(upload, headers=TUS).status_code,
        patch(client, upload, 0, b"data").status_code,
        client.delete(upload, headers=TUS).status_code,
    ]
    assert answers == [status] * 8
    assert svc.store.uploads.get(upload.rsplit("/", 1)[-1]).received == 0


def test_uploads_at_once_are_bounded_per_link_and_per_worker(make_app):
    app = make_app(uploads_per_link="1", uploads_per_worker="3")
    svc = of(app)
    with app.app_context():
        _, token = uploads.create_upload_link(
            svc, svc.store.users.by_name("alice"), "reports/q3", sharing.options()
        )
    client = app.test_client()
    first = rel(create(client, token, 10).headers["Location"])
    second = rel(create(client, token, 10).headers["Location"])
    # The first is receiving (its PATCH holds the lease): the link is full.
    import time as clock

    now = int(clock.time())
    assert svc.store.uploads.lease(first.rsplit("/", 1)[-1], 0, now + 30, now)
    busy = patch(client, second, 0, b"x")
    assert busy.status_code == 429 and busy.headers["Retry-After"].isdigit()
    svc.store.uploads.progress(first.rsplit("/", 1)[-1], 0, now + 3600, None)
    # This worker's slots taken by others: 429 too.
    others = ("203.0.113.7", "203.0.113.8", "203.0.113.9")
    for addr in others:
        assert svc.upload_slots.take(addr)
    assert patch(client, second, 0, b"x").status_code == 429
    for addr in others:
        svc.upload_slots.give(addr)
    assert patch(client, second, 0, b"x").status_code == 204
