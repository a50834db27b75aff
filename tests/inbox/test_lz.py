"""The inbox's lz-string decoder against output of the JavaScript original.

The vectors in ``lz_vectors.json`` were made by ``lz_vectors.js`` with lz-string
1.5.0 from the npm registry (the library posthog-js used for ``compression=lz64``)
on Node.js 20; how to make them again is at the top of that script.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from posthog_exceptions.inbox._lz import LZError, LZTooLarge, decompress_from_base64

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "lz_vectors.json").read_text(encoding="utf-8")
)


def _lcg_text(seed: int, length: int, alphabet: list[str]) -> str:
    """The pseudo-random text lz_vectors.js compressed (the same generator)."""
    x, out = seed, []
    for _ in range(length):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append(alphabet[(x >> 8) % len(alphabet)])
    return "".join(out)


@pytest.mark.parametrize("index", range(len(VECTORS["vectors"])))
def test_decodes_what_lz_string_made(index: int) -> None:
    vector = VECTORS["vectors"][index]
    assert decompress_from_base64(vector["lz64"], 1_000_000) == vector["input"]


def test_decodes_a_large_varied_text_as_the_dictionary_grows() -> None:
    """20,000 pseudo-random characters (NUL, accents, CJK and an emoji among them): the
    dictionary grows past 2^13 entries, so the token width changes many times."""
    lcg = VECTORS["lcg"]
    text = decompress_from_base64(lcg["lz64"], 1_000_000)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == lcg["sha256"]
    assert text == _lcg_text(lcg["seed"], lcg["length"], list(lcg["alphabet"]))


def test_long_repeats_and_the_output_cap() -> None:
    bomb = VECTORS["repeat_a_1mib_lz64"]
    assert len(bomb) < 3000
    assert decompress_from_base64(bomb, 1 << 20) == "A" * (1 << 20)
    with pytest.raises(LZTooLarge):
        decompress_from_base64(bomb, (1 << 20) - 1)


@pytest.mark.parametrize(
    "text",
    ["not lz-string!", "BYUwNmD2AEDukCcw", "////////", "IZA=" + "€"],
    ids=["alphabet", "truncated", "bad-token", "non-ascii"],
)
def test_garbage_is_an_error(text: str) -> None:
    with pytest.raises(LZError):
        decompress_from_base64(text, 1_000_000)
