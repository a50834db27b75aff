"""The answer to feature-flag requests: there are no flags here.

posthog-python asks ``POST /flags/?v=4`` (older releases ``/flags/?v=2`` or
``/decide/``) and reads ``flags`` (a map of flag details), ``requestId``,
``evaluatedAt``, ``errorsWhileComputingFlags`` and ``quotaLimited``. posthog-js asks
``POST /flags/?v=2&config=true`` (older releases ``/decide/``) and reads
``featureFlags``, ``featureFlagPayloads`` and ``flags`` for the flags, and the
remote-config keys (``sessionRecording``, ``supportedCompression``,
``autocapture_opt_out``, ``surveys``, ``siteApps``...) for what to switch on. One
body satisfies both, for GET and POST alike: every flag is absent (so an SDK's
``feature_enabled`` says not enabled, without a warning), nothing optional is on,
and the compressions offered are the ones the inbox decodes.
"""

from __future__ import annotations

import json
import time
import uuid

FLAG_PATHS = frozenset({"/flags", "/decide"})
"""Feature-flag endpoints, compared without the trailing slash."""


def no_flags() -> bytes:
    """A fresh JSON answer: no flags, a new request id, evaluated now."""
    answer = {
        "flags": {},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": False,
        "quotaLimited": [],
        "requestId": str(uuid.uuid4()),
        "evaluatedAt": int(time.time() * 1000),
        "config": {"enable_collect_everything": True},
        "sessionRecording": False,
        "supportedCompression": ["gzip", "gzip-js"],
        "autocapture_opt_out": False,
        "capturePerformance": False,
        "heatmaps": False,
        "surveys": False,
        "siteApps": [],
        "toolbarParams": {},
        "isAuthenticated": False,
        "editorParams": {},
        "elementsChainAsString": True,
        "defaultIdentifiedOnly": True,
    }
    return json.dumps(answer).encode("utf-8")
