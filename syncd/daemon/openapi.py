"""The admin API's OpenAPI 3.1 document, written by hand beside the routes in :mod:`api`
(a test validates it and checks that every route is described)."""

from __future__ import annotations

from typing import Any

from syncd import __version__

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}


def _path_param(name: str, kind: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind},
    }


_ACCOUNT = _path_param("account_id", "string", "An account id from the config.")

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "RunSummary": {
        "type": "object",
        "required": ["id", "account_id", "kind", "dry_run", "status", "phase", "started_at"],
        "properties": {
            "id": {"type": "integer"},
            "account_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["incremental", "full", "recompute", "train"]},
            "dry_run": {"type": "boolean"},
            "status": {"type": "string", "examples": ["running", "ok", "failed", "interrupted"]},
            "phase": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_s": {"type": ["number", "null"]},
            "timings": {"type": "object", "additionalProperties": {"type": "number"}},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
    "RunDetail": {
        "allOf": [
            _ref("RunSummary"),
            {
                "type": "object",
                "required": ["report"],
                "properties": {
                    "report": {
                        "type": "object",
                        "description": "The run report: pulled, recompute, plan (a dry-run's "
                        "plan too), blocked, pushed, resumed, drift, api, errors.",
                    }
                },
            },
        ]
    },
    "Account": {
        "type": "object",
        "required": ["id", "connectors", "running", "queued"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "connectors": {"type": "array", "items": {"type": "string"}},
            "segments": {"type": "array", "items": {"type": "string"}},
            "running": {"type": "boolean"},
            "queued": {"type": "integer"},
            "last_run": {"oneOf": [_ref("RunSummary"), {"type": "null"}]},
            "last_success_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Segment": {
        "type": "object",
        "required": ["segment", "size", "drift"],
        "properties": {
            "segment": {"type": "string"},
            "size": {"type": "integer"},
            "holdout_size": {"type": "integer"},
            "previous_size": {"type": ["integer", "null"]},
            "drift": {"type": "boolean"},
            "computed_at": {"type": "string", "format": "date-time"},
            "run_id": {"type": ["integer", "null"]},
        },
    },
    "ResyncBody": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "full": {"type": "boolean", "default": False},
            "dry_run": {"type": "boolean", "default": False},
        },
    },
    "ResyncAccepted": {
        "type": "object",
        "required": ["request_id", "account", "full", "dry_run"],
        "properties": {
            "request_id": {"type": "integer"},
            "account": {"type": "string"},
            "full": {"type": "boolean"},
            "dry_run": {"type": "boolean"},
        },
    },
    "ResyncRequest": {
        "type": "object",
        "required": ["id", "account_id", "status"],
        "properties": {
            "id": {"type": "integer"},
            "account_id": {"type": "string"},
            "full": {"type": "boolean"},
            "dry_run": {"type": "boolean"},
            "status": {"type": "string", "enum": ["pending", "running", "done", "failed"]},
            "requested_by": {"type": "string"},
            "requested_at": {"type": "string", "format": "date-time"},
            "claimed_by": {"type": ["string", "null"]},
            "claimed_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "run_id": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
        },
    },
    "Problem": {
        "type": "object",
        "required": ["path", "message"],
        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
    },
}


def openapi_document() -> dict[str, Any]:
    auth: list[dict[str, list[str]]] = [{"bearer": []}]
    open_: list[dict[str, list[str]]] = []
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers.",
                "operationId": "healthz",
                "security": open_,
                "responses": {"200": _ok("Alive.", {"type": "object"})},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: started, not stopping, the store answers.",
                "operationId": "readyz",
                "security": open_,
                "responses": {
                    "200": _ok("Ready.", {"type": "object"}),
                    "503": _ok("Not ready, with the reasons.", {"type": "object"}),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "operationId": "openapi",
                "security": open_,
                "responses": {"200": _ok("The OpenAPI document.", {"type": "object"})},
            }
        },
        "/": {
            "get": {
                "summary": "The status page (HTML; the token may be given as Basic auth).",
                "operationId": "statusPage",
                "security": [{"bearer": []}, {"basic": []}],
                "responses": {"200": _ok("HTML.", {"type": "string"}, "text/html"), **_ERRORS},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format).",
                "operationId": "metrics",
                "responses": {"200": _ok("Metrics.", {"type": "string"}, "text/plain"), **_ERRORS},
            }
        },
        "/accounts": {
            "get": {
                "summary": "Configured accounts with their last run.",
                "operationId": "listAccounts",
                "responses": {
                    "200": _ok(
                        "Accounts.",
                        {
                            "type": "object",
                            "required": ["accounts"],
                            "properties": {"accounts": {"type": "array", "items": _ref("Account")}},
                        },
                    ),
                    **_ERRORS,
                },
            }
        },
        "/accounts/{account_id}/runs": {
            "get": {
                "summary": "An account's runs, newest first.",
                "operationId": "listRuns",
                "parameters": [
                    _ACCOUNT,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                ],
                "responses": {
                    "200": _ok(
                        "Runs.",
                        {
                            "type": "object",
                            "required": ["account", "runs"],
                            "properties": {
                                "account": {"type": "string"},
                                "runs": {"type": "array", "items": _ref("RunSummary")},
                            },
                        },
                    ),
                    "400": _ok("Bad limit.", _ref("Error")),
                    **_ERRORS,
                    **_NOT_FOUND,
                },
            }
        },
        "/accounts/{account_id}/resync": {
            "post": {
                "summary": "Queue a run of the account; a daemon picks it up within seconds.",
                "operationId": "requestResync",
                "parameters": [_ACCOUNT],
                "requestBody": {
                    "required": False,
                    "content": {_JSON: {"schema": _ref("ResyncBody")}},
                },
                "responses": {
                    "202": _ok("Queued.", _ref("ResyncAccepted")),
                    "400": _ok("Bad body.", _ref("Error")),
                    "503": _ok("The daemon is stopping.", _ref("Error")),
                    **_ERRORS,
                    **_NOT_FOUND,
                },
            }
        },
        "/accounts/{account_id}/segments": {
            "get": {
                "summary": "Segment sizes and drift flags at the last recompute.",
                "operationId": "listSegments",
                "parameters": [_ACCOUNT],
                "responses": {
                    "200": _ok(
                        "Segments.",
                        {
                            "type": "object",
                            "required": ["account", "segments"],
                            "properties": {
                                "account": {"type": "string"},
                                "segments": {"type": "array", "items": _ref("Segment")},
                            },
                        },
                    ),
                    **_ERRORS,
                    **_NOT_FOUND,
                },
            }
        },
        "/runs/{run_id}": {
            "get": {
                "summary": "One run with its full report (a dry-run's plan included).",
                "operationId": "getRun",
                "parameters": [_path_param("run_id", "integer", "A run id.")],
                "responses": {
                    "200": _ok("The run.", _ref("RunDetail")),
                    **_ERRORS,
                    **_NOT_FOUND,
                },
            }
        },
        "/resync/{request_id}": {
            "get": {
                "summary": "One resync request and where it is.",
                "operationId": "getResyncRequest",
                "parameters": [_path_param("request_id", "integer", "A resync request id.")],
                "responses": {
                    "200": _ok("The request.", _ref("ResyncRequest")),
                    **_ERRORS,
                    **_NOT_FOUND,
                },
            }
        },
        "/admin/reload": {
            "post": {
                "summary": "Reload the config file; a file with problems is refused.",
                "operationId": "reloadConfig",
                "responses": {
                    "200": _ok("Reloaded.", {"type": "object"}),
                    "400": _ok(
                        "Refused: the old config keeps running.",
                        {
                            "type": "object",
                            "required": ["ok", "problems"],
                            "properties": {
                                "ok": {"type": "boolean"},
                                "problems": {"type": "array", "items": _ref("Problem")},
                            },
                        },
                    ),
                    **_ERRORS,
                },
            }
        },
    }
    paths.update(_webhook_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "syncd admin API",
            "version": __version__,
            "description": "Health, metrics, runs, segments and resyncs of a syncd daemon.",
        },
        "servers": [{"url": "http://127.0.0.1:8700"}],
        "security": auth,
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "hubspotSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-HubSpot-Signature-v3",
                    "description": "base64(HMAC-SHA256(client secret, method + URI + body + "
                    "X-HubSpot-Request-Timestamp)); older than max_age_s is refused.",
                },
            },
            "responses": {
                "Unauthorized": _ok("Missing or wrong admin token.", _ref("Error")),
                "NotFound": _ok("Unknown account, run or request.", _ref("Error")),
            },
        },
    }


