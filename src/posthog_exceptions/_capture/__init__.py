"""Capture: the caller's-thread work of turning an exception into an ``$exception`` event."""
