"""Regenerate ``docs/inbox-issue.png``, the README's picture of the inbox's issue page.

``make screenshot`` runs this: it starts a local inbox (in memory, a free port on
127.0.0.1), captures real exceptions with :class:`posthog_exceptions.Client` from the
small shop below (a coupon that is not JSON, three times, by two people; the chained
cause passes through the standard library's ``json`` frames, which the page folds), opens
the issue's page in headless Chromium (``/usr/bin/chromium`` and ``chromedriver``, found
on ``PATH``; Selenium never downloads anything here) and saves the PNG.

    python docs/screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import posthog_exceptions
from posthog_exceptions.inbox import Inbox

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

OUTPUT = Path(__file__).resolve().parent / "inbox-issue.png"
WIDTH = 1280
MAX_HEIGHT = 1800


class CouponRejected(Exception):
    """The shop's own error."""


def parse_coupon(raw: str) -> dict[str, object]:
    coupon: dict[str, object] = json.loads(raw)
    return coupon


def apply_coupon(order_id: int, total: float, raw: str) -> float:
    try:
        coupon = parse_coupon(raw)
    except json.JSONDecodeError as exc:
        raise CouponRejected(f"coupon for order {order_id} is not valid JSON") from exc
    return total * (1 - float(str(coupon.get("discount", 0))))


def capture_examples(client: posthog_exceptions.Client) -> None:
    for order_id, person in ((1001, "customer-17"), (1002, "customer-42"), (1003, "customer-17")):
        try:
            apply_coupon(order_id, 42.0, "{discount: 0.1}")
        except CouponRejected:
            client.capture_exception(
                distinct_id=person,
                properties={
                    "$current_url": f"https://shop.example/checkout/{order_id}",
                    "$request_method": "POST",
                    "$request_path": f"/checkout/{order_id}",
                    "$request_route": "/checkout/<int:order_id>",
                    "$user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0",
                    "$session_id": "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d11",
                    "$window_id": "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d12",
                    "plan": "pro",
                },
            )
    client.capture("checkout_started", distinct_id="customer-17", properties={"items": 3})


def browser() -> WebDriver:
    """Headless Chromium from the machine (``chromium``, ``chromedriver``), no download."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit("screenshot: needs chromium and chromedriver (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},900")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def main(argv: list[str]) -> int:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    output = Path(argv[0]) if argv else OUTPUT
    os.environ.pop("POSTHOG_API_KEY", None)
    with Inbox() as inbox:
        client = posthog_exceptions.Client(
            "phc_screenshot", host=inbox.url, sync_mode=True, capture_locals=True
        )
        capture_examples(client)
        client.shutdown()
        [event, *_] = inbox.wait_for(3, event="$exception")
        driver = browser()
        try:
            fingerprint = event["properties"]["$exception_fingerprint"]
            driver.get(f"{inbox.url}/#/issue/{fingerprint}")
            WebDriverWait(driver, 20).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "details.frame"))
            )
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(WIDTH, min(int(height) + 40, MAX_HEIGHT))
            driver.save_screenshot(str(output))
        finally:
            driver.quit()
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
