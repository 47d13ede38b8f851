"""A faithful, offline iFlytek Spark (讯飞星火) WebSocket chat service for demos, tests, benchmarks.

::

    from asgi_spark.simulator import SparkSimulator, Faults

    async with SparkSimulator(app_id="A", api_key="K", api_secret="S") as sim:
        url = sim.url_for("v3.5")                 # ws://127.0.0.1:<port>/v3.5/chat
        sim.faults = Faults(error_code=10014, error_after=2)
        ...

The sans-I/O parts are separate modules: :mod:`.handshake` (URL signature check), :mod:`.validate`
(request frame rules and codes), :mod:`.script` (answers as steps), :mod:`.faults` and
:mod:`.directives` (fault plans from Python, CLI and ``[spark:key=value]`` prompt directives),
:mod:`.sid` and :mod:`.tokens`, with :mod:`.schema` (typed field checks for :mod:`.validate`).
:mod:`.server` is the thin websockets layer.  :mod:`.strictness` lists every protocol rule the
simulator was audited against: what it enforces, and what it leaves lenient on purpose.
"""

from __future__ import annotations

from .faults import Faults
from .server import SparkSimulator
from .tokens import count_tokens

__all__ = ["Faults", "SparkSimulator", "count_tokens"]
