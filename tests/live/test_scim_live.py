"""SCIM 2.0 provisioning driven by a SCIM client library we did not write
(scim2-client, over httpx2) through a real ``linksvc serve`` (gunicorn, two
workers): what the identity provider does to people and groups, and what a
person then can and cannot do here."""

from __future__ import annotations

import pytest
import requests

from ..conftest import launch

pytestmark = pytest.mark.slow

scim2_client = pytest.importorskip("scim2_client")
httpx2 = pytest.importorskip("httpx2")

from scim2_client.engines.httpx2 import SyncSCIMClient  # noqa: E402
from scim2_models import Email  # noqa: E402
from scim2_models import Error  # noqa: E402
from scim2_models import Group  # noqa: E402
from scim2_models import GroupMember  # noqa: E402
from scim2_models import ListResponse  # noqa: E402
from scim2_models import PatchOp  # noqa: E402
from scim2_models import PatchOperation  # noqa: E402
from scim2_models import ResourceType  # noqa: E402
from scim2_models import Schema  # noqa: E402
from scim2_models import SearchRequest  # noqa: E402
from scim2_models import ServiceProviderConfig  # noqa: E402
from scim2_models import User  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ..conftest import make_tree

    tmp = tmp_path_factory.mktemp("scim")
    live = launch(tmp, make_tree(tmp / "tree"))
    made = live.cli("scim", "token", "create", "entra")
    assert made.returncode == 0, made.stderr
    live.token = made.stdout.strip().splitlines()[-1]
    made = live.cli("group", "add", "staff")
    assert made.returncode == 0, made.stderr
    live.cli("group", "grant", "staff", "reports")
    yield live
    live.stop()


@pytest.fixture
def scim(server):
    http = httpx2.Client(
        base_url=f"{server.url}/scim/v2",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=10,
    )
    client = SyncSCIMClient(http)
    client.discover()
    yield client
    http.close()


def _api_token(server, username: str) -> str:
    made = server.cli("token", "create", "script", "--user", username)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def _api(server, token: str) -> int:
    return requests.get(
        f"{server.url}/api/v1/links",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).status_code


def test_discovery_describes_what_is_served(scim):
    config = scim.query(ServiceProviderConfig)
    assert config.patch.supported and config.filter.supported
    assert config.filter.max_results == 200
    assert not config.bulk.supported and not config.etag.supported
    types = scim.query(ResourceType)
    assert {t.name for t in types.resources} == {"User", "Group"}
    schemas = scim.query(Schema)
    assert {s.id for s in schemas.resources} == {User.__schema__, Group.__schema__}


def test_create_update_deactivate_and_reactivate_a_person(scim, server):
    made = scim.create(
        User(
            user_name="dana",
            external_id="idp-dana",
            emails=[Email(value="dana@example.org", primary=True)],
        )
    )
    assert made.id and made.active is True and made.user_name == "dana"
    assert made.meta.location.endswith(f"/scim/v2/Users/{made.id}")
    found = scim.query(
        User, query_parameters=SearchRequest(filter='userName eq "DANA"')
    )
    assert found.total_results == 1 and found.resources[0].id == made.id

    made.emails = [{"value": "dana@corp.example", "primary": True}]
    replaced = scim.replace(made)
    assert replaced.emails[0].value == "dana@corp.example"

    token = _api_token(server, "dana")
    assert _api(server, token) == 200
    patch = PatchOp[User](
        operations=[
            PatchOperation[User](
                op=PatchOperation.Op.replace_, path="active", value=False
            )
        ]
    )
    off = scim.modify(User, made.id, patch)
    assert off.active is False
    # The next call on either worker is refused: the token ended with the account.
    assert {_api(server, token) for _ in range(4)} == {401}
    listed = server.cli("user", "list").stdout
    assert "dana" in listed and "disabled" in listed

    back = scim.modify(
        User,
        made.id,
        PatchOp[User](
            operations=[
                PatchOperation[User](
                    op=PatchOperation.Op.replace_, path="active", value=True
                )
            ]
        ),
    )
    assert back.active is True
    assert _api(server, token) == 401  # reactivating gives no old token back

    scim.delete(User, made.id)
    gone = scim.query(User, made.id, raise_scim_errors=False)
    assert isinstance(gone, Error) and gone.status == 404


def test_groups_with_members_decide_what_people_reach(scim, server):
    erin = scim.create(User(user_name="erin"))
    staff = scim.create(
        Group(display_name="staff", members=[GroupMember(value=erin.id)])
    )
    assert [m.value for m in staff.members] == [erin.id]
    token = _api_token(server, "erin")
    share = requests.post(
        f"{server.url}/api/v1/links",
        headers={"Authorization": f"Bearer {token}"},
        json={"path": "reports/q3/summary.csv", "expires": "1h"},
        timeout=10,
    )
    assert share.status_code == 201, share.text  # the group grants reports
    url = share.json()["url"]
    assert requests.get(url, timeout=10).status_code == 200

    fred = scim.create(User(user_name="fred"))
    patch = PatchOp[Group](
        operations=[
            PatchOperation[Group](
                op=PatchOperation.Op.add, path="members", value=[{"value": fred.id}]
            ),
            PatchOperation[Group](
                op=PatchOperation.Op.remove, path=f'members[value eq "{erin.id}"]'
            ),
        ]
    )
    changed = scim.modify(Group, staff.id, patch)
    assert [m.value for m in changed.members] == [fred.id]
    # Erin no longer reaches reports: her link stops working (kept, suspended).
    assert requests.get(url, timeout=10).status_code == 403
    person = scim.query(User, fred.id)
    assert [g.display for g in person.groups] == ["staff"]
    listed = scim.query(
        Group, query_parameters=SearchRequest(filter='displayName eq "staff"')
    )
    assert isinstance(listed, ListResponse) and listed.total_results == 1


def test_bad_requests_get_scim_error_bodies(scim, server):
    headers = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.url}/scim/v2"
    cases = [
        ("post", "/Users", {"schemas": [User.__schema__]}, 400),
        ("post", "/Users", {"schemas": [User.__schema__], "userName": "../x"}, 400),
        ("get", "/Users?filter=userName%20co%20%22a%22", None, 400),
        ("get", "/Users/999999", None, 404),
        ("get", "/Users/not-a-number", None, 404),
        ("post", "/Users", "not json", 400),
    ]
    for method, path, body, status in cases:
        sent = (
            {"data": body} if isinstance(body, str) else {"json": body} if body else {}
        )
        answer = requests.request(
            method, base + path, headers=headers, timeout=10, **sent
        )
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["Content-Type"].startswith("application/scim+json")
        error = answer.json()
        assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert error["status"] == str(status) and error["detail"]

    scim.create(User(user_name="gail"))
    twice = scim.create(User(user_name="gail"), raise_scim_errors=False)
    assert isinstance(twice, Error) and twice.status == 409
    assert twice.scim_type == "uniqueness"
    # The local admin is not the provider's: never listed, never taken over.
    admin = scim.create(User(user_name="admin"), raise_scim_errors=False)
    assert isinstance(admin, Error) and admin.status == 409
    found = scim.query(
        User, query_parameters=SearchRequest(filter='userName eq "admin"')
    )
    assert found.total_results == 0

    nobody = requests.get(f"{base}/Users", timeout=10)
    assert nobody.status_code == 401 and nobody.json()["status"] == "401"
    wrong = requests.get(
        f"{base}/Users", headers={"Authorization": "Bearer lsvscim_x_y"}, timeout=10
    )
    assert wrong.status_code == 401
