"""One scrubber for everything an event carries out of the process.

It is applied to exception messages (values, arguments, ``__notes__``), the context
lines of every frame, local variables (names and values, inside containers, dataclasses,
slots and reprs), ``$log_message``, ``$thread_name``, ``$unraisable_*``, the request
properties of the web integrations (path, URL, host, user agent), the context's tags and
the properties passed to ``capture_exception()``. (Ordinary events' own properties are
sent as given: they are what the program chose to send.)

**Names.** A variable, dict key, dataclass field, property or ``key=value`` key is
sensitive when, case-insensitively and ignoring ``_``, ``-``, ``.`` and spaces, it
contains one of :data:`DEFAULT_SCRUB_NAMES` or the ``scrub_names`` option's (so
``db_password``, ``apiKey``, ``X-Auth-Token``; the substring rule over-masks on purpose:
``author`` contains ``auth``), or when one of its words (split at ``_``, ``-`` and
camelCase) is one of :data:`SECRET_WORDS` (``PASS``, ``pw``, ``user_pin``, ``otp``,
``private``, ``creds`` — as words only, so ``compass``, ``mapping`` and ``spinner`` are
kept), or when it ends in the word ``key`` after anything but :data:`PUBLIC_KEY_WORDS`
(``key``, ``stripe_key``, ``signingKey`` are masked; ``sort_key``, ``cache_key``,
``primary_key`` are kept). In text, a value after a key known only by such a word is
masked when written ``key=value`` or quoted (``'key': 'value'``), not in prose
(``missing key: name``).

**Values.** The rules of :mod:`.secrets` (URL credentials and query values, schemes,
JWTs, PEM keys, providers' key formats, ``key=value`` pairs), then the
``scrub_patterns`` option's own regular expressions (a match becomes :data:`MASK`; with a
group named ``secret``, only that group does). ``scrub_messages=False`` leaves exception
messages and ``$log_message`` as they are. Results are cached per distinct string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .secrets import ANCHORS, FLAG, KEY_VALUE, MASK, contains_any, scrub_fixed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from posthog_exceptions._config import Options

__all__ = ["DEFAULT_SCRUB_NAMES", "MASK", "PUBLIC_KEY_WORDS", "SECRET_WORDS", "Scrubber"]


DEFAULT_SCRUB_NAMES: tuple[str, ...] = (
    "password", "passwd", "pwd", "passcode", "passphrase", "secret", "token", "api_key",
    "apikey", "access_key", "signing_key", "encryption_key", "master_key", "private_key",
    "privatekey", "auth", "credential", "session", "sessid", "cookie", "csrf", "xsrf", "jwt",
    "dsn", "connection_string", "conn_str", "connstring", "db_url", "db_uri", "database_url",
    "database_uri", "query_string", "request_uri", "raw_uri", "signature", "bearer", "ssn",
    "credit_card", "card_number", "cvv",
)  # fmt: skip
"""Substrings of sensitive names (compared without case, ``_``, ``-``, ``.``, spaces)."""

SECRET_WORDS: frozenset[str] = frozenset(
    {"pass", "pw", "pin", "otp", "totp", "hotp", "mfa", "private", "creds", "cred", "sid"}
)
"""Words that make a name sensitive when they are a whole word of it."""

PUBLIC_KEY_WORDS: frozenset[str] = frozenset(
    {
        "sort", "cache", "primary", "foreign", "partition", "row", "hash", "range", "index",
        "lookup", "group", "dict", "map", "unique", "composite", "natural", "idempotency",
        "dedup", "dedupe", "lock", "queue", "job", "task", "event", "item", "node", "entry",
        "record", "object", "bucket", "field", "column", "attr", "attribute", "setting",
        "config", "env", "order", "shard", "routing", "translation", "i18n", "message",
        "error", "type", "template", "style", "query", "search", "filter", "kind", "ref",
        "label", "name", "metric", "cluster", "sequence", "public", "cursor", "page", "join",
        "state", "by", "on", "of", "to", "react", "list", "tuple", "json", "yaml", "dynamo",
        "redis", "s3", "idx", "hot", "short", "date", "time",
    }
)  # fmt: skip
"""Words before a final ``key`` that make it an ordinary key, not a secret one."""

MESSAGE_PROPERTIES = frozenset({"$log_message"})
"""Properties that ``scrub_messages=False`` leaves as they are, like exception messages."""

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PROBES = ("pass", "pw", "pin", "otp", "mfa", "private", "cred", "sid", "key")
_NAME_CACHE_SIZE = 4096
_TEXT_CACHE_SIZE = 4096
_CACHED_TEXT_LENGTH = 1024
_MAX_DEPTH = 10
STRONG, WEAK = 2, 1


def _normalize(name: str) -> str:
    return str.lower(name).replace("_", "").replace("-", "").replace(".", "").replace(" ", "")


class Scrubber:
    """Decides which names and values are secrets, and masks them (see the module docstring)."""

    __slots__ = (
        "_names",
        "_patterns",
        "_probes",
        "_text_cache",
        "item_names",
        "levels",
        "quoted",
        "scrub_messages",
        "scrub_values",
    )  # fmt: skip

    def __init__(
        self,
        extra_names: Iterable[str] = (),
        *,
        scrub_values: bool = True,
        patterns: Iterable[re.Pattern[str]] = (),
        scrub_messages: bool = True,
    ) -> None:
        if isinstance(extra_names, str):
            raise TypeError(f"extra_names must be an iterable of names, not a str: {extra_names!r}")
        names = set()
        for name in (*DEFAULT_SCRUB_NAMES, *extra_names):
            if not isinstance(name, str) or not _normalize(name):
                raise ValueError(f"a scrub name must be a non-empty str, got {name!r}")
            names.add(_normalize(name))
        self._names = tuple(sorted(names))
        self._probes = self._names + tuple(p for p in _PROBES if p not in names)
        self._patterns = tuple(patterns)
        self.scrub_values = scrub_values
        self.scrub_messages = scrub_messages
        self.levels: dict[str, int] = {}
        """The cache of :meth:`name_level` (the renderer reads it directly)."""
        self.item_names: dict[str, bool] = {}
        """The renderer's cache: whether a sequence item names a secret (``"--token"``)."""
        self._text_cache: dict[str, str] = {}
        self.quoted: dict[str, str] = {}
        """The renderer's cache of ``repr(scrub_text(s))`` for short strings."""

    # ------------------------------------------------------------------ names

    def name_is_sensitive(self, name: str) -> bool:
        """Whether a variable, key or property called ``name`` holds a secret."""
        return self.name_level(name) > 0

    def name_level(self, name: str) -> int:
        """:data:`STRONG` (a listed substring), :data:`WEAK` (a secret word), or 0."""
        found = self.levels.get(name)
        if found is None:
            found = self._level(name)
            if len(self.levels) >= _NAME_CACHE_SIZE:
                self.levels.clear()
            self.levels[name] = found
        return found

    def _level(self, name: str) -> int:
        plain = _normalize(name)
        if contains_any(plain, self._names):
            return STRONG
        words = [str.lower(word) for word in _WORD.findall(name)]
        if any(word in SECRET_WORDS for word in words):
            return WEAK
        if words and words[-1] == "key" and (len(words) == 1 or words[-2] not in PUBLIC_KEY_WORDS):
            return WEAK
        return 0

    # ------------------------------------------------------------------ text

    def value_is_sensitive(self, text: str) -> bool:
        """Whether ``text`` looks like, or contains, a secret that :meth:`scrub_text` masks."""
        return self.scrub_text(text) != text

    def scrub_message(self, text: str) -> str:
        """An exception message or log text: :meth:`scrub_text` unless ``scrub_messages`` is off."""
        return self.scrub_text(text) if self.scrub_messages else text

    def scrub_text(self, text: str) -> str:
        """``text`` with embedded secrets masked; unchanged when ``scrub_values`` is off.

        Texts repeat from one capture to the next (the same messages, names, labels and
        reprs in every frame), so results are kept in a bounded cache."""
        if not self.scrub_values or not text:
            return text
        if len(text) > _CACHED_TEXT_LENGTH:
            return self._scrub(text)
        cache = self._text_cache
        found = cache.get(text)
        if found is None:
            found = self._scrub(text)
            if len(cache) >= _TEXT_CACHE_SIZE:
                cache.clear()
            cache[text] = found
        return found

    def scrub_lines(self, lines: list[str]) -> list[str]:
        """Source lines, each scrubbed; every line of a PEM private-key block is masked."""
        out: list[str] = []
        inside = False
        for line in lines:
            if "-----BEGIN" in line and "PRIVATE KEY" in line:
                inside = True
            if inside:
                out.append(line[: len(line) - len(line.lstrip())] + MASK)
                inside = "-----END" not in line
            else:
                out.append(self.scrub_text(line))
        return out

    def _scrub(self, text: str) -> str:
        if ANCHORS.search(text) or len(text) >= 40:
            text = scrub_fixed(text)
            if contains_any(text, "=:,-%") and self._may_name(text):
                text = self._mask_values(KEY_VALUE, text, self._pair_is_secret)
                if "-" in text:
                    text = self._mask_values(FLAG, text, self._flag_is_secret)
        for pattern in self._patterns:
            text = pattern.sub(_masker(pattern), text)
        return text

    def _may_name(self, text: str) -> bool:
        plain = _normalize(text)
        return contains_any(plain, self._probes)

    @staticmethod
    def _mask_values(
        pattern: re.Pattern[str], text: str, is_secret: Callable[[re.Match[str]], bool]
    ) -> str:
        """``text`` with the ``value`` of each match that ``is_secret`` masked (its quotes
        and a ``b`` prefix kept); matches inside a masked value are skipped."""
        out: list[str] = []
        end = 0
        for match in pattern.finditer(text):
            if match.start() < end or not is_secret(match):
                continue
            start, stop = match.span("value")
            value = match["value"]
            quote = value[-1] if value[-1] in "'\"" and len(value) > 1 else ""
            prefix = "b" if quote and value[0] == "b" else ""
            out.append(text[end:start])
            out.append(f"{prefix}{quote}{MASK}{quote}")
            end = stop
        if not out:
            return text
        out.append(text[end:])
        return "".join(out)

    def _pair_is_secret(self, match: re.Match[str]) -> bool:
        value, sep = match["value"], match["sep"]
        if value == MASK or match.string[match.end("value") : match.end("value") + 1] in ("(", "["):
            return False  # already masked, or code: f(...), x[...]
        level = self.name_level(match["key"])
        if not level:
            return False
        start = match.start("key")
        quoted_key = start > 0 and match.string[start - 1] in "'\""
        if "," in sep:  # ('key', 'value'): both quoted
            return quoted_key and value[-1] in "'\""
        # A key known only by a word needs a '=' or quotes (not prose: "missing key: name").
        return level == STRONG or quoted_key or "=" in sep or "%" in sep

    def _flag_is_secret(self, match: re.Match[str]) -> bool:
        return match["value"] != MASK and self.name_level(match["key"]) > 0

    # ------------------------------------------------------------------ properties

    def scrub_properties(self, properties: dict[str, Any]) -> dict[str, Any]:
        """Mask, in place, the values of sensitive property names (not ``$`` ones: those
        are PostHog's) and the secrets inside every string, at any depth."""
        for key, value in list(properties.items()):
            if type(key) is str and key[:1] != "$" and self.name_is_sensitive(key):
                properties[key] = MASK
            elif type(value) is str:
                message = key in MESSAGE_PROPERTIES
                properties[key] = self.scrub_message(value) if message else self.scrub_text(value)
            elif isinstance(value, (dict, list, tuple)):
                properties[key] = self._scrub_nested(value, 1)
        return properties

    def _scrub_nested(self, value: Any, depth: int) -> Any:
        if type(value) is str:
            return self.scrub_text(value)
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {
                key: MASK
                if isinstance(key, str) and self.name_is_sensitive(key)
                else self._scrub_nested(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._scrub_nested(item, depth + 1) for item in value]
        return value


def _masker(pattern: re.Pattern[str]) -> Any:
    """The replacement for a ``scrub_patterns`` pattern: the match, or its ``secret`` group."""
    if "secret" not in pattern.groupindex:
        return MASK

    def replace(match: re.Match[str]) -> str:
        if match["secret"] is None:
            return MASK
        start, end = match.span("secret")
        whole = match[0]
        return whole[: start - match.start()] + MASK + whole[end - match.start() :]

    return replace


_scrubbers: dict[tuple[Any, ...], Scrubber] = {}


def for_options(options: Options) -> Scrubber:
    """The scrubber for a client's options (one per distinct set of scrubbing options,
    so that every part of a client shares its caches)."""
    key = (options.scrub_names, options.scrub_patterns, options.scrub_messages)
    found = _scrubbers.get(key)
    if found is None:
        found = _scrubbers[key] = Scrubber(
            options.scrub_names,
            patterns=options.scrub_patterns,
            scrub_messages=options.scrub_messages,
        )
    return found
