"""Blueprint: the SCIM 2.0 service provider under /scim/v2 (RFC 7644), for
the identity provider to create, change and end accounts and groups.

Authenticated by a SCIM bearer token an admin made (``linksvc scim token
create``), never a session, so no CSRF token. Requests and answers are
scim2-models objects; every error is a SCIM Error body. What the calls do
is accounts/provisioning.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import g
from flask import request
from flask import url_for
from pydantic import ValidationError
from scim2_models import AuthenticationScheme
from scim2_models import Bulk
from scim2_models import ChangePassword
from scim2_models import Context
from scim2_models import Error
from scim2_models import ETag
from scim2_models import Filter
from scim2_models import Group as ScimGroup
from scim2_models import ListResponse
from scim2_models import Meta
from scim2_models import NotFoundException
from scim2_models import Patch
from scim2_models import PatchOp
from scim2_models import ResourceType
from scim2_models import SCIMException
from scim2_models import ServiceProviderConfig
from scim2_models import Sort
from scim2_models import User as ScimUser
from werkzeug.wrappers import Response

from ..accounts import provisioning
from ..core.errors import LinksvcError
from .ext import services

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
log = logging.getLogger("linksvc.scim")

MEDIA_TYPE = "application/scim+json"
RESOURCES: dict[str, Any] = {"User": ScimUser, "Group": ScimGroup}


def scim_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    """An RFC 7644 §3.12 error body."""
    error = Error(status=status, detail=detail[:500], scim_type=scim_type or None)
    return _answer(error.model_dump(), status)


def _answer(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.update(headers)
    return response


@bp.errorhandler(SCIMException)
def _scim_exception(exc: SCIMException) -> Response:
    return _answer(exc.to_error().model_dump(), exc.status)


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {"msg": str(exc), "loc": ()}
    where = ".".join(str(p) for p in first.get("loc", ()))
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return scim_error(400, detail, "invalidValue")


@bp.errorhandler(LinksvcError)
def _ours(exc: LinksvcError) -> Response:
    response = scim_error(exc.api_status or exc.status, str(exc))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.before_request
def _authenticate() -> Response | None:
    svc = services()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = None
    if scheme.lower() == "bearer" and presented.strip():
        token = svc.store.provisioning.check_token(presented.strip())
    if token is None:
        log.warning("failed SCIM authentication from %s", request.remote_addr)
        wait = svc.api_auth.hit(request.remote_addr or "")
        if wait is not None:
            response = scim_error(429, "Too many failed authentications; wait.")
            response.headers["Retry-After"] = str(wait)
            return response
        response = scim_error(401, "Send a SCIM token: Authorization: Bearer <token>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="linksvc SCIM"'
        return response
    assert svc.scim_calls is not None
    wait = svc.scim_calls.hit(token.id)
    if wait is not None:
        response = scim_error(429, "Too many SCIM requests with this token; wait.")
        response.headers["Retry-After"] = str(wait)
        return response
    g.scim_actor = token.label
    return None


def _body() -> dict[str, Any]:
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:
        data = None
    if not isinstance(data, dict):
        raise provisioning.InvalidValueException(
            detail="The body must be a JSON object (application/scim+json)."
        )
    return data


def _count_arg(name: str, default: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or len(raw) > 9:
        raise provisioning.InvalidValueException(
            detail=f"{name} must be a whole number."
        )
    return int(raw)


@dataclass(frozen=True)
class Kind:
    """One resource type's model and what the calls do to it
    (accounts/provisioning.py), so Users and Groups share their views."""

    name: str
    model: Any
    find: Callable[..., Any]
    listed: Callable[..., tuple[int, list[Any]]]
    create: Callable[..., Any]
    replace: Callable[..., Any]
    patch: Callable[..., Any]
    delete: Callable[..., None]

    def resource(self, found: Any, location: str) -> Any:
        svc = services()
        if self.name == "User":
            groups = svc.store.groups.of_user(found.id)
            return provisioning.user_resource(found, location, groups)
        return provisioning.group_resource(svc, found, location)


KINDS = {
    "Users": Kind(
        "User",
        ScimUser,
        provisioning.find_user,
        provisioning.list_users,
        provisioning.create_user,
        provisioning.replace_user,
        provisioning.patch_user,
        provisioning.delete_user,
    ),
    "Groups": Kind(
        "Group",
        ScimGroup,
        provisioning.find_group,
        provisioning.list_groups,
        provisioning.create_group,
        provisioning.replace_group,
        provisioning.patch_group,
        provisioning.delete_group,
    ),
}


def _kind(plural: str) -> Kind:
    kind = KINDS.get(plural)
    if kind is None:
        raise NotFoundException(detail=f"There is no resource type {plural[:40]!r}.")
    return kind


def _json(kind: Kind, found: Any, status: int = 200) -> Response:
    location = url_for(
        "scim.resource", plural=f"{kind.name}s", scim_id=str(found.id), _external=True
    )
    context = (
        Context.RESOURCE_CREATION_RESPONSE
        if status == 201
        else Context.RESOURCE_QUERY_RESPONSE
    )
    headers = {"Location": location} if status == 201 else {}
    body = kind.resource(found, location).model_dump(scim_ctx=context)
    return _answer(body, status, **headers)


@bp.route("/<any(Users, Groups):plural>", methods=["GET", "POST"])
def collection(plural: str) -> Response:
    """GET: a page of resources (``filter``, ``startIndex``, ``count``);
    POST: a new one."""
    kind, svc = _kind(plural), services()
    if request.method == "POST":
        given = kind.model.model_validate(
            _body(), scim_ctx=Context.RESOURCE_CREATION_REQUEST
        )
        return _json(kind, kind.create(svc, given, g.scim_actor), 201)
    start = _count_arg("startIndex", 1)
    total, found = kind.listed(
        svc,
        request.args.get("filter"),
        start,
        _count_arg("count", provisioning.MAX_RESULTS),
    )
    resources = [json.loads(_json(kind, item).get_data()) for item in found]
    body = ListResponse[kind.model](  # type: ignore[name-defined]
        total_results=total, start_index=max(start, 1), items_per_page=len(resources)
    ).model_dump()
    body["Resources"] = resources
    return _answer(body)


@bp.route(
    "/<any(Users, Groups):plural>/<scim_id>",
    methods=["GET", "PUT", "PATCH", "DELETE"],
)
def resource(plural: str, scim_id: str) -> Response:
    kind, svc = _kind(plural), services()
    found = kind.find(svc, scim_id)
    if request.method == "GET":
        return _json(kind, found)
    if request.method == "DELETE":
        kind.delete(svc, found, g.scim_actor)
        return Response(status=204)
    if request.method == "PUT":
        given = kind.model.model_validate(
            _body(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
        )
        return _json(kind, kind.replace(svc, found, given, g.scim_actor))
    patch = PatchOp[kind.model].model_validate(  # type: ignore[name-defined]
        _body(), scim_ctx=Context.RESOURCE_PATCH_REQUEST
    )
    return _json(kind, kind.patch(svc, found, patch, g.scim_actor))


# -- discovery (RFC 7644 §4) ----------------------------------------------------


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=provisioning.MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A token made with `linksvc scim token create LABEL`.",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig"),
    )
    return _answer(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _resource_type(name: str) -> dict[str, Any]:
    found = ResourceType.from_resource(RESOURCES[name])
    found.meta = Meta(resource_type="ResourceType")
    return found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def _schema(name: str) -> dict[str, Any]:
    found = RESOURCES[name].to_schema()
    body = found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    body.setdefault("meta", {"resourceType": "Schema"})
    return body


def _listed(bodies: list[dict[str, Any]]) -> Response:
    return _answer(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(bodies),
            "startIndex": 1,
            "itemsPerPage": len(bodies),
            "Resources": bodies,
        }
    )


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return _listed([_resource_type(name) for name in RESOURCES])


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    if name not in RESOURCES:
        raise NotFoundException(detail=f"There is no resource type {name!r}.")
    return _answer(_resource_type(name))


@bp.get("/Schemas")
def schemas() -> Response:
    return _listed([_schema(name) for name in RESOURCES])


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    for name, model in RESOURCES.items():
        if model.__schema__ == schema_id:
            return _answer(_schema(name))
    raise NotFoundException(detail=f"There is no schema {schema_id[:100]!r}.")
