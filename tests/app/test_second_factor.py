"""TOTP second factors for local accounts: enrolment, sign-in, a code that
counts once, recovery codes, limits."""

from __future__ import annotations

import re
import time
from datetime import datetime
from datetime import UTC

import pyotp
import pytest
from freezegun import freeze_time

from linksvc.accounts.second_factor import matching_step
from linksvc.services import of

from ..conftest import audit_rows
from ..conftest import Auth
from ..conftest import csrf_token
from ..conftest import PASSWORDS


def enrol(client) -> tuple[str, list[str]]:
    """Turn the second factor on as alice does, through the pages."""
    token = csrf_token(client, "/account/second-factor")
    setup = client.post(
        "/account/second-factor/setup",
        data={"csrf_token": token, "password": PASSWORDS["alice"]},
    )
    assert setup.status_code == 200 and "<svg" in setup.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', setup.text)[1]
    done = client.post(
        "/account/second-factor/confirm",
        data={"csrf_token": token, "code": pyotp.TOTP(secret).now()},
    )
    assert done.status_code == 201
    codes = re.findall(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


def code_step(client, code: str):
    token = csrf_token(client, "/login/second-factor")
    return client.post("/login/second-factor", data={"csrf_token": token, "code": code})


@pytest.fixture
def enrolled(app):
    """In real time: the limiter's memory storage forgets counts kept under
    a frozen clock (its cleaner thread sees the real one)."""
    client = app.test_client()
    Auth(client).login_as("alice")
    return enrol(client)


def next_code(secret: str) -> str:
    """A code of a later step than the enrolment's (one step ahead is
    accepted for drifting clocks): fresh whenever the test runs."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_a_password_alone_no_longer_signs_in(app, enrolled):
    secret, _ = enrolled
    client = app.test_client()
    first = Auth(client).login("alice")
    assert first.status_code == 302 and "/login/second-factor" in first.location
    assert client.get("/links").status_code == 302  # not signed in yet
    wrong = code_step(client, "000000")
    assert wrong.status_code == 403 and "not right" in wrong.text
    right = code_step(client, next_code(secret))
    assert right.status_code == 302
    assert client.get("/links").status_code == 200
    page = client.get("/account/sessions").text
    assert "password and app code" in page and "password+totp" not in page
    svc = of(app)
    svc.audit.flush()
    # One sign-in, recorded once it is complete (not at the password).
    rows = audit_rows(svc)
    ok = [r.detail for r in rows if r.event == "login" and r.outcome == "ok"]
    assert ok == ["password+totp"]


def test_a_code_counts_once(app, enrolled):
    secret, _ = enrolled
    code = next_code(secret)
    first = app.test_client()
    Auth(first).login("alice")
    assert code_step(first, code).status_code == 302
    second = app.test_client()  # someone who saw it over a shoulder
    Auth(second).login("alice")
    assert code_step(second, code).status_code == 403
    assert second.get("/links").status_code == 302


def test_a_recovery_code_works_once(app, enrolled, svc):
    _, codes = enrolled
    client = app.test_client()
    Auth(client).login("alice")
    assert code_step(client, codes[0].lower()).status_code == 302
    again = app.test_client()
    Auth(again).login("alice")
    assert code_step(again, codes[0]).status_code == 403
    alice = svc.store.users.by_name("alice")
    assert svc.store.users.recovery_codes_left(alice.id) == 9
    svc.audit.flush()
    methods = [
        r.detail for r in audit_rows(svc) if r.event == "login" and r.outcome == "ok"
    ]
    assert "password+recovery" in methods


def test_guessing_codes_is_limited_per_account(app, enrolled):
    client = app.test_client()
    Auth(client).login("alice")
    statuses = [code_step(client, f"{n:06d}").status_code for n in range(7)]
    assert statuses[:5] == [403] * 5 and statuses[5:] == [429, 429]


def test_the_code_must_follow_the_password_within_five_minutes(app, enrolled):
    secret, _ = enrolled
    client = app.test_client()
    with freeze_time(datetime.now(UTC), tick=True) as clock:
        Auth(client).login("alice")
        token = csrf_token(client, "/login/second-factor")
        clock.tick(301)
        late = client.post(
            "/login/second-factor",
            data={"csrf_token": token, "code": next_code(secret)},
        )
    assert late.status_code == 302 and late.location.endswith("/login")
    assert client.get("/links").status_code == 302


def test_the_second_step_needs_the_first(client):
    response = client.get("/login/second-factor")
    assert response.status_code == 302 and response.location.endswith("/login")


def test_turning_it_off_needs_the_password(app, enrolled, svc):
    client = app.test_client()
    Auth(client).login_as("alice")
    token = csrf_token(client, "/account/second-factor")
    wrong = {"csrf_token": token, "password": "not it"}
    client.post("/account/second-factor/remove", data=wrong)
    assert svc.store.users.by_name("alice").totp_secret is not None
    right = {"csrf_token": token, "password": PASSWORDS["alice"]}
    client.post("/account/second-factor/remove", data=right)
    assert svc.store.users.by_name("alice").totp_secret is None
    assert Auth(app.test_client()).login("alice").location.endswith("/")


def test_a_wrong_code_at_enrolment_turns_nothing_on(app, svc):
    client = app.test_client()
    Auth(client).login_as("alice")
    token = csrf_token(client, "/account/second-factor")
    client.post(
        "/account/second-factor/setup",
        data={"csrf_token": token, "password": PASSWORDS["alice"]},
    )
    response = client.post(
        "/account/second-factor/confirm", data={"csrf_token": token, "code": "123456"}
    )
    assert response.status_code == 302
    assert svc.store.users.by_name("alice").totp_secret is None


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-60, False), (-30, True), (0, True), (30, True), (60, False)],
)
def test_codes_of_one_step_either_side_are_accepted(offset, accepted):
    secret = pyotp.random_base32()
    with freeze_time("2026-12-03 12:00:10"):
        now = time.time()
        code = pyotp.TOTP(secret).at(now + offset)
        assert (matching_step(secret, code, now) is not None) is accepted
    assert matching_step(secret, "12345", now) is None
    assert matching_step(secret, "abcdef", now) is None


@pytest.mark.parametrize(
    ("rule", "alice_held", "admin_held"),
    [("none", False, False), ("admins", False, True), ("everyone", True, True)],
)
def test_a_policy_can_require_a_second_factor(make_app, rule, alice_held, admin_held):
    app = make_app(require_second_factor=rule)
    for name, held in (("alice", alice_held), ("admin", admin_held)):
        client = app.test_client()
        assert Auth(client).login(name).status_code == 302
        page = client.get("/links")
        if held:
            assert page.status_code == 302
            assert page.location.endswith("/account/second-factor")
            assert client.get("/account/second-factor").status_code == 200
        else:
            assert page.status_code == 200


def test_once_enrolled_the_policy_lets_them_through(make_app):
    app = make_app(require_second_factor="everyone")
    client = app.test_client()
    Auth(client).login_as("alice")
    assert client.get("/links").status_code == 302
    enrol(client)
    assert client.get("/links").status_code == 200
