"""An error nobody catches: sys.excepthook reports it (level fatal), delivers it, and
Python still prints its traceback and exits with status 1.

    export POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000
    python examples/unhandled_crash.py 1001
"""

import sys

import posthog_exceptions


class PaymentDeclined(Exception):
    pass


def charge(order_id: str, amount: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id} ({amount} EUR)")


def checkout(order_id: str) -> None:
    charge(order_id, amount=42)


if __name__ == "__main__":
    posthog_exceptions.init()
    checkout(sys.argv[1] if len(sys.argv) > 1 else "1001")
