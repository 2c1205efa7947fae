"""The schemas of the OpenAPI description (openapi.py has the paths)."""

from __future__ import annotations

from typing import Any

from ..core.errors import LinksvcError

_TIME = {"type": ["string", "null"], "format": "date-time"}
#: Our error codes (from the error table) and the HTTP errors' own, as
#: examples: werkzeug's errors are spelled from their names.
_ERROR_CODES = [*LinksvcError.codes(), "method_not_allowed", "internal"]

_RANGES = {
    "type": "array",
    "items": {"type": "string"},
    "description": "CIDR ranges the link may be used from (empty: anywhere)",
}
_RANGES_IN = {
    "type": ["array", "string", "null"],
    "items": {"type": "string"},
    "description": "CIDR ranges, as a list or text (10.0.0.0/8, 2001:db8::/32)",
}
_PASSWORD = {
    "type": ["string", "null"],
    "minLength": 6,
    "maxLength": 128,
    "description": "the recipient must give it; null removes it",
}
_SECONDS = {"type": ["integer", "null"], "minimum": 1}
_DURATION = {"type": ["string", "integer", "null"], "description": "7d, 12h, …"}
_GROUP_RULES = {
    "default_expiry": _DURATION,
    "max_expiry": _DURATION,
    "max_downloads": {"type": ["integer", "null"], "minimum": 1},
    "password_required": {"type": "boolean"},
    "ranges": _RANGES_IN,
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
            "recipient_page",
            "password",
            "ranges",
            "pin",
            "pinned",
            "opaque",
            "folder",
            "notify",
            "revision",
            "upload",
            "recipients",
            "share",
        ],
        "properties": {
            "recipients": {
                "type": "array",
                "description": "a share's recipients, each with a link of their "
                "own (empty for other links)",
                "items": {"$ref": "#/components/schemas/Recipient"},
            },
            "share": {
                "type": "boolean",
                "description": "a share for recipients: it has no URL itself",
            },
            "verify": {
                "type": "boolean",
                "description": "recipients give a one-time code sent to them",
            },
            "more_time": {
                "type": "boolean",
                "description": "the expired page offers to ask for more time",
            },
            "id": {"type": "string", "minLength": 16},
            "path": {"type": "string"},
            "owner": {"type": "string"},
            "note": {"type": "string"},
            "status": {
                "enum": [
                    "active",
                    "expired",
                    "revoked",
                    "suspended",
                    "used up",
                    "scheduled",
                ]
            },
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "not_before": _TIME,
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "download_count": {"type": "integer", "minimum": 0},
            "last_downloaded_at": _TIME,
            "revoked_at": _TIME,
            "recipient_page": {"type": "boolean"},
            "password": {"type": "boolean", "description": "has a password"},
            "ranges": _RANGES,
            "pin": {"type": "boolean", "description": "pinned to a version"},
            "sha256": {
                "type": ["string", "null"],
                "pattern": "^[0-9a-f]{64}$",
                "description": "the file's SHA-256 as it is now (GET of one "
                "link); null while it is computed, and for folders",
            },
            "pinned": {
                "type": "boolean",
                "deprecated": True,
                "description": "the old name of pin, sent until the next release",
            },
            "opaque": {"type": "boolean", "description": "the URL names no path"},
            "folder": {"type": "boolean", "description": "a folder link"},
            "notify": {"type": "boolean", "description": "owner told of 1st download"},
            "upload": {
                "type": "boolean",
                "description": "an upload link (its url is the sender's page)",
            },
            "revision": {
                "type": "string",
                "description": "the link as read; give it to PATCH so that an "
                "edit of a link changed since is refused (409)",
            },
            "url": {
                "type": ["string", "null"],
                "format": "uri",
                "description": "the download URL while the link is active or "
                "scheduled (GET of one link and creation); null otherwise",
            },
        },
        "additionalProperties": False,
    },
    "Recipient": {
        "type": "object",
        "required": [
            "id",
            "label",
            "email",
            "url",
            "download_count",
            "max_downloads",
            "revoked",
        ],
        "properties": {
            "id": {"type": "string", "description": "the recipient's link's id"},
            "label": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "url": {
                "type": ["string", "null"],
                "description": "their own URL while it works",
            },
            "download_count": {"type": "integer", "minimum": 0},
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "revoked": {"type": "boolean"},
            "verify": {"type": "boolean"},
            "last_download": {
                "type": ["object", "null"],
                "description": "the newest download or resume (GET of one link)",
                "properties": {
                    "at": {"type": "integer"},
                    "remote_addr": {"type": "string"},
                    "bytes": {"type": "integer"},
                    "complete": {"type": ["boolean", "null"]},
                },
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
                "description": "lifetime: 90s, 15m, 2h, 7d, 2w, or seconds; "
                "or the moment it ends (ISO 8601)",
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
            "password": _PASSWORD,
            "ranges": _RANGES_IN,
            "notify": {
                "type": ["boolean", "null"],
                "description": "email me on the first download "
                "(default: the notify setting)",
            },
            "pin": {
                "type": ["boolean", "null"],
                "description": "410 once the file changes (default: the pin setting)",
            },
            "pinned": {
                "type": ["boolean", "null"],
                "deprecated": True,
                "description": "the old name of pin, read until the next release",
            },
            "upload": {
                "type": "boolean",
                "description": "make an upload link into the folder at path",
            },
            "recipients": {
                "type": ["array", "string", "null"],
                "items": {"type": "string", "maxLength": 254},
                "maxItems": 50,
                "description": "make a share: one link per recipient (an email "
                "address, or a label), each with its own URL, count and limit",
            },
            "verify": {
                "type": ["boolean", "null"],
                "description": "recipients with an address give a one-time "
                "code sent there before the download",
            },
            "more_time": {
                "type": ["boolean", "null"],
                "description": "the expired or used-up page lets the recipient "
                "ask for more time",
            },
            "max_file_size": {
                "type": ["string", "integer", "null"],
                "description": "upload links: largest file (10M, 1G, or bytes)",
            },
            "max_files": {"type": ["integer", "null"], "minimum": 1},
            "max_bytes": {
                "type": ["string", "integer", "null"],
                "description": "upload links: most bytes in all",
            },
            "types": {
                "type": ["array", "null"],
                "items": {"type": "string", "maxLength": 16},
                "description": "upload links: the extensions taken (any if empty)",
            },
        },
        "additionalProperties": False,
    },
    "Upload": {
        "type": "object",
        "required": ["id", "link_id", "name", "length", "received", "status"],
        "properties": {
            "id": {"type": "string"},
            "link_id": {"type": "string"},
            "name": {"type": "string", "description": "the sender's, cleaned"},
            "length": {"type": "integer", "minimum": 0},
            "received": {"type": "integer", "minimum": 0},
            "status": {
                "enum": [
                    "uploading",
                    "waiting",
                    "infected",
                    "accepted",
                    "rejected",
                    "terminated",
                    "expired",
                ]
            },
            "sha256": {"type": ["string", "null"]},
            "verdict": {"type": ["string", "null"]},
            "remote_addr": {"type": "string"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
            "decided_by": {"type": ["string", "null"]},
            "accepted_path": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    },
    "UploadList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Upload"}}
        },
        "additionalProperties": False,
    },
    "SendLink": {
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {"type": "string", "format": "email"},
            "message": {"type": "string", "maxLength": 1000},
        },
        "additionalProperties": False,
    },
    "Queued": {
        "type": "object",
        "required": ["queued", "to"],
        "properties": {
            "queued": {"const": True},
            "to": {"type": "string", "description": "empty: each recipient"},
            "count": {"type": "integer", "description": "messages queued"},
        },
        "additionalProperties": False,
    },
    "LinkChanges": {
        "type": "object",
        "description": "What to change; the URL stays the same.",
        "properties": {
            "expires": {
                "type": ["string", "integer"],
                "description": "new expiry: a duration from now (3d, or "
                "seconds) or an ISO 8601 time",
            },
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "note": {"type": "string", "maxLength": 500},
            "password": _PASSWORD,
            "ranges": _RANGES_IN,
            "revision": {
                "type": "string",
                "description": "the revision last read: 409 if the link has "
                "changed since",
            },
        },
        "additionalProperties": False,
    },
    "Group": {
        "type": "object",
        "required": ["name", *_GROUP_RULES, "members"],
        "properties": {
            "name": {"type": "string"},
            "default_expiry": _SECONDS,
            "max_expiry": _SECONDS,
            "max_downloads": {"type": ["integer", "null"], "minimum": 1},
            "password_required": {"type": "boolean"},
            "ranges": _RANGES,
            "members": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    },
    "NewGroup": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, **_GROUP_RULES},
        "additionalProperties": False,
    },
    "GroupChanges": {
        "type": "object",
        "properties": _GROUP_RULES,
        "additionalProperties": False,
    },
    "GroupList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}}
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
