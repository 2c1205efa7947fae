"""The OpenAPI 3.1 description of /api/v1; tests validate real answers against it."""

from __future__ import annotations

from typing import Any

from ..core.errors import LinksvcError

_TIME = {"type": ["string", "null"], "format": "date-time"}
#: Our error codes (from the error table) and the HTTP errors' own, as
#: examples: werkzeug's errors are spelled from their names.
_ERROR_CODES = [*LinksvcError.codes(), "method_not_allowed", "internal"]


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


_LINK_ID = {
    "name": "link_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "examples": _ERROR_CODES},
            "message": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Link": {
        "type": "object",
        "required": [
            "id",
            "path",
            "owner",
            "note",
            "status",
            "created_at",
            "expires_at",
            "not_before",
            "max_downloads",
            "download_count",
            "last_downloaded_at",
            "revoked_at",
        ],
        "properties": {
            "id": {"type": "string", "minLength": 16},
            "path": {"type": "string"},
            "owner": {"type": "string"},
            "note": {"type": "string"},
            "status": {
                "enum": ["active", "expired", "revoked", "used up", "scheduled"]
            },
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "not_before": _TIME,
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "download_count": {"type": "integer", "minimum": 0},
            "last_downloaded_at": _TIME,
            "revoked_at": _TIME,
            "url": {
                "type": ["string", "null"],
                "format": "uri",
                "description": "the download URL while the link is active or "
                "scheduled (GET of one link and creation); null otherwise",
            },
        },
        "additionalProperties": False,
    },
    "CreatedLink": {
        "allOf": [{"$ref": "#/components/schemas/Link"}, {"required": ["url"]}],
        "description": "A new link and its URL.",
    },
    "LinkPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
            "total": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    },
    "NewLink": {
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "description": "relative to protected/"},
            "expires": {
                "type": ["string", "integer"],
                "description": "lifetime: 90s, 15m, 2h, 7d, 2w, or seconds",
            },
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "not_before": {
                "type": ["string", "integer", "null"],
                "description": "start: ISO 8601 (UTC unless an offset), +2h, "
                "or epoch seconds",
            },
            "note": {"type": "string", "maxLength": 500},
            "recipient_page": {
                "type": ["boolean", "null"],
                "description": "show the recipient a page before the download "
                "(default: the recipient_page setting)",
            },
        },
    },
    "Files": {
        "type": "object",
        "required": ["folder", "entries"],
        "properties": {
            "folder": {"type": "string"},
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "path", "type", "size", "modified_at"],
                    "properties": {
                        "name": {"type": "string"},
                        "path": {"type": "string"},
                        "type": {"enum": ["file", "folder"]},
                        "size": {"type": ["integer", "null"]},
                        "modified_at": {"type": "string", "format": "date-time"},
                    },
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
}

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
