"""The inbox's web page in a real headless Chromium, driven with Selenium.

Chromium and chromedriver come from the machine (Debian's ``chromium`` and
``chromium-driver``, which .ci/run installs); Selenium is given both paths, so it never
downloads a browser or a driver. Without them the tests skip, and fail under
``CI=true``. Every wait is a WebDriverWait with a deadline.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

import pytest

from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._groups import load_issues
from tests.worker_models import require_part

from .test_web import capture_division, client, send

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT = 20.0
PAYLOAD = (
    "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=1;document.title='pwned'\">"
)


@pytest.fixture
def browser(browser_session: WebDriver) -> Iterator[WebDriver]:
    """The module's browser on a blank page with an empty console log: a page left open
    by the previous test (its inbox stopped) retries its event stream and logs errors."""
    browser_session.get("about:blank")
    browser_session.get_log("browser")  # type: ignore[no-untyped-call]  # drained
    yield browser_session
    browser_session.get("about:blank")


@pytest.fixture(scope="module")
def browser_session() -> Iterator[WebDriver]:
    if importlib.util.find_spec("selenium") is None:
        require_part("selenium", "the page's browser tests; pip install -e '.[dev]'")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None:
        require_part("chromium", "the page's browser tests; apt-get install chromium")
    if driver_path is None:
        require_part("chromedriver", "the page's browser tests; apt-get install chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(db=tmp_path / "browser.sqlite3") as running:
        yield running


def wait_until(browser: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(condition, message=f"waited {WAIT}s for {what}")


def text_of(browser: WebDriver, selector: str) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return "\n".join(element.text for element in found)


def shows(selector: str, text: str) -> Callable[[WebDriver], bool]:
    return lambda browser: text in text_of(browser, selector)


def csp_problems(browser: WebDriver) -> list[str]:
    """Console errors since the last call, and any word of the Content-Security-Policy
    (the page must cause none)."""
    entries = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]
    ]


def open_issue(browser: WebDriver, inbox: Inbox, fingerprint: str) -> None:
    browser.get(f"{inbox.url}/#/issue/{quote(fingerprint, safe='')}")
    wait_until(browser, shows("#issue-head", "occurrences"), "the issue page")


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("demo_for_browser", EXAMPLES / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_issue_list_shows_the_groups_of_the_demo_programs(
    browser: WebDriver, inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = _load_demo()
    for program in demo.PROGRAMS:
        demo.run_example(inbox.url, *program)
    capsys.readouterr()
    db = inbox.store.path
    assert db is not None
    expected = load_issues(db)
    assert len(expected) >= 4 and any(issue.count == 2 for issue in expected)
    browser.get(inbox.url + "/")

    def listed(browser: WebDriver) -> list[tuple[str, str, str]] | None:
        rows = browser.execute_script(
            "return [...document.querySelectorAll('tr.issue')].map(r => [r.dataset.fingerprint,"
            " r.querySelector('.count').textContent, r.querySelector('.exc-type').textContent])"
        )
        return rows if len(rows) == len(expected) else None

    rows = wait_until(browser, listed, f"{len(expected)} issues")
    assert [(fingerprint, int(count)) for fingerprint, count, _ in rows] == [
        (issue.fingerprint, issue.count) for issue in expected
    ]
    types = [kind for _, _, kind in rows]
    assert "PaymentDeclined" in types and "ValueError" in types
    assert "checkout" not in text_of(browser, "#issues")  # a tag: shown on the issue page only
    assert csp_problems(browser) == []


def _parse_settings(text: str) -> Any:
    return json.loads(text)  # the page must show this line


def test_an_issue_page_shows_frames_and_source_lines(browser: WebDriver, inbox: Inbox) -> None:
    from selenium.webdriver.common.by import By

    sender = client(inbox)
    try:
        _parse_settings("{not json")
    except ValueError:
        sender.capture_exception(
            distinct_id="user-7",
            properties={"$current_url": "http://shop.example/cart", "$session_id": "sess-9"},
        )
    sender.shutdown()
    capture_division(inbox, "user-8")
    issue = next(i for i in load_issues(str(inbox.store.path)) if "JSON" in str(i.latest))
    open_issue(browser, inbox, issue.fingerprint)
    line = "return json.loads(text)  # the page must show this line"
    wait_until(browser, shows(".context-line", line), "the frame's context line")
    frames = browser.find_elements(By.CSS_SELECTOR, "details.frame")
    own = [f for f in frames if "_parse_settings" in f.find_element(By.TAG_NAME, "summary").text]
    assert len(own) == 1 and own[0].get_attribute("open") is not None
    assert "in-app" in (own[0].get_attribute("class") or "")
    assert line in own[0].text  # visible: the in-app frame is open
    library = [f for f in frames if "library" in (f.get_attribute("class") or "").split()]
    assert library, "json's own frames are library frames"
    assert all(f.get_attribute("open") is None for f in library)
    assert "json/decoder.py" in " ".join(f.text for f in library)
    number = str(_parse_settings.__code__.co_firstlineno + 1)
    current = own[0].find_element(By.CSS_SELECTOR, ".line.current")
    assert current.find_element(By.CSS_SELECTOR, ".no").text == number
    assert "{not json" in own[0].find_element(By.CSS_SELECTOR, ".vars").text  # code_variables
    assert "http://shop.example/cart" in text_of(browser, "#request")
    assert "sess-9" in text_of(browser, "#person") and "user-7" in text_of(browser, "#person")
    browser.find_element(By.CSS_SELECTOR, "#raw-event summary").click()
    assert issue.latest["uuid"] in text_of(browser, "#raw-event")
    assert csp_problems(browser) == []


def test_an_earlier_occurrence_can_be_chosen(browser: WebDriver, inbox: Inbox) -> None:
    from selenium.webdriver.common.by import By

    capture_division(inbox, "first-person")
    capture_division(inbox, "second-person")
    [issue] = load_issues(str(inbox.store.path))
    open_issue(browser, inbox, issue.fingerprint)
    wait_until(browser, shows("#person", "second-person"), "the latest occurrence")
    picks = browser.find_elements(By.CSS_SELECTOR, ".occurrences a")
    assert len(picks) == 2
    picks[1].click()
    wait_until(browser, shows("#person", "first-person"), "the earlier occurrence")
    selected = browser.find_element(By.CSS_SELECTOR, ".occurrences a.selected")
    assert selected.text.endswith("first-person")  # the list was redrawn with it chosen
    assert browser.current_url.endswith(f"/{issue.occurrences[0]['id']}")
    browser.get(f"{inbox.url}/issue/{quote(issue.fingerprint, safe='')}")  # a path, no hash
    wait_until(browser, shows("#person", "second-person"), "the issue at its own path")
    assert "ZeroDivisionError" in text_of(browser, "h1")


def test_new_events_appear_without_a_reload(browser: WebDriver, inbox: Inbox) -> None:
    browser.get(inbox.url + "/")
    wait_until(browser, shows("#events", "No events yet."), "the empty list")
    wait_until(browser, shows("#live", "live"), "the live stream")
    browser.execute_script("window.loadedOnce = 'still here'")
    send(inbox, {"event": "order_paid_live", "distinct_id": "live-person"})
    wait_until(browser, shows("#events", "order_paid_live"), "the new event")
    capture_division(inbox, "live-person")
    wait_until(browser, shows("#issues", "ZeroDivisionError"), "the new issue")
    assert browser.execute_script("return window.loadedOnce") == "still here"
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1


def test_the_event_filter_keeps_matching_events(browser: WebDriver, inbox: Inbox) -> None:
    from selenium.webdriver.common.by import By

    send(
        inbox,
        {"event": "cart_viewed", "distinct_id": "ann"},
        {"event": "signed_up", "distinct_id": "bob"},
    )
    browser.get(inbox.url + "/")
    wait_until(browser, shows("#events", "signed_up"), "the events")
    browser.find_element(By.ID, "event-filter").send_keys("ann")
    wait_until(browser, lambda b: "signed_up" not in text_of(b, "#events"), "the filter")
    assert "cart_viewed" in text_of(browser, "#events")


def hostile_event() -> dict[str, Any]:
    frame = {
        "platform": "python",
        "filename": f"app{PAYLOAD}.py",
        "abs_path": f"/srv/app{PAYLOAD}.py",
        "function": f"handler{PAYLOAD}",
        "module": "app",
        "lineno": 3,
        "pre_context": [PAYLOAD],
        "context_line": f"raise ValueError('{PAYLOAD}')",
        "post_context": [PAYLOAD],
        "in_app": True,
        "code_variables": {PAYLOAD: PAYLOAD},
    }
    return {
        "event": "$exception",
        "distinct_id": f"person{PAYLOAD}",
        "properties": {
            "$exception_list": [
                {
                    "type": f"Evil{PAYLOAD}",
                    "value": PAYLOAD,
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {"type": "raw", "frames": [frame]},
                }
            ],
            "$exception_level": PAYLOAD,
            "$current_url": f"http://x/{PAYLOAD}",
            "$session_id": PAYLOAD,
            PAYLOAD: PAYLOAD,
        },
    }


def test_event_data_is_shown_as_text_and_never_runs(browser: WebDriver, inbox: Inbox) -> None:
    send(inbox, hostile_event(), {"event": PAYLOAD, "distinct_id": PAYLOAD})
    browser.get(inbox.url + "/")
    wait_until(browser, shows("#issues", PAYLOAD), "the payload in the issue list")
    assert PAYLOAD in text_of(browser, "#events")
    [issue] = load_issues(str(inbox.store.path))
    open_issue(browser, inbox, issue.fingerprint)
    wait_until(browser, shows(".context-line", PAYLOAD), "the payload in the source")
    for section in ("#issue-head", ".vars", "#request", "#person", "#tags", "details.frame"):
        assert PAYLOAD in text_of(browser, section), section
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert browser.title == "posthog-exceptions inbox"
    assert browser.execute_script("return document.querySelectorAll('#app img').length") == 0
    assert browser.execute_script("return document.scripts.length") == 1
    assert csp_problems(browser) == []


def test_the_csp_holds_the_page_to_its_own_files(browser: WebDriver, inbox: Inbox) -> None:
    """An inline script the page did not ship is refused by the browser."""
    browser.get(inbox.url + "/")
    wait_until(browser, shows("#live", "live"), "the page")
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
        " document.body.appendChild(s);"
    )
    assert browser.execute_script("return typeof window.inlineRan") == "undefined"
    assert csp_problems(browser)  # the browser said why
