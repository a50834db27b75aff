"""Which local variables are secrets, and masking secrets inside text.

A variable or dict key whose name contains, case-insensitively and ignoring ``_``
and ``-``, one of :data:`DEFAULT_SCRUB_NAMES` (or the caller's extra names) has its
value replaced by :data:`MASK`. The substring rule over-masks on purpose
(``author`` contains ``auth``): ``db_password``, ``apiKey``, ``X-Auth-Token`` all
match, where an exact-name list lets them through. Strings are scrubbed as well:
URL credentials, ``Bearer``/``Basic`` credentials, tokens with a well-known secret
prefix, JWTs, PEM private keys, and ``key=value`` pairs with a sensitive key.
PostHog project keys (``phc_``) and publishable keys (``pk_live_``) are public and
kept. Patterns are compiled once, when capture_locals is first used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[Filtered]"


DEFAULT_SCRUB_NAMES: tuple[str, ...] = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_key",
    "auth", "credential", "private_key", "privatekey", "session", "cookie", "csrf", "xsrf",
    "jwt", "dsn", "signature", "bearer", "passphrase", "ssn", "credit_card", "card_number",
    "cvv",
)  # fmt: skip


# (anchors, pattern, replacement): a pattern runs only on text holding one of its anchors,
# and each starts with literals, so that `re` can skip ahead quickly.
_SECRETS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = tuple(
    (anchors, re.compile(pattern), replacement) for anchors, pattern, replacement in (
        (("://",), r"://[^\s/?#@'\"<>]+@", f"://{MASK}@"),
        (("earer", "EARER", "Basic"), r"(Bearer|bearer|BEARER|Basic(?=[ \t]+[A-Za-z0-9+/]{4}))"
         r"[ \t]+[^\s'\"<>,;]+", rf"\1 {MASK}"),
        (("-----BEGIN",), r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----(?s:.*?)"
         r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----|\Z)", MASK),
        (("eyJ",), r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?", MASK),
        (("AKIA", "ASIA"), r"A(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])", MASK),
        (("AIza",), r"AIza[A-Za-z0-9_-]{30,}", MASK),
        (("_", "-"), r"(?:phx_|sk_live_|sk_test_|rk_live_|rk_test_|ghp_|gho_|ghu_|ghs_|ghr_"
         r"|github_pat_|glpat-|xox[abposr]-)[A-Za-z0-9_-]{8,}", MASK),
    )
)  # fmt: skip


_KEY_VALUE = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<key>[A-Za-z_][A-Za-z0-9_-]{0,63})(?P<sep>['\"]?[ \t]*[:=][ \t]*)"
    r"(?P<scheme>(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)[ \t]+)?"
    rf"(?P<value>{re.escape(MASK)}|'[^'\n]*'|\"[^\"\n]*\"|[^\s,;&)}}\]'\"]+)"
)


# Every pattern above needs one of its anchors, and the key=value rule a ':' or '=':
# text holding none of these (most names, labels and short values) needs no more work.
_ANCHORS = re.compile(
    "|".join(re.escape(a) for anchors, _, _ in _SECRETS for a in anchors) + "|[:=]"
)
_CACHE_SIZE = 4096
_CACHED_TEXT_LENGTH = 256


def _normalize(name: str) -> str:
    return str.lower(name).replace("_", "").replace("-", "")


class Scrubber:
    """Decides which names and values are secrets (see the module docstring)."""

    __slots__ = ("_cache", "_names", "_text_cache", "quoted", "scrub_values")

    def __init__(self, extra_names: Iterable[str] = (), *, scrub_values: bool = True) -> None:
        if isinstance(extra_names, str):
            raise TypeError(f"extra_names must be an iterable of names, not a str: {extra_names!r}")
        names = set()
        for name in (*DEFAULT_SCRUB_NAMES, *extra_names):
            if not isinstance(name, str) or not _normalize(name):
                raise ValueError(f"a scrub name must be a non-empty str, got {name!r}")
            names.add(_normalize(name))
        self._names = tuple(sorted(names))
        self.scrub_values = scrub_values
        self._cache: dict[str, bool] = {}
        self._text_cache: dict[str, str] = {}
        self.quoted: dict[str, str] = {}
        """The renderer's cache of ``repr(scrub_text(s))`` for short strings."""

    def name_is_sensitive(self, name: str) -> bool:
        """Whether a variable or key called ``name`` holds a secret."""
        key = str.lower(name)
        found = self._cache.get(key)
        if found is None:
            plain = key.replace("_", "").replace("-", "")
            found = any(n in plain for n in self._names)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def value_is_sensitive(self, text: str) -> bool:
        """Whether ``text`` looks like, or contains, a secret that :meth:`scrub_text` masks."""
        return self.scrub_text(text) != text

    def scrub_text(self, text: str) -> str:
        """``text`` with embedded secrets masked; unchanged when ``scrub_values`` is off.

        Short texts repeat from one capture to the next (the same names, labels and
        reprs in every frame), so their results are kept in a small cache."""
        if not self.scrub_values or not text:
            return text
        if len(text) > _CACHED_TEXT_LENGTH:
            return self._scrub(text)
        cache = self._text_cache
        found = cache.get(text)
        if found is None:
            found = self._scrub(text)
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[text] = found
        return found

    def _scrub(self, text: str) -> str:
        if not _ANCHORS.search(text):
            return text
        for anchors, pattern, replacement in _SECRETS:
            if any(anchor in text for anchor in anchors):
                text = pattern.sub(replacement, text)
        if "=" in text or ":" in text:
            plain = _normalize(text)
            if any(name in plain for name in self._names):
                text = _KEY_VALUE.sub(self._mask_pair, text)
        return text

    def _mask_pair(self, match: re.Match[str]) -> str:
        value = match["value"]
        if value == MASK or not self.name_is_sensitive(match["key"]):
            return match[0]
        quote = value[0] if value[0] in "'\"" else ""
        return f"{match['key']}{match['sep']}{match['scheme'] or ''}{quote}{MASK}{quote}"
