"""A Flask API whose errors land in the session replay of the browser that called it.

The browser runs posthog-js with tracing headers for this API's host::

    posthog.init("phc_...", { __add_tracing_headers: ["api.example.com"] })

so each of its requests carries ``X-POSTHOG-SESSION-ID``, ``X-POSTHOG-WINDOW-ID`` and
``X-POSTHOG-DISTINCT-ID``. The Flask integration runs every request in a fresh context
filled from them: the ``$exception`` event of a failing request has the browser's
``$session_id`` and person, plus the tags the app adds. With ``--once`` the script plays
the browser itself: it sends one such request to itself, then exits.

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/session_replay.py
"""

from __future__ import annotations

import sys
import threading
import urllib.error
import urllib.request

from flask import Flask, request
from werkzeug.serving import make_server

import posthog_exceptions
from posthog_exceptions.integrations import flask as posthog_flask

app = Flask(__name__)

BROWSER_HEADERS = {  # what posthog-js adds to a fetch() to a host in __add_tracing_headers
    "X-POSTHOG-SESSION-ID": "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d11",
    "X-POSTHOG-WINDOW-ID": "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d12",
    "X-POSTHOG-DISTINCT-ID": "customer-1017",
}


@app.before_request
def tag_the_request() -> None:
    posthog_exceptions.tag("plan", request.headers.get("X-Plan", "free"))
    posthog_exceptions.tag("api_version", "2024-06")


@app.route("/checkout/<int:cart_id>", methods=["POST"])
def checkout(cart_id: int) -> str:
    raise RuntimeError(f"cart {cart_id}: payment provider timed out")


def main() -> None:
    posthog_exceptions.init()
    posthog_flask.init_app(app)
    server = make_server("127.0.0.1", 0, app)
    if "--once" not in sys.argv:
        print(f"serving on http://127.0.0.1:{server.server_port}/checkout/1 (POST)")
        server.serve_forever()
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/checkout/88"
    headers = {**BROWSER_HEADERS, "X-Plan": "pro"}
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", headers=headers))
    except urllib.error.HTTPError as error:
        session = headers["X-POSTHOG-SESSION-ID"]
        print(f"the app answered {error.code}; the error is in session {session}")
        error.close()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
