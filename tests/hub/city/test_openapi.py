"""The city API's OpenAPI 3.1 document against PROTOCOL.md section 3.

Static checks run everywhere (no extra packages). The full OpenAPI 3.1 validator runs when
``openapi-spec-validator`` is installed (the dev venv has it). Checks against the add-on's
routing table and a running add-on are in ``test_openapi_live.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

import rtcc_hub

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_CODES = {
    "invalid_request",
    "invalid_token",
    "quota_exceeded",
    "not_active",
    "not_found",
    "gone",
    "camera_unavailable",
    "busy",
    "not_ready",
    "method_not_allowed",
    "unavailable",
    "internal_error",
}
UNLOCK = "/api/v1/unlocks/{unlock_id}"
CAMERA = UNLOCK + "/cameras/{camera_id}"
# PROTOCOL.md section 3: every route and every status it names.
PROTOCOL_STATUSES: dict[tuple[str, str], set[str]] = {
    ("get", "/api/v1/health"): {"200"},
    ("get", "/api/v1/openapi.json"): {"200"},
    # An oversized body gets 400 (PROTOCOL.md allows 400 or 413; the add-on answers 400).
    # 503 `unavailable`: a write the request needed failed (PROTOCOL.md section 1).
    ("post", "/api/v1/unlocks"): {"201", "400", "401", "429", "503"},
    ("get", UNLOCK): {"200", "401"},
    ("delete", UNLOCK): {"204", "401", "503"},
    ("get", CAMERA + "/snapshot"): {"200", "401", "403", "404", "410", "503"},
    # 429 `busy`: 4 streams of the camera in the unlock, or 32 in all, are open.
    ("get", CAMERA + "/stream"): {"200", "401", "403", "404", "410", "429", "503"},
    # Section 7: 429 `busy` while 2 clips of the home are being made; 503 a failed write.
    ("post", CAMERA + "/clips"): {"202", "400", "401", "403", "404", "410", "429", "503"},
    ("get", UNLOCK + "/clips/{clip_id}"): {"200", "401", "403", "404", "410"},
    ("get", UNLOCK + "/clips/{clip_id}/video"): {"200", "401", "403", "404", "409", "410", "503"},
}
UNAUTHENTICATED = {
    ("get", "/api/v1/health"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/unlocks"),
}


def load_document() -> dict[str, Any]:
    text = resources.files("rtcc_hub").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        target: Any = document
        for segment in pointer[2:].split("/"):
            target = target[segment.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def test_is_openapi_31_for_this_version(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"]
    # The protocol's version, never the add-on's (PROTOCOL.md section 3).
    assert document["info"]["version"] == "2"
    assert rtcc_hub.__version__ not in json.dumps(document["info"])


def test_documents_exactly_the_protocol_routes(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    assert documented == set(PROTOCOL_STATUSES)


@pytest.mark.parametrize(("method", "path"), sorted(PROTOCOL_STATUSES))
def test_every_protocol_status_is_documented(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = document["paths"][path][method]["responses"]
    assert set(responses) == PROTOCOL_STATUSES[method, path]


def test_every_response_declares_cache_control(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = resolve(document, response).get("headers", {})
            header = resolve(document, headers.get("Cache-Control", {}))
            assert header.get("schema", {}).get("enum") == ["no-store"], (method, path, status)


def error_codes(document: dict[str, Any], response: dict[str, Any]) -> list[str]:
    """The error codes an error response may carry (its schema's `error` enum)."""
    media = resolve(document, response)["content"]["application/json"]
    schema = resolve(document, media["schema"])
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"error", "message"}
    assert schema["properties"]["message"]["type"] == "string"
    codes: list[str] = schema["properties"]["error"]["enum"]
    assert media["example"]["error"] in codes
    return codes


