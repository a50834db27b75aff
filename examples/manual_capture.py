"""Report events and a handled error by hand.

Run against the local inbox:
    python -m posthog_exceptions inbox &
    POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/manual_capture.py
"""

import posthog_exceptions


def parse_quantity(text: str) -> int:
    return int(text)


def main() -> None:
    posthog_exceptions.init()  # key and host from POSTHOG_API_KEY / POSTHOG_HOST
    posthog_exceptions.identify("user-42", {"email": "ada@example.com", "plan": "pro"})
    posthog_exceptions.capture("cart_viewed", distinct_id="user-42", properties={"items": 3})
    posthog_exceptions.alias("anonymous-7f3a", "user-42")
    try:
        parse_quantity("three")
    except ValueError:
        event_id = posthog_exceptions.capture_exception(
            distinct_id="user-42", properties={"form": "checkout"}
        )
        print(f"reported the bad quantity as event {event_id}")


if __name__ == "__main__":
    main()
