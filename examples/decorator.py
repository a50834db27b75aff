"""Report what escapes a function, with the capture_exceptions decorator.

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/decorator.py
"""

import posthog_exceptions
from posthog_exceptions import capture_exceptions


@capture_exceptions(reraise=False, properties={"job": "nightly-invoices"})
def send_invoices(customers: list[str]) -> None:
    for customer in customers:
        if not customer:
            raise LookupError("a customer without an id")


def main() -> None:
    posthog_exceptions.init()
    send_invoices(["c-1", "", "c-3"])  # reported, then swallowed (reraise=False)
    print("the nightly job carried on after its error")


if __name__ == "__main__":
    main()
