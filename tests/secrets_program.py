"""Secrets placed where real programs put them, sent through the public API.

Run by tests/test_secrets.py as ``python secrets_program.py on|off`` (capture_locals),
with POSTHOG_API_KEY and POSTHOG_HOST set. Prints one JSON line: every secret placed
(name -> value) and the number of ``$exception`` events captured. Each secret is a
distinct value, so that the test can look for each in the bytes the server received.
"""

# ruff: noqa: F841
from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
import json
import logging
import sys
import threading
from typing import Any

import posthog_exceptions as ph

SECRETS: dict[str, str] = {}
CAPTURED = 0


def s(name: str, alphabet: str = "hex", size: int = 16) -> str:
    """A distinct secret for ``name``: ``zq`` and hex digits, or letters and digits."""
    digest = hashlib.sha256(name.encode()).digest()
    if alphabet == "hex":
        value = "zq" + digest.hex()[:size]
    else:
        text = base64.b64encode(digest * 4).decode().replace("+", "").replace("/", "")
        value = text[:size]
    SECRETS[name] = value
    return value


def capture(exc: BaseException, **kwargs: Any) -> None:
    global CAPTURED
    try:
        raise exc
    except BaseException:
        ph.capture_exception(**kwargs)
        CAPTURED += 1


def messages() -> None:
    """Item 1: exception messages, arguments and notes."""
    capture(ValueError(f"cannot connect to postgres://admin:{s('m-url')}@db/prod"))
    capture(RuntimeError(f"request failed: token={s('m-token')}"))
    capture(RuntimeError(f"upstream said Authorization: Bearer {s('m-bearer')}"))
    capture(ValueError("bad key " + "AKIA" + s("m-akia", "alnum", 16).upper()))
    capture(ValueError("card charge with sk_live_" + s("m-stripe", "alnum", 24)))
    capture(ValueError({"user": "bob", "password": s("m-args-dict")}))
    capture(KeyError("config", {"api_key": s("m-args-nested")}))
    note = ValueError("login failed")
    note.__notes__ = [f"retried with password={s('m-note')}"]  # type: ignore[attr-defined]
    capture(note)
    capture(OSError(f"mysql://root:p@ss/{s('m-url-at')}@db.internal:3306/app refused"))
    capture(ConnectionError(f"redis://:{s('m-redis')}@cache:6379/0 timed out"))
    capture(ValueError(f"GET https://api.example.com/v1/items?signature={s('m-query')} failed"))
    capture(ValueError(f'{{"client_secret": "{s("m-json")}", "grant": "x"}}'))
    capture(ValueError(f"headers: {{'X-Api-Key': '{s('m-header')}'}}"))
    capture(TypeError(f"bad cookie sessionid={s('m-cookie')}; path=/"))
    capture(ValueError(pem(s("m-pem", "alnum", 40))))
    capture(ValueError("jwt " + jwt(s("m-jwt", "alnum", 30))))


def pem(body: str) -> str:
    return f"-----BEGIN RSA PRIVATE KEY-----\nMIIE{body}\n{body}Qx\n-----END RSA PRIVATE KEY-----"


def jwt(body: str) -> str:
    return f"eyJhbGciOiJIUzI1NiJ9.eyJ{body}.{body}sig"


def names_in_a_frame() -> None:
    """Item 2: local variables whose names say they are secrets."""
    PASS = s("v-PASS")
    pw = s("v-pw")
    db_url = s("v-db_url")
    conn_str = s("v-conn_str")
    key = s("v-key")
    stripe_key = s("v-stripe_key")
    pin = s("v-pin")
    otp = s("v-otp")
    passcode = s("v-passcode")
    private = s("v-private")
    signing_key = s("v-signing_key")
    encryption_key = s("v-encryption_key")
    master_key = s("v-master_key")
    connection_string = s("v-connection_string")
    apiKey = s("v-apiKey")
    userPin = s("v-userPin")
    raise RuntimeError("names in a frame")


