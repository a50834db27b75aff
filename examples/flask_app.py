"""A Flask app whose 500s reach PostHog (with `python examples/flask_app.py --once` it
serves one request to itself and exits).

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/flask_app.py
"""

from __future__ import annotations

import sys
import threading
import urllib.error
import urllib.request

from flask import Flask, Request
from werkzeug.serving import make_server

import posthog_exceptions
from posthog_exceptions.integrations import flask as posthog_flask

app = Flask(__name__)


@app.route("/orders/<int:order_id>")
def order(order_id: int) -> str:
    raise LookupError(f"order {order_id} has no customer")


def user_of(request: Request) -> str | None:
    return request.headers.get("X-User")


def main() -> None:
    posthog_exceptions.init()
    posthog_flask.init_app(app, distinct_id=user_of)
    server = make_server("127.0.0.1", 0, app)
    if "--once" not in sys.argv:
        print(f"serving on http://127.0.0.1:{server.server_port}/orders/1")
        server.serve_forever()
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/orders/7?token=abc&page=2"
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers={"X-User": "user-42"}))
    except urllib.error.HTTPError as error:
        print(f"the app answered {error.code}")
        error.close()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