def test_error_responses_use_error_objects(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    assert set(error["properties"]["error"]["enum"]) == ERROR_CODES
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert set(error_codes(document, response)) <= ERROR_CODES, (method, path, status)


def test_specific_error_codes(document: dict[str, Any]) -> None:
    def codes(method: str, path: str, status: str) -> list[str]:
        return error_codes(document, document["paths"][path][method]["responses"][status])

    assert codes("post", "/api/v1/unlocks", "400") == ["invalid_request"]
    assert codes("post", "/api/v1/unlocks", "401") == ["invalid_token"]
    assert codes("post", "/api/v1/unlocks", "429") == ["quota_exceeded"]
    assert codes("post", "/api/v1/unlocks", "503") == ["unavailable"]
    assert codes("delete", UNLOCK, "503") == ["unavailable"]
    snapshot = CAMERA + "/snapshot"
    assert codes("get", snapshot, "403") == ["not_active"]
    assert codes("get", snapshot, "404") == ["not_found"]
    assert codes("get", snapshot, "410") == ["gone"]
    assert codes("get", snapshot, "503") == ["camera_unavailable", "unavailable"]
    assert codes("get", CAMERA + "/stream", "429") == ["busy"]


def test_snapshots_carry_digest_and_receipt(document: dict[str, Any]) -> None:
    ok = resolve(document, document["paths"][CAMERA + "/snapshot"]["get"]["responses"]["200"])
    digest = resolve(document, ok["headers"]["Repr-Digest"])
    receipt = resolve(document, ok["headers"]["RTCC-Receipt"])
    assert digest["required"] and receipt["required"]
    assert re.fullmatch(digest["schema"]["pattern"], "sha-256=:" + "A" * 43 + "=:")
    assert re.fullmatch(receipt["schema"]["pattern"], "aGk.e30.c2ln")


def test_retry_after_on_quota(document: dict[str, Any]) -> None:
    response = document["paths"]["/api/v1/unlocks"]["post"]["responses"]["429"]
    header = resolve(document, response["headers"]["Retry-After"])
    assert header["schema"]["type"] == "integer"


def test_media_types(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert "image/jpeg" in paths[CAMERA + "/snapshot"]["get"]["responses"]["200"]["content"]
    stream_ok = paths[CAMERA + "/stream"]["get"]["responses"]["200"]["content"]
    assert "multipart/x-mixed-replace" in stream_ok
    assert "content" not in paths[UNLOCK]["delete"]["responses"]["204"]
    body = paths["/api/v1/unlocks"]["post"]["requestBody"]
    assert body["required"] is True
    schema = resolve(document, body["content"]["application/json"]["schema"])
    assert schema["required"] == ["token"]
    assert schema["properties"]["token"]["maxLength"] == 16 * 1024


def test_security(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "unlockAccessToken": {**schemes["unlockAccessToken"], "type": "http", "scheme": "bearer"}
    }
    for method, path, operation in operations(document):
        security = operation.get("security", document.get("security"))
        if (method, path) in UNAUTHENTICATED:
            assert security == [], (method, path)
        else:
            assert security == [{"unlockAccessToken": []}], (method, path)


def test_path_parameters_are_declared(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        templated = set(re.findall(r"{([^}]+)}", path))
        declared = {
            resolve(document, p)["name"]
            for p in [*document["paths"][path].get("parameters", []),
                      *operation.get("parameters", [])]
            if resolve(document, p)["in"] == "path"
        }  # fmt: skip
        assert declared == templated, (method, path)


def test_refs_resolve_and_operation_ids_are_unique(document: dict[str, Any]) -> None:
    for ref in all_refs(document):
        resolve(document, {"$ref": ref})
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_response_schemas_follow_the_protocol(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for variant, status in (("ActiveUnlock", "active"), ("PendingUnlock", "pending"),
                            ("DeclinedUnlock", "declined")):  # fmt: skip
        assert schemas[variant]["properties"]["status"] == {"type": "string", "enum": [status]}
        mapping = schemas["UnlockCreated"]["discriminator"]["mapping"]
        assert mapping[status] == f"#/components/schemas/{variant}"
    assert set(schemas["ActiveUnlock"]["required"]) == {
        "unlock_id", "status", "expires_at", "access_token", "cameras",
    }  # fmt: skip
    assert "access_token" in schemas["PendingUnlock"]["required"]
    assert "cameras" not in schemas["PendingUnlock"]["properties"]
    # Declined: no token, no cameras (the live test checks the add-on's answer).
    assert set(schemas["DeclinedUnlock"]["properties"]) == {"unlock_id", "status", "expires_at"}
    status = schemas["UnlockStatus"]["properties"]
    assert set(status["status"]["enum"]) == {"pending", "active", "suspended", "declined", "ended"}
    assert set(status["ended_reason"]["enum"]) == {
        "expired", "revoked", "consent_withdrawn", "hub_closed",
    }  # fmt: skip
    assert "receipt_key" in schemas["UnlockStatus"]["required"]
    assert schemas["Capability"]["enum"] == ["snapshot", "stream", "clip"]
    capabilities = schemas["Camera"]["properties"]["capabilities"]
    assert capabilities["items"] == {"$ref": "#/components/schemas/Capability"}
    claims = schemas["UnlockClaims"]
    assert set(claims["required"]) == {
        "iss", "aud", "jti", "iat", "nbf", "exp", "incident", "area", "scope",
    }  # fmt: skip
    assert claims["properties"]["scope"]["items"] == {"$ref": "#/components/schemas/Scope"}
    assert set(schemas["Footage"]["required"]) == {"start", "end"}


def _schema_nodes(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every schema in the document (component schemas, and those inline in paths)."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key in {"example", "examples"}:
                continue
            yield from _schema_nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schema_nodes(value, f"{where}/{index}")


UNFRIENDLY = {"const", "if", "then", "else", "not", "prefixItems", "contentMediaType",
              "dependentSchemas", "unevaluatedProperties", "patternProperties"}  # fmt: skip


def test_generator_friendly(document: dict[str, Any]) -> None:
    """The conventions that keep openapi-python-client, openapi-generator and
    openapi-typescript working (hub_addon/DOCS.md, "The OpenAPI document")."""
    for where, node in _schema_nodes({"paths": document["paths"], **document["components"]}):
        used = UNFRIENDLY & set(node)
        assert not used, f"{where} uses {sorted(used)}"
        for value in node.get("properties", {}).values():
            assert isinstance(value, dict), f"{where}: a boolean schema"
        if "oneOf" in node:
            # Variants told apart by a discriminator whose value is a one-value enum in each.
            name = node["discriminator"]["propertyName"]
            targets = set(node["discriminator"]["mapping"].values())
            assert targets == {variant["$ref"] for variant in node["oneOf"]}, where
            for tag, target in node["discriminator"]["mapping"].items():
                variant = resolve(document, {"$ref": target})
                assert variant["properties"][name]["enum"] == [tag], where
                assert name in variant["required"], where
        if node.get("type") == "array":
            assert "uniqueItems" not in node, f"{where}: order matters, sets lose it"
        if "enum" in node:
            assert node.get("type") == "string", f"{where}: enums are typed strings"
    binary = {"image/jpeg", "multipart/x-mixed-replace", "video/mp4", "application/octet-stream"}
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            for media_type, media in resolve(document, response).get("content", {}).items():
                if media_type in binary:
                    assert media["schema"]["format"] == "binary", (method, path, status)


def test_valid_per_openapi_spec_validator(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


def test_schemas_are_valid_json_schema(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
