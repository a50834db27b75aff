"""The Flask integration (the got_request_exception signal), with Flask served by werkzeug."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, Request, abort
from werkzeug.serving import make_server

from posthog_exceptions.integrations import flask as posthog_flask

from .recording_server import RecordingServer
from .web_helpers import (
    Handled,
    OrderFailed,
    Secrets,
    assert_request_failure,
    exception_events,
    fail_order,
    init_client,
    request,
    secret_request,
)


def make_app(**options: Any) -> Flask:
    app = Flask(__name__)

    @app.route("/orders/<int:order_id>", methods=["GET", "POST"])
    def order(order_id: int) -> str:
        fail_order(order_id)
        return "unreachable"

    @app.route("/missing")
    def missing() -> str:
        abort(404)

    @app.route("/handled")
    def handled() -> str:
        raise Handled("the app answers this one itself")

    @app.route("/caught")
    def caught() -> str:
        try:
            fail_order(0)
        except OrderFailed:
            return "carried on"
        return "unreachable"

    @app.errorhandler(Handled)
    def on_handled(exc: Handled) -> tuple[str, int]:
        return "handled", 409

    posthog_flask.init_app(app, **options)
    return app


@contextmanager
def flask_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug's server; it listens before the thread starts."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_unhandled_errors_are_sent_once_with_the_rule_and_without_secrets(
    server: RecordingServer,
) -> None:
    client = init_client(server)
    secrets = Secrets()
    with flask_server(make_app()) as url:
        assert request(url, "/missing").status == 404
        assert request(url, "/nowhere").status == 404
        assert request(url, "/handled").status == 409
        assert request(url, "/caught").status == 200
        answer = secret_request(url, "/orders/42", secrets)
    assert answer.status == 500
    assert "Internal Server Error" in answer.body  # Flask's own 500 page
    (event,) = exception_events(client, server)
    entry = assert_request_failure(
        event,
        source="flask.got_request_exception",
        url=url,
        path="/orders/42",
        route="/orders/<int:order_id>",
        secrets=secrets,
    )
    assert entry["value"] == "order 42 could not be placed"


def test_distinct_id_is_called_with_the_request(server: RecordingServer) -> None:
    client = init_client(server)

    def person(request: Request) -> str:
        return f"user-{request.view_args['order_id'] if request.view_args else 0}"

    with flask_server(make_app(distinct_id=person)) as url:
        assert request(url, "/orders/3").status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-3"


def test_a_raising_distinct_id_sends_anonymously(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = init_client(server)

    def person(request: Request) -> str:
        raise LookupError("no session store")

    with flask_server(make_app(distinct_id=person)) as url:
        assert request(url, "/orders/3").status == 500
        assert request(url, "/caught").status == 200
    (event,) = exception_events(client, server)
    assert event["properties"]["$process_person_profile"] is False
    assert any("distinct_id callable raised" in r.getMessage() for r in caplog.records)


def test_propagated_exceptions_are_sent_once(server: RecordingServer) -> None:
    """With PROPAGATE_EXCEPTIONS (testing, debug) Flask re-raises: still one event."""
    client = init_client(server)
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(OrderFailed):
        app.test_client().get("/orders/8")
    (event,) = exception_events(client, server)
    assert event["properties"]["$request_path"] == "/orders/8"


def test_init_app_twice_replaces_the_settings(server: RecordingServer) -> None:
    client = init_client(server)
    app = make_app()
    again = posthog_flask.init_app(app, distinct_id=lambda request: "user-2")
    assert app.extensions["posthog_exceptions"] is again
    with flask_server(app) as url:
        assert request(url, "/orders/1").status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-2"


def test_other_apps_are_not_affected(server: RecordingServer) -> None:
    client = init_client(server)
    make_app()  # connected to its own app only
    other = Flask("other")

    @other.route("/")
    def index() -> str:
        raise OrderFailed("elsewhere")

    assert other.test_client().get("/").status_code == 500
    assert exception_events(client, server) == []
