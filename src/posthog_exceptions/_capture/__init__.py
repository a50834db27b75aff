"""Capture: the caller's-thread work of turning an exception into an ``$exception`` event.

Runs on the thread that raised (or caught) the exception, so it lives by three rules:
it survives hostile objects (a ``__str__``, ``__repr__``, ``__getattr__`` or
``__class__`` that raises, loops or lies), it never raises into the caller, and it
costs little — it caches per code object and never imports on the hot path. It knows
nothing of threads, queues or HTTP.

- :mod:`.kinds` — one :class:`~.kinds.CaptureKind` per entry point (the façade loads it);
- :mod:`.rules` — which exceptions are sent at all, checked before anything is built
  (the façade loads it);
- :mod:`.builder` — the two halves of building an event (loads with the first exception,
  and with it everything below);
- :mod:`.exceptions` — the chain of exceptions, walked; :mod:`.frames` and :mod:`.paths`
  — their frames; :mod:`.fingerprint` — the grouping key;
- :mod:`.exception_list` — the rendered ``$exception_list`` and the shared-frame rule;
- :mod:`.variables`, :mod:`.values`, :mod:`.bounded`, :mod:`.scrub` — local variables,
  bounded in size and time, secrets masked;
- :mod:`.shrink` — an oversize event made to fit.
"""
