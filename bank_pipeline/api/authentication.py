"""Authenticate before anything else: a request under /v1 without a valid bearer token is answered 401 before it
is routed or its body is read, and a body larger than any command needs is refused unread (413). The identity
found here is what the endpoints' `identity` dependency returns. Authenticated answers are `Cache-Control: no-store`.

The OpenAPI document declares the scheme on the same paths (`declare_bearer_scheme`): no per-request security
dependency has to run for the document to show it."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from bank_pipeline.api.problems import MEDIA_TYPE, TYPE_BASE
from bank_pipeline.api.tokens import InvalidToken, verify_token

PROTECTED_PREFIXES = ("/v1", "/metrics")  # everything but the probes and the OpenAPI document
MAX_BODY_BYTES = 64 * 1024  # a command's JSON is a few hundred bytes
CHALLENGE = (b"www-authenticate", b'Bearer realm="bank-pipeline"')


class AuthenticateFirst:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            identity = verify_token(_bearer(headers.get(b"authorization", b"")))
        except InvalidToken as error:
            await _problem(scope, send, 401, "unauthenticated", "Unauthorized", str(error), [CHALLENGE])
            return
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            detail = f"a request body may be at most {MAX_BODY_BYTES:,} bytes, with its Content-Length"
            await _problem(scope, send, 413, "body_too_large", "Content Too Large", detail)
            return
        scope.setdefault("state", {})["identity"] = identity

        async def send_private(message) -> None:
            if message["type"] == "http.response.start":  # balances and statements must not sit in a cache
                message["headers"] = [*message.get("headers", []), (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_private)


BEARER_SCHEME = {
    "HTTPBearer": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT from `bank-pipeline token` (or the identity provider).",
    }
}  # fmt: skip


def declare_bearer_scheme(schema: dict) -> dict:
    """Mark every operation AuthenticateFirst guards as needing the bearer token, in an OpenAPI document."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(BEARER_SCHEME)
    for path, operations in schema.get("paths", {}).items():
        if path.startswith(PROTECTED_PREFIXES):
            for operation in operations.values():
                operation["security"] = [{"HTTPBearer": []}]
    return schema


def _bearer(authorization: bytes) -> str:
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send 'Authorization: Bearer <token>'")
    return token.strip()


async def _problem(
    scope: Scope, send: Send, status: int, code: str, title: str, detail: str, extra: list | None = None
) -> None:
    body = orjson.dumps(
        {"type": TYPE_BASE + code, "title": title, "status": status, "code": code, "instance": scope["path"],
         "detail": detail}
    )  # fmt: skip
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
