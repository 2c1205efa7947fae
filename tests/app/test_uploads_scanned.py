"""Uploads scanned by a real clamd before anyone can accept them."""

from __future__ import annotations

import pytest

from linksvc.links import sharing
from linksvc.links import uploads
from linksvc.services import of

from ..clamd import Clamd
from ..clamd import EICAR
from ..clamd import SIGNATURE
from ..conftest import Auth
from .test_uploads import create
from .test_uploads import patch
from .test_uploads import rel


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    daemon = Clamd(tmp_path_factory.mktemp("clamd"))
    yield daemon
    daemon.stop()


def test_an_infected_file_is_kept_out_and_named(make_app, clamd):
    app = make_app(clamd_socket=clamd.socket)
    svc = of(app)
    with app.app_context():
        link, token = uploads.create_upload_link(
            svc, svc.store.users.by_name("alice"), "reports/q3", sharing.options()
        )
    client = app.test_client()
    sent = {}
    for name, data in (("clean.txt", b"just some text\n"), ("eicar.com", EICAR)):
        made = create(client, token, len(data), name=name)
        done = patch(client, rel(made.headers["Location"]), 0, data)
        assert done.status_code == 204
        sent[name] = rel(made.headers["Location"]).rsplit("/", 1)[-1]
    clean = svc.store.uploads.get(sent["clean.txt"])
    assert clean.status == "waiting" and clean.verdict == "scanned: clean"
    bad = svc.store.uploads.get(sent["eicar.com"])
    assert bad.status == "infected" and SIGNATURE in bad.verdict
    assert not (svc.quarantine.root / f"{bad.id}.part").exists()
    # The owner sees the signature; it cannot be accepted.
    owner = app.test_client()
    Auth(owner).login_as("alice")
    page = owner.get(f"/links/{link.id}").text
    assert "rejected: infected" in page and SIGNATURE in page
    with app.app_context(), pytest.raises(Exception, match="not waiting"):
        uploads.accept(svc, svc.store.users.by_name("alice"), bad.id)
    # The uploader's receipt says "rejected".
    receipt = client.get(f"/u/{token}/receipt?ids={bad.id},{clean.id}").text
    assert "rejected" in receipt and "received" in receipt


def test_without_a_scanner_answer_the_file_waits_marked_unscanned(make_app, tmp_path):
    app = make_app(clamd_socket=str(tmp_path / "no-such.sock"))
    svc = of(app)
    with app.app_context():
        _, token = uploads.create_upload_link(
            svc, svc.store.users.by_name("alice"), "reports/q3", sharing.options()
        )
    client = app.test_client()
    made = create(client, token, 2, name="x.txt")
    patch(client, rel(made.headers["Location"]), 0, b"hi")
    found = svc.store.uploads.get(rel(made.headers["Location"]).rsplit("/", 1)[-1])
    assert found.status == "waiting" and found.verdict.startswith("not scanned")
