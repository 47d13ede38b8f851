"""``python -m asgi_spark``: the ``asgi-spark`` command line."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
