"""Logging in and out, ``next``, CSRF, and sessions that end."""

import pytest

from ..conftest import csrf_token


def test_login_page_has_a_csrf_token(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="csrf_token"' in page.data


def test_login_then_dashboard(client, auth):
    response = auth.login("alice")
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == "/"
    assert b"alice" in client.get("/").data


def test_wrong_password_shows_one_generic_message(client, auth):
    response = auth.login("alice", "wrong")
    assert response.status_code == 200
    assert b"Wrong user name or password." in response.data
    unknown = auth.login("nobody", "whatever")
    assert b"Wrong user name or password." in unknown.data
    assert client.get("/").status_code in (302, 303)


def test_login_without_csrf_token_is_rejected(client):
    response = client.post(
        "/login", data={"username": "alice", "password": "alice-password-1"}
    )
    assert response.status_code == 400
    assert b"security token" in response.data
    assert client.get("/").status_code in (302, 303)


def test_logout_needs_csrf(client, auth):
    auth.login("alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/links", "/links"),
        ("/browse/reports?x=1", "/browse/reports?x=1"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
    ],
)
def test_next_is_followed_only_to_this_site(auth, target, expected):
    from urllib.parse import quote

    response = auth.login("alice", next=quote(target, safe=""))
    assert response.headers["Location"] == expected


@pytest.mark.parametrize("path", ["/links", "/protected/readme.txt"])
def test_anonymous_is_sent_to_login_with_next(client, path):
    response = client.get(path)
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == f"/login?next={path}"


def test_logout_ends_the_session_even_for_a_copied_cookie(client, auth, app):
    auth.login("alice")
    cookie = client.get_cookie("linksvc_session")
    assert cookie is not None
    stolen = app.test_client()
    stolen.set_cookie("linksvc_session", cookie.value)
    assert stolen.get("/").status_code == 200
    response = auth.logout()
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code in (302, 303)
    assert stolen.get("/").status_code in (302, 303)


def test_session_cookie_is_httponly_samesite_and_secure_for_https(client, auth):
    response = auth.login("alice")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" in header  # public_base_url is https in the tests


def test_login_renews_the_session(client, auth):
    with client.session_transaction() as planted:
        planted["planted"] = "by someone else before the login"
    auth.login("alice")
    with client.session_transaction() as session:
        assert "planted" not in session and "_user_id" in session


def test_disabled_user_cannot_log_in(client, auth, svc):
    from sqlalchemy import update

    from linksvc.db.schema import users

    with svc.store.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "bob").values(disabled=1))
    assert b"Wrong user name" in auth.login("bob").data


def test_forms_carry_csrf(client, auth):
    auth.login("alice")
    assert csrf_token(client, "/share/reports/q3/summary.csv")


def test_cookie_is_not_secure_when_served_over_plain_http(make_app):
    from werkzeug.test import Client

    from ..conftest import Auth

    app = make_app(public_base_url="http://127.0.0.1:8000")
    response = Auth(Client(app, app.response_class)).login("alice")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header
