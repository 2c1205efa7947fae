"""Groups and their link policy: the strictest rule applies, everywhere, and
a refusal names the group and the rule."""

import pytest

from linksvc.cli import cli
from linksvc.core.errors import GroupExists
from linksvc.core.errors import InvalidInput
from linksvc.core.errors import PolicyRefused
from linksvc.links import editing
from linksvc.links import policy
from linksvc.links import sharing

from ..conftest import audit_rows
from ..conftest import csrf_token
from .test_api import check


@pytest.fixture
def alice(svc):
    return svc.store.users.by_name("alice")


@pytest.fixture
def groups(svc):
    """alice in two groups whose rules differ."""
    policy.add_group(
        svc, "staff", default_expiry="2d", max_expiry="14d", max_downloads=10
    )
    policy.add_group(
        svc,
        "contractors",
        default_expiry="1d",
        max_expiry="7d",
        password_required=True,
        ranges="10.0.0.0/8, 2001:db8::/32",
    )
    policy.join_group(svc, "staff", "alice")
    policy.join_group(svc, "contractors", "alice")


def create(svc, user, **kw):
    kw.setdefault("password", "long enough")
    kw.setdefault("ranges", "10.1.0.0/16")
    return sharing.create_link(
        svc, user, "reports/q3/summary.csv", sharing.options(**kw)
    )[0]


def test_the_strictest_rules_apply_and_defaults_follow_them(svc, alice, groups, frozen):
    link = create(svc, alice)
    # The shortest default (contractors' 1d), the smallest maximum of
    # downloads (staff's 10) as the limit when none is asked.
    assert link.expires_at - link.created_at == 86400
    assert link.max_downloads == 10
    with pytest.raises(
        PolicyRefused, match="'contractors' allows links of at most 1w, not 8d"
    ):
        create(svc, alice, expires="8d")
    with pytest.raises(PolicyRefused, match="'staff' allows at most 10 downloads"):
        create(svc, alice, max_downloads=11)
    with pytest.raises(PolicyRefused, match="'contractors' requires a password"):
        create(svc, alice, password=None)
    with pytest.raises(PolicyRefused, match="requires address ranges"):
        create(svc, alice, ranges="")
    with pytest.raises(PolicyRefused, match="192.0.2.0/24 is not"):
        create(svc, alice, ranges="10.0.0.0/9 192.0.2.0/24")
    assert create(svc, alice, ranges="2001:db8:5::/48", max_downloads=3)


def test_users_outside_groups_have_no_rules(svc, groups):
    admin = svc.store.users.by_name("admin")
    link, _ = sharing.create_link(
        svc, admin, "readme.txt", sharing.options(expires="20d")
    )
    assert link.max_downloads is None and not link.has_password


def test_edits_are_held_to_the_owners_policy(svc, alice, groups, frozen):
    link = create(svc, alice)
    with pytest.raises(
        PolicyRefused, match="'contractors' allows links of at most 1w, not 8d"
    ):
        editing.edit_link(svc, alice, link.id, sharing.options(expires="8d"))
    with pytest.raises(PolicyRefused, match="'staff' requires a download limit"):
        editing.edit_link(svc, alice, link.id, sharing.options(max_downloads=None))
    with pytest.raises(PolicyRefused, match="requires a password"):
        editing.edit_link(svc, alice, link.id, sharing.options(password=None))
    # An admin editing alice's link is held to alice's policy, too.
    admin = svc.store.users.by_name("admin")
    with pytest.raises(PolicyRefused):
        editing.edit_link(svc, admin, link.id, sharing.options(ranges="192.0.2.0/24"))
    assert (
        editing.edit_link(
            svc, alice, link.id, sharing.options(expires="7d")
        ).max_downloads
        == 10
    )


def test_group_rules_are_checked_and_recorded(svc):
    with pytest.raises(InvalidInput, match="default expiry must not exceed"):
        policy.add_group(svc, "odd", default_expiry="7d", max_expiry="1d")
    with pytest.raises(InvalidInput, match="group name"):
        policy.add_group(svc, "no spaces")
    policy.add_group(svc, "ops", max_expiry="1d", actor="admin")
    with pytest.raises(GroupExists):
        policy.add_group(svc, "ops")
    with pytest.raises(InvalidInput, match="not an address range"):
        policy.change_group(svc, "ops", ranges="nope")
    group = policy.change_group(svc, "ops", max_expiry=None, max_downloads=3)
    assert (group.max_expiry, group.max_downloads) == (None, 3)
    policy.remove_group(svc, "ops", actor="admin")
    svc.audit.flush()
    rows = [
        (r.outcome, r.subject, r.actor) for r in audit_rows(svc) if r.event == "group"
    ]
    assert rows[0] == ("added", "ops", "admin") and rows[-1][0] == "removed"
    assert "at most 3 downloads" in [r.detail for r in audit_rows(svc)][-2]


