"""Delivery: the worker-thread work of getting serialised events to the capture API.

Runs on the client's delivery thread (and on the calling thread in sync mode and at
exit). It owns the locks and handles fork and exit; it never touches an exception or
a frame, only :data:`~posthog_exceptions._payload.Payload` bytes.

- :mod:`.worker` — the bounded queue, the thread, ``flush()``/``shutdown()``/exit, fork
  (loads with the first client, not with the package);
- :mod:`.ledger` — what the queue holds in memory, for its byte bound;
- :mod:`.sender` — one batch through the retry policy (:mod:`.retry`) and the
  transport (:mod:`.transport`), and the waits that flush and shutdown cut short;
- :mod:`.replay` and :mod:`.spool` — what could not be delivered, on disk, and back;
- :mod:`.process` — the exit-time flush and the fork handlers;
- :mod:`.flush_spool` — the ``flush-spool`` command.
"""
