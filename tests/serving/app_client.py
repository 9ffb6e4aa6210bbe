"""A test client for the REST app: calls the ASGI callable in-process, as uvicorn would over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json as json_module
from typing import Any

from helpers.serving import api


@dataclasses.dataclass(frozen=True)
class Answer:
    """One response of the in-process app."""

    status_code: int
    headers: dict[str, str]
    data: bytes

    @property
    def content_type(self) -> str:
        """The Content-Type header."""
        return self.headers["content-type"]

    @property
    def text(self) -> str:
        """The body as text."""
        return self.data.decode()

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json_module.loads(self.data)


class Client:
    """Calls an ASGI app in-process, one event loop per request, as uvicorn would over HTTP."""

    def __init__(self, app: api.App) -> None:
        self.app = app

    def get(self, path: str, *, data: bytes | str | None = None) -> Answer:
        """GET `path` (with a body, if given)."""
        return self.request("GET", path, _chunks(None, data))

    def post(self, path: str, *, json: Any = None, data: bytes | str | None = None) -> Answer:
        """POST `json` (encoded) or `data` to `path`."""
        return self.request("POST", path, _chunks(json, data))

    def request(
        self, method: str, path: str, chunks: list[bytes] | None = None, *, declare_length: bool = True
    ) -> Answer:
        """Send the body as `chunks` (Content-Length declared unless `declare_length` is False, as
        in a chunked upload); returns the answer."""
        return asyncio.run(self._call(method, path, chunks or [b""], declare_length=declare_length))

    async def _call(self, method: str, path: str, chunks: list[bytes], *, declare_length: bool) -> Answer:
        headers = [(b"content-type", b"application/json")]
        if declare_length:
            headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
        scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
        pending = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return pending.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start, body = sent
        answer_headers = {name.decode(): value.decode() for name, value in start["headers"]}
        return Answer(status_code=start["status"], headers=answer_headers, data=body["body"])


def _chunks(json: Any, data: bytes | str | None) -> list[bytes]:
    body = json_module.dumps(json) if json is not None else data or b""
    return [body.encode() if isinstance(body, str) else body]
