"""What a secret looks like inside a piece of text: the scrubber's text rules.

Each rule masks only the secret part of what it matches, with :data:`MASK`:

- URL credentials: ``postgres://admin:[Filtered]@db/prod`` (a password may hold ``@``
  and ``/``: the last ``@`` before the host ends it), ``https://[Filtered]@host`` for a
  user alone (often a token), and ``admin:[Filtered]@host:port`` without a scheme (a
  Host header);
- URL query values, except numbers of up to ten digits: ``/cb?code=[Filtered]&page=2``
  (codes, signatures and tokens travel there), and so a bare query string of two or
  more ``&``-joined pairs (``QueryParams('code=[Filtered]&page=2')``);
- ``Bearer``/``Basic``/``Token``/``Digest`` credentials; JWTs; PEM private-key blocks;
- the documented prefixes of well-known providers' keys (:data:`PROVIDER_KEYS`), and a
  bare 40-character AWS secret access key (mixed case, digits, at most two ``/``; a git
  SHA or another hex digest never matches);
- ``key=value``, ``key: value``, ``"key": "value"``, ``key: type = value``,
  ``key%3Dvalue``, ``('key', 'value')`` and ``--key value`` for a sensitive key (the
  name rules are the scrubber's, in :mod:`.scrub`).

Every rule starts with literals or needs one of a few anchor characters, so text that
holds none of them (most names, labels and short values) costs one regex search.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "[Filtered]"


PROVIDER_KEYS: tuple[tuple[str, str], ...] = (
    ("AWS access key id", r"A(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("Google API key", r"AIza[A-Za-z0-9_-]{30,}"),
    ("Google OAuth access token", r"ya29\.[A-Za-z0-9_-]{20,}"),
    ("Stripe secret and restricted keys", r"[rs]k_(?:live|test)_[A-Za-z0-9]{8,}"),
    ("Stripe webhook secret", r"whsec_[A-Za-z0-9]{8,}"),
    ("GitHub tokens", r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("GitLab personal token", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("Slack tokens", r"(?:xox[abposr]|xapp)-[A-Za-z0-9-]{8,}"),
    ("OpenAI and Anthropic keys (sk-, sk-proj-, sk-ant-)", r"sk-[A-Za-z0-9_-]{20,}"),
    ("Hugging Face token", r"hf_[A-Za-z0-9]{30,}"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI token", r"pypi-[A-Za-z0-9_-]{50,}"),
    ("SendGrid key", r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("PostHog personal API key", r"phx_[A-Za-z0-9]{8,}"),
    ("Shopify tokens", r"shp(?:at|ss|ca|pa)_[A-Fa-f0-9]{32}"),
    ("DigitalOcean tokens", r"do[opr]_v1_[a-f0-9]{64}"),
    ("Sentry tokens", r"sntr[ysu]_[A-Za-z0-9_=+/-]{20,}"),
    ("Databricks token", r"dapi[a-f0-9]{32}"),
    ("Square tokens", r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,}"),
    ("Twilio API key", r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
)
"""(provider, pattern) of the key formats masked wherever they appear. PostHog project
keys (``phc_``) and publishable keys (``pk_live_``) are public and kept."""


_PROVIDERS = re.compile(
    r"(?<![A-Za-z0-9])(?:" + "|".join(pattern for _, pattern in PROVIDER_KEYS) + ")"
)
_PROVIDER_ANCHORS = (
    "AKIA", "ASIA", "AIza", "ya29.", "k_live_", "k_test_", "whsec_", "ghp_", "gho_", "ghu_",
    "ghs_", "ghr_", "github_pat_", "glpat-", "xox",
    "xapp-", "sk-", "hf_", "npm_", "pypi-", "SG.", "phx_", "shp", "_v1_", "sntr", "dapi",
    "sq0", "SK",
)  # fmt: skip


_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@'\"<>]*:)[^\s'\"<>?#]*@"
    r"(?=[^\s@/?#'\"<>]+)"
)
_HOST_USERINFO = re.compile(  # user:password@host without a scheme (a Host header)
    r"(?<![\w.:/@%-])(?!mailto:)(?P<head>[A-Za-z0-9._~!$&*+=-]{1,64}:)[^\s/@'\"<>]+@"
    r"(?=[A-Za-z0-9.-]+(?::\d+)?(?![\w.@-]))"
)
_URL_USER = re.compile(r"://[^\s:/?#@'\"<>]+@(?=[^\s@/?#'\"<>]+)")
_URL_QUERY = re.compile(
    r"(?P<path>(?:[A-Za-z][A-Za-z0-9+.-]{0,30}:)?/[^\s?#'\"<>]*)\?(?P<query>[^\s#'\"<>]+)"
)
_BARE_QUERY = re.compile(  # k=v&k2=v2 on its own (a query string in a repr or a variable)
    r"(?<![^\s'\"(=])(?P<query>[\w.%-]{1,64}=[^\s&#'\"<>]*(?:&[\w.%-]{1,64}=[^\s&#'\"<>]*)+)"
)
_QUERY_ITEM = re.compile(r"(?P<key>[^&;=]+)=(?P<value>[^&;]*)")
_KEEP_QUERY_VALUE = re.compile(r"\d{1,10}|" + re.escape(MASK))
_SCHEME_CREDENTIAL = re.compile(
    r"(Bearer|bearer|BEARER|Basic(?=[ \t]+[A-Za-z0-9+/]{4}))[ \t]+[^\s'\"<>,;]+"
)
_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----(?s:.*?)"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----|\Z)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_LOWER_RUN = re.compile(r"[a-z]{9}")


KEY_VALUE = re.compile(
    r"(?:(?<=%3[Bb])|(?<=%2[6Cc])|(?<![A-Za-z0-9_]))(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,63})"
    r"(?P<sep>['\"]?\]?[ \t]*(?::[ \t]*[A-Za-z_][\w.\[\], |]{0,40}?[ \t]+=|[:=]|%3[AaDd]"
    r"|['\"][ \t]*,)[ \t]*)"
    r"(?=(?P<scheme>(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)[ \t]+)?"
    rf"(?P<value>{re.escape(MASK)}|b?'[^'\n]*'|b?\"[^\"\n]*\"|[^\s,;&?()\[\]{{}}'\"]+))"
)
"""A key and its value; the scrubber decides from the key whether the value goes. The
value is matched ahead, not consumed, so that a pair inside the value of an ordinary key
(``failed: token=…``) is found too."""

FLAG = re.compile(
    r"(?<![\w-])--?(?P<key>[A-Za-z][\w-]{0,63})(?P<sep>[ \t]+)(?=(?P<value>(?!-)[^\s'\"]+))"
)
"""``--key value`` in a command line (the value matched ahead, as in :data:`KEY_VALUE`)."""


ANCHORS = re.compile(
    "|".join(re.escape(a) for a in ("://", "?", "earer", "EARER", "Basic", "-----BEGIN", "eyJ"))
    + "|"
    + "|".join(re.escape(a) for a in _PROVIDER_ANCHORS)
    + "|[:=,]|%3[AaDd]|--"
)
"""Text that holds none of these needs no rule but the AWS-secret one (40 characters)."""


def contains_any(text: str, needles: Iterable[str]) -> bool:
    """Whether any of ``needles`` is in ``text`` (``any()`` over a generator, without the
    generator: this runs for every text scrubbed)."""
    for needle in needles:  # noqa: SIM110  (a loop: no generator per call)
        if needle in text:
            return True
    return False


def scrub_fixed(text: str) -> str:
    """``text`` with the rules that need no name (everything but key/value) applied."""
    if "-----BEGIN" in text:
        text = _PEM.sub(MASK, text)
    if "@" in text:
        if "://" in text:
            text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
            text = _URL_USER.sub(f"://{MASK}@", text)
        if ":" in text:
            text = _HOST_USERINFO.sub(rf"\g<head>{MASK}@", text)
    if "=" in text:
        if "?" in text:
            text = _URL_QUERY.sub(_mask_query, text)
        if "&" in text:
            text = _BARE_QUERY.sub(_mask_bare_query, text)
    if "earer" in text or "EARER" in text or "Basic" in text:
        text = _SCHEME_CREDENTIAL.sub(rf"\1 {MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if contains_any(text, _PROVIDER_ANCHORS):
        text = _PROVIDERS.sub(MASK, text)
    if len(text) >= 40:
        text = _AWS_SECRET.sub(_mask_aws_secret, text)
    return text


def _mask_query(match: re.Match[str]) -> str:
    query = _QUERY_ITEM.sub(_mask_query_item, match["query"])
    return f"{match['path']}?{query}"


def _mask_bare_query(match: re.Match[str]) -> str:
    return _QUERY_ITEM.sub(_mask_query_item, match["query"])


def _mask_query_item(match: re.Match[str]) -> str:
    value = match["value"]
    if not value or _KEEP_QUERY_VALUE.fullmatch(value):
        return match[0]
    return f"{match['key']}={MASK}"


def _mask_aws_secret(match: re.Match[str]) -> str:
    """Mask a 40-character run that looks random: upper and lower case and a digit, no
    long lowercase word, at most two ``/`` and none at either end (not a path)."""
    text = match[0]
    if (
        text.count("/") > 2
        or text[0] == "/"
        or text[-1] == "/"
        or sum(c.isupper() for c in text) < 3
        or sum(c.islower() for c in text) < 3
        or not any(c.isdigit() for c in text)
        or _LOWER_RUN.search(text)
    ):
        return text
    return MASK
