"""A one-file Django project whose 500s reach PostHog (with `python examples/django_app.py
--once` it serves one request to itself and exits; otherwise `runserver`).

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/django_app.py
"""

from __future__ import annotations

import sys
import threading
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

import posthog_exceptions


def invoice(request: HttpRequest, invoice_id: int) -> HttpResponse:
    raise ValueError(f"invoice {invoice_id} has no lines")


def user_of(request: HttpRequest) -> str | None:
    user: str | None = request.headers.get("X-User")  # say, str(request.user.pk)
    return user


urlpatterns = [path("invoices/<int:invoice_id>/", invoice)]

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    SECRET_KEY="example-only",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "posthog_exceptions.integrations.django.PostHogMiddleware",  # first in the list
        "django.middleware.common.CommonMiddleware",
    ],
    POSTHOG_EXCEPTIONS_DISTINCT_ID=user_of,
)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    django.setup()
    posthog_exceptions.init()
    if "--once" not in sys.argv:
        from django.core.management import execute_from_command_line

        execute_from_command_line([sys.argv[0], "runserver", "--noreload", *sys.argv[1:]])
        return
    from django.core.handlers.wsgi import WSGIHandler

    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/invoices/12/?token=abc"
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers={"X-User": "user-12"}))
    except urllib.error.HTTPError as error:
        print(f"the app answered {error.code}")
        error.close()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
