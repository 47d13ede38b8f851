"""Policies over the event stream, each small and in its own module (see :mod:`..pipeline`)."""
