"""The public API as a user's type checker sees it. Checked by mypy --strict in `make test`;
never run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import posthog_exceptions
from posthog_exceptions import Client, Stats


def scrub(event: dict[str, Any]) -> dict[str, Any] | None:
    event["properties"].pop("email", None)
    return event


def usage() -> None:
    client: Client = posthog_exceptions.init(
        "phc_key",
        host="eu",
        distinct_id=lambda: "user-1",
        properties={"service": "billing"},
        release="1.0.0",
        environment="production",
        batch_size=50,
        timeout=5.0,
        before_send=scrub,
    )
    event_id: str | None = client.capture(
        "checkout", distinct_id="u", properties={"total": 12.5}, timestamp=dt.datetime.now()
    )
    client.identify("u", {"plan": "pro"}, set_once={"signup": "2026-01-01"})
    client.alias("anon", "u")
    delivered: bool = client.flush(timeout=2.0)
    stats: Stats = client.stats()
    dropped: int = stats["dropped"]["queue_full"] + stats["sent"]
    other = Client("phc_other", sync_mode=True)
    posthog_exceptions.capture("x", distinct_id="u")
    finished: bool = posthog_exceptions.shutdown(timeout=1)
    print(event_id, delivered, dropped, other, finished)


def web_integrations() -> None:
    from fastapi import FastAPI
    from flask import Flask, Request

    from posthog_exceptions.integrations import flask as posthog_flask
    from posthog_exceptions.integrations.asgi import PostHogASGIMiddleware
    from posthog_exceptions.integrations.django import PostHogMiddleware as DjangoMiddleware
    from posthog_exceptions.integrations.starlette import PostHogMiddleware
    from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

    def user_of(request: Request) -> str | None:
        return request.headers.get("X-User")

    flask_app = Flask(__name__)
    receiver: posthog_flask.FlaskIntegration = posthog_flask.init_app(
        flask_app, distinct_id=user_of
    )
    api = FastAPI()
    api.add_middleware(PostHogMiddleware, distinct_id=lambda request: request.headers.get("x"))
    asgi_app = PostHogASGIMiddleware(api, client=Client("phc_key"))
    wsgi_app = PostHogWSGIMiddleware(flask_app.wsgi_app, distinct_id=lambda environ: "user-1")
    print(receiver, asgi_app, wsgi_app, DjangoMiddleware.async_capable)
