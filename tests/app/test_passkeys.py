"""Passkeys through the Flask client: what is refused before any
authenticator is involved, and what the store keeps (the ceremonies
themselves run in Chromium with a virtual authenticator:
tests/browser/test_passkeys.py)."""

from __future__ import annotations

import json

from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import csrf_token


def test_anyone_may_ask_for_sign_in_options_and_it_writes_nothing(app, svc):
    client = app.test_client()
    token = csrf_token(client, "/login")
    svc.audit.flush()
    before = len(audit_rows(svc))
    answer = client.post("/login/passkey/options", data={"csrf_token": token})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    options = answer.json
    assert options["rpId"] == "links.example.org" and len(options["challenge"]) >= 43
    assert options["userVerification"] == "required"
    assert "allowCredentials" not in options or options["allowCredentials"] == []
    again = client.post("/login/passkey/options", data={"csrf_token": token}).json
    assert again["challenge"] != options["challenge"]
    svc.audit.flush()
    assert len(audit_rows(svc)) == before
    # Without the form's token: refused, nothing kept.
    assert app.test_client().post("/login/passkey/options").status_code == 400


def test_an_answer_that_is_not_one_is_a_403_page_and_one_folded_row(app, svc):
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post("/login/passkey/options", data={"csrf_token": token})
    for body in ("not json", json.dumps({"rawId": "AAAA", "id": "AAAA"})):
        answer = client.post(
            "/login/passkey", data={"csrf_token": token, "answer": body}
        )
        assert answer.status_code == 403 and "Sign-in failed" in answer.text
    # No challenge in this session at all.
    answer = client.post("/login/passkey", data={"csrf_token": token, "answer": "{}"})
    assert answer.status_code == 403 and "expired" in answer.text
    svc.audit.flush()
    refused = [r for r in audit_rows(svc) if r.event == "login"]
    assert refused and all(r.outcome == "refused" for r in refused)


def test_making_a_passkey_asks_for_the_password_first(app, svc):
    client = app.test_client()
    Auth(client).login_as("alice")
    token = csrf_token(client, "/account/passkeys")
    wrong = client.post(
        "/account/passkeys/options", data={"csrf_token": token, "password": "nope"}
    )
    assert wrong.status_code == 403 and wrong.json["message"] == (
        "The password is not right."
    )
    from ..conftest import PASSWORDS

    right = client.post(
        "/account/passkeys/options",
        data={"csrf_token": token, "password": PASSWORDS["alice"]},
    )
    assert right.status_code == 200
    options = right.json
    assert options["rp"]["id"] == "links.example.org"
    assert options["user"]["name"] == "alice"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    # An answer that is not the authenticator's: refused, nothing kept.
    done = client.post(
        "/account/passkeys",
        data={"csrf_token": token, "name": "x", "answer": "{}"},
        follow_redirects=True,
    )
    assert "could not be checked" in done.text
    assert svc.store.passkeys.of_user(svc.store.users.by_name("alice").id) == []


def test_a_challenge_is_answered_once(app, svc):
    alice = svc.store.users.by_name("alice")
    key = svc.store.passkeys.add(alice.id, "cred-1", "pk", 0, "Laptop")
    assert svc.store.passkeys.use(key.id, 0, challenge_ms=1_000, at_ms=2_000)
    # The same challenge (or an older one) again: refused, whatever the counter.
    assert not svc.store.passkeys.use(key.id, 0, challenge_ms=1_000, at_ms=3_000)
    assert not svc.store.passkeys.use(key.id, 0, challenge_ms=1_500, at_ms=3_000)
    assert svc.store.passkeys.use(key.id, 0, challenge_ms=2_500, at_ms=3_000)


def test_a_passkey_counts_as_the_required_second_factor(make_app):
    app = make_app(require_second_factor="everyone")
    svc = of(app)
    client = app.test_client()
    Auth(client).login_as("alice")
    assert client.get("/links").headers["Location"].endswith("/account/second-factor")
    assert client.get("/account/passkeys").status_code == 200  # may enrol
    alice = svc.store.users.by_name("alice")
    svc.store.passkeys.add(alice.id, "cred-2", "pk", 0, "Phone")
    assert client.get("/links").status_code == 200


def test_removing_needs_the_password(app, svc):
    from ..conftest import PASSWORDS

    alice = svc.store.users.by_name("alice")
    key = svc.store.passkeys.add(alice.id, "cred-3", "pk", 0, "Phone")
    client = app.test_client()
    Auth(client).login_as("alice")
    page = client.get("/account/passkeys").text
    assert "Phone" in page
    token = csrf_token(client, "/account/passkeys")
    url = f"/account/passkeys/{key.id}/remove"
    client.post(url, data={"csrf_token": token, "password": "wrong"})
    assert len(svc.store.passkeys.of_user(alice.id)) == 1
    client.post(url, data={"csrf_token": token, "password": PASSWORDS["alice"]})
    assert svc.store.passkeys.of_user(alice.id) == []
    # Someone else's passkey id is not hers to remove.
    bob_key = svc.store.passkeys.add(
        svc.store.users.by_name("admin").id, "cred-4", "pk", 0, "Admin's"
    )
    client.post(
        f"/account/passkeys/{bob_key.id}/remove",
        data={"csrf_token": token, "password": PASSWORDS["alice"]},
    )
    assert len(svc.store.passkeys.of_user(svc.store.users.by_name("admin").id)) == 1
    svc.audit.flush()
    assert ("user", "passkey removed") in [
        (r.event, r.outcome) for r in audit_rows(svc)
    ]