def test_cli_manages_groups(runner, svc):
    svc.store.users.grant("bob", "readme.txt")
    ok = runner.invoke(cli, ["group", "add", "ext", "--max-expiry", "3d"])
    assert ok.exit_code == 0 and "ext: expiry at most 3d (no members)" in ok.output
    joined = runner.invoke(cli, ["group", "join", "ext", "bob"])
    assert "(bob)" in joined.output
    runner.invoke(cli, ["group", "set", "ext", "--password-required"])
    listed = runner.invoke(cli, ["group", "list"]).output
    assert "a password is required" in listed
    refused = runner.invoke(
        cli, ["link", "create", "readme.txt", "--user", "bob", "--expires", "5d"]
    )
    assert refused.exit_code == 1 and "Group 'ext' allows links of at most 3d" in (
        refused.output
    )
    made = runner.invoke(
        cli,
        ["link", "create", "readme.txt", "--user", "bob", "--password-stdin"],
        input="bob's link secret\n",
    )
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, ["group", "leave", "ext", "bob"]).exit_code == 0
    assert runner.invoke(cli, ["group", "remove", "ext"]).exit_code == 0
    assert runner.invoke(cli, ["group", "join", "ext", "bob"]).exit_code == 1


def test_the_api_manages_groups_for_admins_only(client, runner, svc):
    def bearer(user):
        out = runner.invoke(cli, ["token", "create", "t", "--user", user]).output
        return {"Authorization": f"Bearer {out.splitlines()[-1]}"}

    admin, alice = bearer("admin"), bearer("alice")
    body = {"name": "vendors", "max_downloads": 2, "ranges": ["10.0.0.0/8"]}
    made = client.post("/api/v1/groups", json=body, headers=admin)
    assert check(made, "/groups", "post")["ranges"] == ["10.0.0.0/8"]
    assert client.post("/api/v1/groups", json=body, headers=admin).status_code == 409
    denied = client.get("/api/v1/groups", headers=alice)
    assert denied.status_code == 403 and denied.json["error"] == "forbidden"
    joined = client.put("/api/v1/groups/vendors/members/alice", headers=admin)
    assert check(joined, "/groups/{name}/members/{username}", "put")["members"] == [
        "alice"
    ]
    changed = client.patch(
        "/api/v1/groups/vendors", json={"max_expiry": "2d"}, headers=admin
    )
    assert check(changed, "/groups/{name}", "patch")["max_expiry"] == 172800
    listed = check(client.get("/api/v1/groups", headers=admin), "/groups", "get")
    assert [g["name"] for g in listed["items"]] == ["vendors"]
    # alice's links now follow it, and the API says which rule refused.
    refused = client.post(
        "/api/v1/links",
        json={"path": "reports/q3/summary.csv", "ranges": ["192.0.2.0/24"]},
        headers=alice,
    )
    assert refused.status_code == 422 and refused.json["error"] == "policy"
    assert (
        "'vendors' allows address ranges inside 10.0.0.0/8" in (refused.json["message"])
    )
    made = client.post(
        "/api/v1/links",
        json={"path": "reports/q3/summary.csv", "ranges": "10.2.0.0/16"},
        headers=alice,
    )
    assert check(made, "/links", "post")["max_downloads"] == 2
    patched = client.patch(
        f"/api/v1/links/{made.json['id']}",
        json={"max_downloads": 1, "note": "once", "password": "sixsix"},
        headers=alice,
    )
    link = check(patched, "/links/{link_id}", "patch")
    assert (link["max_downloads"], link["password"], link["url"]) == (
        1,
        True,
        made.json["url"],
    )
    bad = client.patch(
        f"/api/v1/links/{made.json['id']}", json={"path": "x"}, headers=alice
    )
    assert bad.status_code == 422 and "path cannot be changed" in bad.json["message"]
    gone = client.delete("/api/v1/groups/vendors", headers=admin)
    assert gone.status_code == 204


def test_the_admin_page_manages_groups_and_the_share_form_shows_the_policy(
    client, auth, svc
):
    svc.store.users.grant("bob", "readme.txt")
    auth.login_as("admin")
    form = {
        "csrf_token": csrf_token(client, "/admin/groups/"),
        "name": "interns",
        "max_expiry": "2d",
        "max_downloads": "",
        "ranges": "",
    }
    made = client.post("/admin/groups/", data=form)
    assert made.status_code == 302
    token = csrf_token(client, "/admin/groups/interns")
    joined = client.post(
        "/admin/groups/interns/members", data={"csrf_token": token, "username": "bob"}
    )
    assert joined.status_code == 302
    page = client.get("/admin/groups/").text
    assert "interns" in page and "expiry at most 2d" in page and "bob" in page
    auth.logout()
    auth.login_as("bob")
    share = client.get("/share/readme.txt").text
    assert "Your group policy: expiry at most 2d" in share
    data = {
        "csrf_token": csrf_token(client, "/share/readme.txt"),
        "expires": "7d",
    }
    refused = client.post("/share/readme.txt", data=data)
    assert refused.status_code == 400
    assert "Group &#39;interns&#39; allows links of at most 2d" in refused.text