def _webhook_paths() -> dict[str, Any]:
    """The vendor webhook receivers (see :mod:`syncd.webhooks.service`): never the admin
    token; each vendor authenticates its own way."""
    secret = _path_param("secret", "string", "The account's webhook secret for this vendor.")
    answers = {
        "200": _ok("Applied (withdrawn consent propagates at once).", {"type": "object"}),
        "400": _ok("Malformed delivery: nothing changed.", _ref("Error")),
        "401": _ok("Not authenticated, or too old: nothing changed.", _ref("Error")),
        "409": _ok("Replayed delivery: nothing changed.", _ref("Error")),
        "413": _ok("Too large.", _ref("Error")),
    }

    def post(summary: str, op: str, security: list[dict[str, list[str]]], media: str) -> Any:
        return {
            "summary": summary,
            "operationId": op,
            "security": security,
            "requestBody": {"required": True, "content": {media: {"schema": {"type": "object"}}}},
            "responses": answers,
        }

    form = "application/x-www-form-urlencoded"
    return {
        "/webhooks/mailchimp/{account_id}/{secret}": {
            "parameters": [_ACCOUNT, secret],
            "get": {
                "summary": "Mailchimp's URL check.",
                "operationId": "mailchimpWebhookCheck",
                "security": [],
                "responses": {"200": _ok("The secret matches.", {"type": "string"}, "text/plain"),
                              "401": answers["401"]},
            },
            "post": post("A Mailchimp audience webhook (secret in the path).",
                         "mailchimpWebhook", [], form),
        },
        "/webhooks/brevo/{account_id}": {
            "parameters": [_ACCOUNT],
            "post": post("A Brevo marketing webhook (Basic auth).", "brevoWebhook",
                         [{"basic": []}], _JSON),
        },
        "/webhooks/brevo/{account_id}/{secret}": {
            "parameters": [_ACCOUNT, secret],
            "post": post("A Brevo marketing webhook (secret in the path).", "brevoWebhookPath",
                         [], _JSON),
        },
        "/webhooks/hubspot/{account_id}": {
            "parameters": [_ACCOUNT],
            "post": post("HubSpot webhooks v3 events (signature v3).", "hubspotWebhook",
                         [{"hubspotSignature": []}], _JSON),
        },
    }  # fmt: skip
