"""Every way into a link × every refusal: the same answer everywhere.

The entry points are read from the app's URL map, so a new ``/d/`` route
that this table does not cover fails :func:`test_the_table_covers_every_d_route`.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from sqlalchemy import update

from linksvc.db.schema import links
from linksvc.links import sharing
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import csrf_token

CHAT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
#: (name, rule, method, kind of link, how to ask). ``how`` says what the
#: request carries: a member name, a query, a form, a preview's agent.
ENTRIES = [
    ("file", "/d/<token>", "GET", "file", {}),
    ("head", "/d/<token>", "HEAD", "file", {}),
    ("preview", "/d/<token>", "GET", "file", {"agent": CHAT}),
    ("page", "/d/<token>", "GET", "page", {}),
    ("download", "/d/<token>", "POST", "page", {"form": {}}),
    ("unlock", "/d/<token>", "POST", "file", {"form": {"password": "guess-1"}}),
    ("folder", "/d/<token>", "GET", "folder", {}),
    ("zip", "/d/<token>", "GET", "folder", {"query": "zip=1"}),
    ("zip head", "/d/<token>", "HEAD", "folder", {"query": "zip=1"}),
    ("zip form", "/d/<token>", "POST", "folder", {"form": {"action": "zip"}}),
    ("member", "/d/<token>/<path:member>", "GET", "folder", {"member": "summary.csv"}),
    ("no member", "/d/<token>/<path:member>", "GET", "folder", {"member": "nope"}),
    ("member head", "/d/<token>/<path:member>", "HEAD", "folder", {"member": "x"}),
    (
        "member form",
        "/d/<token>/<path:member>",
        "POST",
        "folder",
        {"member": "summary.csv", "form": {}},
    ),
]


def expire(conn, link_id):
    conn.execute(update(links).where(links.c.id == link_id).values(expires_at=1))


#: refusal -> (what is done to the row or the tree, status, audit outcome).
REFUSALS = {
    "expired": ({"expires_at": int(time.time()) - 60}, 410, "link_expired"),
    "revoked": ({"revoked_at": 1}, 410, "link_revoked"),
    "used up": ({"max_downloads": 1, "download_count": 1}, 410, "link_used_up"),
    "not yet valid": (
        {"not_before": int(time.time()) + 3600},
        403,
        "link_not_yet_valid",
    ),
    "password": ({"password_hash": "set"}, 403, "password_required"),
    "address": ({"ranges": "203.0.113.0/24"}, 403, "address_refused"),
    "pinned": ({"pin": "0-0-0"}, 410, "file_changed"),
    "gone": ("remove", 404, "not_found"),
    "refusal limit": ({"revoked_at": 1}, 429, "rate_limited"),
}
#: The secrets of each kind of link: none may appear in a refusal.
NAMES = [b"summary.csv", b"readme.txt", b"quarter,revenue", b"hello from"]


def test_the_table_covers_every_d_route(app):
    """A new route under /d/ must be added to ENTRIES (and so to every
    refusal): none can open a link its own way."""
    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/d/")
        for method in rule.methods - {"OPTIONS"}
    }
    assert routes == {(rule, method) for _, rule, method, _, _ in ENTRIES}


def _cases():
    for refusal in REFUSALS:
        for name, _, method, kind, how in ENTRIES:
            if refusal == "pinned" and kind == "folder":
                continue  # folder links cannot be pinned
            yield pytest.param(refusal, name, method, kind, how, id=f"{refusal}-{name}")


@pytest.fixture(scope="module")
def shared(tmp_path_factory, template_db):
    """One app for the whole table (each case has its own link, and its own
    client address, so refusal counts never meet)."""
    import itertools
    import shutil

    from linksvc.app import create_app

    from ..conftest import KEYS
    from ..conftest import make_tree

    root = tmp_path_factory.mktemp("opening")
    tree = make_tree(root)
    instance = root / "instance"
    instance.mkdir(mode=0o700)
    shutil.copy(template_db, instance / "linksvc.sqlite3")
    app = create_app(
        {
            "protected_dir": str(tree),
            "instance_dir": str(instance),
            "public_base_url": "https://links.example.org",
            "secret_keys": list(KEYS),
            "refusal_limit": "1 per hour",
        }
    )
    app.config["TESTING"] = True
    addresses = (f"10.9.{i // 250}.{i % 250 + 1}" for i in itertools.count())
    yield app, tree, addresses
    of(app).close()


@pytest.mark.parametrize(("refusal", "entry", "method", "kind", "how"), list(_cases()))
def test_every_entry_refuses_alike_and_leaks_nothing(
    shared, refusal, entry, method, kind, how
):
    app, tree, addresses = shared
    svc = of(app)
    path = {"file": "readme.txt", "page": "readme.txt", "folder": "reports/q3"}[kind]
    with app.app_context():
        owner = svc.store.users.by_name("admin")
        link, token = sharing.create_link(
            svc,
            owner,
            path,
            sharing.options(expires="1h", recipient_page=kind == "page"),
        )
    change, status, outcome = REFUSALS[refusal]
    if change == "remove":
        os.rename(tree / path, tree.parent / "moved-away")
    else:
        if change.get("password_hash"):
            change = {"password_hash": sharing.hashed("the-password-1")}
        with svc.store.engine.begin() as conn:
            conn.execute(update(links).where(links.c.id == link.id).values(**change))
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = next(addresses)
    try:
        form = None
        if "form" in how:
            # The form token comes from a page of the app (the login page).
            form = {"csrf_token": csrf_token(client, "/login"), **how["form"]}
        url = f"/d/{token}" + (f"/{how['member']}" if "member" in how else "")
        if "query" in how:
            url += "?" + how["query"]
        headers = {"User-Agent": how.get("agent", "Mozilla/5.0 (X11; Linux) Firefox")}
        if refusal == "refusal limit":
            client.get(f"/d/{token}", headers=headers)  # the one refusal allowed
        answer = client.open(url, method=method, data=form, headers=headers)
    finally:
        if change == "remove":
            os.rename(tree.parent / "moved-away", tree / path)
    if refusal == "password" and entry == "unlock":
        status, outcome = 403, "wrong_password"
    assert answer.status_code == status, answer.text[:300]
    for secret in NAMES:
        assert secret not in answer.data
    assert "Content-Disposition" not in answer.headers
    if method != "HEAD":
        assert answer.mimetype == "text/html"
        if refusal == "password" and method == "GET" and "agent" not in how:
            assert "Password required" in answer.text
    mine = [r for r in audit_rows(svc) if r.link_id == link.id]
    row = [r for r in mine if r.outcome == outcome]
    assert row and row[-1].status == status
    assert sum(r.bytes for r in mine) == 0


def test_a_refused_zip_walks_nothing(make_link, client, folder_tree, monkeypatch):
    """The row says no before the folder is walked (or statted)."""
    from linksvc.files.tree import ProtectedTree

    walked = []
    real = ProtectedTree.files_under
    monkeypatch.setattr(
        ProtectedTree,
        "files_under",
        lambda self, *a, **k: walked.append(a) or real(self, *a, **k),
    )
    token = make_link("reports/q3", user="alice")
    assert client.get(f"/d/{token}?zip=1").status_code == 200
    assert len(walked) == 1
    sharing_revoke(client, token)
    for method in ("GET", "HEAD"):
        assert client.open(f"/d/{token}?zip=1", method=method).status_code == 410
    assert client.get(f"/d/{token}/summary.csv").status_code == 410
    assert client.get(f"/d/{token}").status_code == 410
    assert len(walked) == 1


@pytest.fixture
def folder_tree(tree):
    return tree / "reports" / "q3"


def sharing_revoke(client, token):
    svc = of(client.application)
    link_id = svc.signer.verify(token).link_id
    with svc.store.engine.begin() as conn:
        conn.execute(update(links).where(links.c.id == link_id).values(revoked_at=1))


def test_a_folder_link_answers_one_refusal_for_every_member_name(
    make_link, client, folder_tree
):
    token = make_link("reports/q3", user="alice")
    sharing_revoke(client, token)
    answers = {
        name: client.get(f"/d/{token}/{name}")
        for name in ("summary.csv", "nope.txt", "a/b/c", ".hidden")
    }
    assert {a.status_code for a in answers.values()} == {410}
    pages = {re.sub(r"<code>\w+</code>", "", a.text) for a in answers.values()}
    assert len(pages) == 1


def test_a_one_time_link_to_a_vanished_file_keeps_its_download(
    make_link, client, tree, svc
):
    """A plain one-time link is counted in one statement before its file is
    opened; a file that cannot be opened gives the count back."""
    from ..conftest import link_row

    token = make_link("readme.txt", max_downloads=1)
    os.rename(tree / "readme.txt", tree.parent / "away.txt")
    assert client.get(f"/d/{token}").status_code == 404
    assert link_row(svc).download_count == 0
    os.rename(tree.parent / "away.txt", tree / "readme.txt")
    assert client.get(f"/d/{token}").status_code == 200
    assert link_row(svc).download_count == 1
    assert client.get(f"/d/{token}").status_code == 410
