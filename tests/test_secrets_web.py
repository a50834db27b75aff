"""Requests carry secrets to every web integration (a query ``code``, a ``;jsessionid``
path parameter, an ``X-Api-Key`` header, a token in the User-Agent, userinfo in the Host
header); with and without capture_locals, none of them reaches the recording server."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest
from starlette.requests import Request

from .recording_server import RecordingServer
from .web_helpers import (
    asgi_server,
    exception_events,
    fail_order,
    init_client,
    request,
    wsgi_server,
)


class RequestSecrets:
    def __init__(self) -> None:
        self.code, self.session, self.api_key, self.agent, self.host = (
            f"zq{uuid.uuid4().hex[:18]}" for _ in range(5)
        )

    @property
    def values(self) -> list[str]:
        return [self.code, self.session, self.api_key, self.agent, self.host]

    def send(self, url: str) -> None:
        """The request without, then with, userinfo in its Host header."""
        path = f"/leak/x;jsessionid={self.session}?code={self.code}&page=2"
        headers = {"X-Api-Key": self.api_key, "User-Agent": f"app/1.0 token={self.agent}"}
        assert request(url, path, headers=headers).status == 500
        port = url.rsplit(":", 1)[1]
        host = {**headers, "Host": f"admin:{self.host}@127.0.0.1:{port}"}
        request(url, path, headers=host)  # some frameworks refuse such a host: any answer


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    fail_order(environ["PATH_INFO"])
    return []


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    fail_order(scope["path"])


@contextmanager
def _plain_wsgi() -> Iterator[str]:
    from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

    with wsgi_server(PostHogWSGIMiddleware(_wsgi_app)) as url:
        yield url


@contextmanager
def _plain_asgi() -> Iterator[str]:
    from posthog_exceptions.integrations.asgi import PostHogASGIMiddleware

    with asgi_server(PostHogASGIMiddleware(_asgi_app)) as url:
        yield url


@contextmanager
def _flask() -> Iterator[str]:
    from flask import Flask
    from flask import request as current

    from posthog_exceptions.integrations import flask as posthog_flask

    from .test_flask import flask_server

    app = Flask(__name__)

    @app.route("/leak/<path:rest>")
    def leak(rest: str) -> str:
        req = current._get_current_object()  # type: ignore[attr-defined]
        headers = dict(req.headers)
        fail_order(len(headers))
        return "unreachable"

    posthog_flask.init_app(app)
    with flask_server(app) as url:
        yield url


@contextmanager
def _django() -> Iterator[str]:
    from .test_django import django_server

    with django_server("wsgi", ALLOWED_HOSTS=["*"]) as url:
        yield url


@contextmanager
def _starlette() -> Iterator[str]:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from posthog_exceptions.integrations.starlette import PostHogMiddleware

    async def leak(request: Request) -> None:
        headers = request.headers
        url = request.url
        fail_order(f"{len(headers)} {url.path}")

    app = Starlette(routes=[Route("/leak/{rest:path}", leak)])
    app.add_middleware(PostHogMiddleware)
    with asgi_server(app) as url:
        yield url


@contextmanager
def _fastapi() -> Iterator[str]:
    from fastapi import FastAPI

    from posthog_exceptions.integrations.starlette import PostHogMiddleware

    app = FastAPI()
    app.add_middleware(PostHogMiddleware)

    @app.get("/leak/{rest:path}")
    def leak(rest: str, request: Request) -> None:
        query = request.query_params
        fail_order(f"{rest} {len(query)}")

    with asgi_server(app) as url:
        yield url


SERVERS = {
    "wsgi": _plain_wsgi,
    "asgi": _plain_asgi,
    "flask": _flask,
    "django": _django,
    "starlette": _starlette,
    "fastapi": _fastapi,
}


@pytest.mark.parametrize("capture_locals", [True, False], ids=["locals", "no-locals"])
@pytest.mark.parametrize("framework", sorted(SERVERS))
def test_request_secrets_never_reach_the_server(
    server: RecordingServer, framework: str, capture_locals: bool
) -> None:
    client = init_client(server, capture_locals=capture_locals)
    secrets = RequestSecrets()
    with SERVERS[framework]() as url:
        secrets.send(url)
    events = exception_events(client, server)
    assert events, "the failing request was sent"
    bodies = [r.raw for r in server.requests]
    received = b"\n".join(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in bodies)
    leaked = [value for value in secrets.values if value.encode() in received]
    assert leaked == []
    props = events[0]["properties"]
    assert props["$request_query_keys"] == ["code", "page"]
    assert props["$user_agent"] == "app/1.0 token=[Filtered]"
