"""Delivery: the worker-thread work of getting serialised events to the capture API."""