def values_in_a_frame() -> None:
    """Item 3: secret-looking values under innocent names."""
    a = f"postgres://admin:p@ss/{s('x-url-at')}@db/prod"
    b = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "A1" + s("x-aws", "alnum", 8)
    c = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s('x-azure', 'alnum', 40)}=="
    d = "sk-proj-" + s("x-openai", "alnum", 48)
    e = "sk-ant-api03-" + s("x-anthropic", "alnum", 40)
    f = "hf_" + s("x-hf", "alnum", 34)
    g = "npm_" + s("x-npm", "alnum", 36)
    h = "pypi-AgEIcHlwaS5vcmc" + s("x-pypi", "alnum", 60)
    i = "SG." + s("x-sendgrid1", "alnum", 22) + "." + s("x-sendgrid2", "alnum", 43)
    j = ["deploy", "--password", s("x-argv")]
    k = f"login?user=bob&password%3D{s('x-percent')}"
    m = "ghp_" + s("x-github", "alnum", 36)
    n = "xoxb-1234567890-" + s("x-slack", "alnum", 24)
    o = "glpat-" + s("x-gitlab", "alnum", 20)
    p = "AIza" + s("x-google", "alnum", 35)
    q = f"curl -H 'Authorization: Basic {s('x-basic', 'alnum', 20)}' https://h"
    r = ["deploy", "--token", s("x-argv-token")]
    raise RuntimeError("values in a frame")


@dataclasses.dataclass
class Login:
    user: str
    pw: str


class Holder:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return f"Holder(user=bob, pw={self.secret})"


def containers_in_a_frame() -> None:
    """Item 4: secrets inside containers."""
    settings = {"host": "db", "pass": s("c-dict-pass")}
    pairs = [("user", "bob"), ("password", s("c-pairs"))]
    login = Login("bob", s("c-dataclass"))
    holder = Holder(s("c-repr"))
    credentials = ["admin", s("c-list")]
    nested = {"db": {"options": {"auth": ["admin", s("c-nested")]}}}
    headers = [(b"host", b"h"), (b"x-api-key", s("c-asgi").encode())]
    raise RuntimeError("containers in a frame")


def source_context() -> None:
    """Item 5: a hard-coded secret next to the crash (the literal values are in SECRETS)."""
    db_password = "zqsrc1a2b3c4d5e6f70"
    API_TOKEN: str = "zqsrc2a2b3c4d5e6f70"
    config = {}
    config["password"] = "zqsrc3a2b3c4d5e6f70"
    raise RuntimeError("source context")


def in_frames() -> None:
    for function in (names_in_a_frame, values_in_a_frame, containers_in_a_frame, source_context):
        try:
            function()
        except RuntimeError:
            ph.capture_exception()
            global CAPTURED
            CAPTURED += 1


class Leaky:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return f"Leaky(api_key={self.secret})"

    def __del__(self) -> None:
        raise ValueError(f"close failed: token={self.secret}")


def hooks_logs_context() -> None:
    """Item 1 (log text, thread names, unraisable) and the context's tags."""
    global CAPTURED
    logging.getLogger("app").error("login failed password=%s", s("l-message"))
    try:
        raise ValueError("upstream refused")
    except ValueError:
        logging.getLogger("app").exception("call failed: Bearer %s", s("l-exception"))
    CAPTURED += 2

    def fail() -> None:
        raise RuntimeError("worker died")

    thread = threading.Thread(target=fail, name=f"worker token={s('t-name')}")
    thread.start()
    thread.join()
    CAPTURED += 1
    Leaky(s("u-unraisable"))
    gc.collect()
    CAPTURED += 1
    with ph.new_context():
        ph.tag("database", f"postgres://app:{s('tag-url')}@db/app")
        ph.tag("api_key", s("tag-name"))
        capture(
            RuntimeError("with tags"),
            properties={"session_token": s("p-name"), "detail": f"token={s('p-value')}"},
        )


def main() -> None:
    for n in (1, 2, 3):  # the literals of source_context()
        SECRETS[f"src-{n}"] = f"zqsrc{n}a2b3c4d5e6f70"
    capture_locals = sys.argv[1] == "on"
    ph.init(capture_locals=capture_locals)
    ph.capture_logging(logger="app", capture_messages=True)
    messages()
    in_frames()
    hooks_logs_context()
    assert ph.flush(timeout=20)
    print(json.dumps({"secrets": SECRETS, "captured": CAPTURED}))


if __name__ == "__main__":
    main()
