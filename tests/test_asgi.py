"""The plain ASGI middleware and the Starlette/FastAPI one, served by a real uvicorn."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from posthog_exceptions.integrations.asgi import PostHogASGIMiddleware
from posthog_exceptions.integrations.starlette import PostHogMiddleware

from .recording_server import RecordingServer
from .web_helpers import (
    Handled,
    Secrets,
    asgi_server,
    assert_request_failure,
    exception_events,
    fail_order,
    init_client,
    request,
    secret_request,
)

# ------------------------------------------------------------------ a plain ASGI app


async def plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    if scope["path"] == "/boom":
        fail_order(1)
    status = 200 if scope["path"] == "/ok" else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def test_plain_asgi_sends_what_escapes_once_without_secrets(server: RecordingServer) -> None:
    client = init_client(server)
    secrets = Secrets()
    with asgi_server(PostHogASGIMiddleware(plain_app)) as url:
        assert request(url, "/ok").status == 200
        assert request(url, "/missing").status == 404
        assert secret_request(url, "/boom", secrets).status == 500  # uvicorn's own 500
    (event,) = exception_events(client, server)
    props = event["properties"]
    entry = props["$exception_list"][0]
    assert entry["type"] == "OrderFailed"
    assert entry["mechanism"]["type"] == "middleware"
    assert entry["mechanism"]["handled"] is False
    assert props["$exception_source"] == "asgi.middleware"
    assert props["$request_method"] == "POST"
    assert props["$request_path"] == "/boom"
    assert props["$current_url"] == f"{url}/boom"
    assert props["$request_query_keys"] == ["token", "page"]
    assert props["$user_agent"] == "integration-test/1.0"
    assert "$request_route" not in props
    secrets.assert_absent(event)


def test_plain_asgi_distinct_id_gets_the_scope(server: RecordingServer) -> None:
    client = init_client(server)

    def person(scope: dict[str, Any]) -> str:
        return f"user-at-{scope['path']}"

    with asgi_server(PostHogASGIMiddleware(plain_app, distinct_id=person)) as url:
        assert request(url, "/boom").status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-at-/boom"


# ------------------------------------------------------------------ Starlette


async def order(request: Request) -> PlainTextResponse:
    fail_order(request.path_params["order_id"])
    return PlainTextResponse("unreachable")


async def handled(request: Request) -> PlainTextResponse:
    raise Handled("the app answers this one itself")


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("fine")


async def on_handled(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse("handled", status_code=409)


def starlette_app(**options: Any) -> Starlette:
    app = Starlette(
        routes=[
            Route("/orders/{order_id:int}", order, methods=["GET", "POST"]),
            Route("/handled", handled),
            Route("/ok", ok),
            Mount("/api", routes=[Route("/v1/orders/{order_id}", order)]),
        ],
        exception_handlers={Handled: on_handled},
    )
    app.add_middleware(PostHogMiddleware, **options)
    return app


def test_starlette_sends_500s_with_the_route_and_nothing_else(server: RecordingServer) -> None:
    client = init_client(server)
    secrets = Secrets()
    with asgi_server(starlette_app()) as url:
        assert request(url, "/ok").status == 200
        assert request(url, "/nowhere").status == 404
        assert request(url, "/handled").status == 409
        answer = secret_request(url, "/orders/42", secrets)
        assert answer.status == 500
        assert answer.body == "Internal Server Error"  # Starlette's own 500 page
    (event,) = exception_events(client, server)
    entry = assert_request_failure(
        event,
        source="starlette.middleware",
        url=url,
        path="/orders/42",
        route="/orders/{order_id:int}",
        secrets=secrets,
    )
    assert entry["value"] == "order 42 could not be placed"


def test_starlette_route_inside_a_mount(server: RecordingServer) -> None:
    client = init_client(server)
    with asgi_server(starlette_app()) as url:
        assert request(url, "/api/v1/orders/7").status == 500
    (event,) = exception_events(client, server)
    assert event["properties"]["$request_route"] == "/api/v1/orders/{order_id}"
    assert event["properties"]["$request_path"] == "/api/v1/orders/7"


def test_starlette_distinct_id_gets_a_request(server: RecordingServer) -> None:
    client = init_client(server)

    def person(request: Request) -> str:
        return request.headers["x-user"]

    with asgi_server(starlette_app(distinct_id=person)) as url:
        assert request(url, "/orders/1", headers={"X-User": "user-9"}).status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-9"


def test_starlette_raising_distinct_id_sends_anonymously(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = init_client(server)

    def person(request: Request) -> str:
        return request.headers["x-missing"]  # KeyError

    with asgi_server(starlette_app(distinct_id=person)) as url:
        assert request(url, "/orders/1").status == 500
        assert request(url, "/ok").status == 200
    (event,) = exception_events(client, server)
    assert event["properties"]["$process_person_profile"] is False
    assert any("distinct_id callable raised" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ FastAPI


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(PostHogMiddleware)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            raise HTTPException(status_code=404, detail="no such item")
        fail_order(item_id)
        return {"item_id": item_id}

    @app.get("/sync/{item_id}")
    def sync_item(item_id: int) -> dict[str, int]:
        fail_order(item_id)
        return {"item_id": item_id}

    @app.exception_handler(Handled)
    async def on_handled(request: Request, exc: Handled) -> JSONResponse:
        return JSONResponse({"handled": True}, status_code=409)

    @app.get("/handled")
    async def handled_view() -> None:
        raise Handled("the app answers this one itself")

    return app


def test_fastapi_sends_500s_only(server: RecordingServer) -> None:
    client = init_client(server)
    with asgi_server(fastapi_app()) as url:
        assert request(url, "/items/404").status == 404  # HTTPException
        assert request(url, "/items/not-a-number").status == 422  # validation
        assert request(url, "/handled").status == 409
        assert request(url, "/items/5").status == 500
        assert request(url, "/sync/6").status == 500
    events = exception_events(client, server)
    assert len(events) == 2
    by_path = {e["properties"]["$request_path"]: e["properties"] for e in events}
    assert by_path["/items/5"]["$request_route"] == "/items/{item_id}"
    assert by_path["/sync/6"]["$request_route"] == "/sync/{item_id}"
    for props in by_path.values():
        assert props["$exception_list"][0]["mechanism"]["type"] == "middleware"
        assert props["$exception_source"] == "starlette.middleware"
