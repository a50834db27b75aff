"""A FastAPI app whose 500s reach PostHog (with `python examples/fastapi_app.py --once` it
serves one request to itself with uvicorn and exits).

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/fastapi_app.py
"""

from __future__ import annotations

import socket
import sys
import threading
import urllib.error
import urllib.request

import uvicorn
from fastapi import FastAPI, HTTPException
from starlette.requests import Request

import posthog_exceptions
from posthog_exceptions.integrations.starlette import PostHogMiddleware


def user_of(request: Request) -> str | None:
    return request.headers.get("x-user")


app = FastAPI()
app.add_middleware(PostHogMiddleware, distinct_id=user_of)


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    if item_id == 0:
        raise HTTPException(status_code=404)  # a 404: not sent
    raise ZeroDivisionError(f"no price for item {item_id}")


def main() -> None:
    posthog_exceptions.init()
    if "--once" not in sys.argv:
        uvicorn.run(app, host="127.0.0.1", port=8001)
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # requests wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(app, lifespan="off", log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for path in ("/items/0", "/items/3"):
        try:
            urllib.request.urlopen(urllib.request.Request(base + path, headers={"X-User": "u-7"}))
        except urllib.error.HTTPError as error:
            print(f"{path}: the app answered {error.code}")
            error.close()
    server.should_exit = True
    thread.join(10)
    sock.close()


if __name__ == "__main__":
    main()
