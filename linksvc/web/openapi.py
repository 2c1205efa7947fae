"""The OpenAPI 3.1 description of /api/v1; tests validate real answers against it."""

from __future__ import annotations

from typing import Any

from .schemas import SCHEMAS


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_USER = {
    "name": "username",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}

_LINK_ID = {
    "name": "link_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}


_UPLOAD_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}


def _body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _admin_op(
    op: str, summary: str, out: str | None, body: str | None = None, status="200"
) -> dict[str, Any]:
    """An operation for administrators only."""
    responses = {
        "401": _error("No or bad token"),
        "403": _error("Not an administrator"),
        "404": _error("No such group or user"),
        "422": _error("A value is not acceptable"),
    }
    if out is None:
        responses["204"] = {"description": "Done"}
    else:
        responses[status] = _ok("The group", out)
    if body is not None:
        responses["400"] = _error("The body is not a JSON object")
        responses["409"] = _error("The group exists")
    found = {"operationId": op, "summary": summary, "responses": responses}
    if body is not None:
        found["requestBody"] = _body(body)
    return found


PATHS: dict[str, Any] = {
    "/files": {
        "get": {
            "operationId": "listFiles",
            "summary": "What I may share in a folder",
            "parameters": [
                {"name": "folder", "in": "query", "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _ok("Folders and files", "Files"),
                "401": _error("No or bad token"),
                "403": _error("Your grants do not reach the folder"),
                "404": _error("No such folder"),
                "422": _error("A path that is refused"),
            },
        }
    },
    "/links": {
        "post": {
            "operationId": "createLink",
            "summary": "Create a share link",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/NewLink"}
                    }
                },
            },
            "responses": {
                "201": _ok("Created; the URL is shown only now", "CreatedLink"),
                "400": _error("The body is not a JSON object"),
                "401": _error("No or bad token"),
                "403": _error("Your grants do not cover the path"),
                "404": _error("No file at the path"),
                "422": _error("A value is not acceptable"),
            },
        },
        "get": {
            "operationId": "listLinks",
            "summary": "My links, newest first",
            "parameters": [
                {"name": "page", "in": "query", "schema": {"type": "integer"}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": _ok("A page of links", "LinkPage"),
                "400": _error("Bad page parameters"),
                "401": _error("No or bad token"),
            },
        },
    },
    "/links/{link_id}": {
        "parameters": [_LINK_ID],
        "get": {
            "operationId": "getLink",
            "summary": "One of my links (admins: any)",
            "responses": {
                "200": _ok("The link", "Link"),
                "401": _error("No or bad token"),
                "404": _error("No such link of yours"),
            },
        },
        "patch": {
            "operationId": "editLink",
            "summary": "Change a link's expiry, limit, note, password or ranges",
            "requestBody": _body("LinkChanges"),
            "responses": {
                "200": _ok("The changed link", "CreatedLink"),
                "400": _error("The body is not a JSON object"),
                "401": _error("No or bad token"),
                "404": _error("No such link of yours"),
                "409": _error("Revoked, or changed meanwhile"),
                "422": _error(
                    "A value is not acceptable, or the group policy refuses it"
                ),
            },
        },
        "delete": {
            "operationId": "revokeLink",
            "summary": "Revoke a link: it answers 410 from now on",
            "responses": {
                "200": _ok("The revoked link", "Link"),
                "401": _error("No or bad token"),
                "404": _error("No such link of yours"),
                "409": _error("Already revoked"),
            },
        },
    },
    "/links/{link_id}/send": {
        "parameters": [_LINK_ID],
        "post": {
            "operationId": "sendLink",
            "summary": "Email the link's URL (limited per user per hour)",
            "requestBody": _body("SendLink"),
            "responses": {
                "202": _ok("Queued in the outbox", "Queued"),
                "400": _error("The body is not a JSON object"),
                "401": _error("No or bad token"),
                "404": _error("No such link of yours"),
                "422": _error("Not an address, or a link that no longer works"),
                "429": _error("Too many links sent by email this hour"),
            },
        },
    },
    "/links/{link_id}/uploads": {
        "parameters": [_LINK_ID],
        "get": {
            "operationId": "listUploads",
            "summary": "What an upload link received",
            "responses": {
                "200": _ok("The uploads, newest first", "UploadList"),
                "401": _error("No or bad token"),
                "404": _error("No such link of yours"),
                "422": _error("Not an upload link"),
            },
        },
    },
    "/uploads/{upload_id}/accept": {
        "parameters": [_UPLOAD_ID],
        "post": {
            "operationId": "acceptUpload",
            "summary": "Move a waiting upload into its link's folder",
            "responses": {
                "200": _ok("Accepted; accepted_path says where", "Upload"),
                "401": _error("No or bad token"),
                "404": _error("No such upload of yours"),
                "422": _error("Not waiting (uploading, infected, decided)"),
            },
        },
    },
    "/uploads/{upload_id}/reject": {
        "parameters": [_UPLOAD_ID],
        "post": {
            "operationId": "rejectUpload",
            "summary": "Delete an upload",
            "responses": {
                "200": _ok("Rejected", "Upload"),
                "401": _error("No or bad token"),
                "404": _error("No such upload of yours"),
                "422": _error("Already decided"),
            },
        },
    },
    "/groups": {
        "get": _admin_op("listGroups", "Groups and their link policy", "GroupList"),
        "post": _admin_op(
            "createGroup", "Add a group", "Group", "NewGroup", status="201"
        ),
    },
    "/groups/{name}": {
        "parameters": [_NAME],
        "get": _admin_op("getGroup", "One group", "Group"),
        "patch": _admin_op("changeGroup", "Change its rules", "Group", "GroupChanges"),
        "delete": {
            **_admin_op("removeGroup", "Remove a group", None),
        },
    },
    "/groups/{name}/members/{username}": {
        "parameters": [_NAME, _USER],
        "put": _admin_op("joinGroup", "Add a member", "Group"),
        "delete": _admin_op("leaveGroup", "Remove a member", "Group"),
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linksvc API",
            "version": "1",
            "description": "Create, list and revoke signed download links.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token (dashboard or "
                    "`linksvc token create`).",
                }
            },
        },
    }
