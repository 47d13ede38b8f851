"""The ``asgi-spark`` command line: one argparse app with a subcommand per tool.

* ``asgi-spark serve`` runs the gateway with uvicorn (demo mode without a configuration),
  :mod:`.serve`, with a deadline for request headers and a connection cap
  (:mod:`.serve_protocol`); it warns when it listens beyond loopback without ``api_keys``;
* ``asgi-spark check-config PATH`` validates a configuration and prints its models, secrets
  masked;
* ``asgi-spark schema`` prints the JSON Schema of a configuration file (for editors);
* ``asgi-spark simulator`` runs the Spark simulator until Ctrl-C or SIGTERM;
* ``asgi-spark ask "prompt"`` streams one answer from a gateway (the demo without
  ``--base-url``), :mod:`.ask`;
* ``asgi-spark --version``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import sys

from . import __version__
from .adapters.spark.versions import versions
from .ask import add_parser as add_ask_parser
from .config import (
    DEFAULT_HOST,
    DEFAULT_LOG_LEVEL,
    DEFAULT_PORT,
    ConfigError,
    GatewayConfig,
    build_adapters,
    config_schema,
    load_config,
)
from .config.report import settings_lines, shared_pool_warnings
from .config.security import DEFAULT_HEADER_TIMEOUT
from .gateway import CONFIG_ENV
from .serve_cli import add_drain_arguments
from .serve_protocol import open_api_warning
from .simulator import Faults, SparkSimulator
from .simulator.faults import CONNECTION_FIELDS, describe_faults, faults_from_assignments
from .simulator.handshake import MAX_CLOCK_SKEW
from .simulator.server import DEFAULT_IDLE_TIMEOUT
from .simulator.strictness import lenient_lines

#: Not the gateway's 8765, so both run side by side with their defaults.
DEFAULT_SIMULATOR_PORT = 8766


def _simulator_epilog() -> str:
    endpoints = "\n".join(
        f"  {row.path:<16} domain {row.domain:<12} {row.product}" for row in versions()
    )
    lenient = "\n".join(lenient_lines())
    return f"""\
endpoints (the URL path selects the version; the frame's domain must match):
{endpoints}

what it checks, like the real service:
  handshake  signed URL (authorization, date, host); dates within ±{MAX_CLOCK_SKEW:g} s of the
             simulator clock; failures are HTTP 401/403/404 with {{"message": ...}}
  request    one JSON text frame (binary: 10001); app_id (10313), domain (10003), schema,
             ranges and per-version features (10004), prompt tokens over the context (10907);
             a second frame while answering (10007); no frame within --idle-timeout seconds:
             close 1000 "time out"

deliberately lenient (every rule: "How strict the simulator is" in the README):
{lenient}

faults (--fault key=value[,key=value], repeatable; they apply to every connection):
{describe_faults()}
  Counts are answer frames sent first.  If several of error_after, close_after, malformed_after
  and hang_after are set, the smallest count wins.  A text answer gets at least count+1 frames,
  so the fault always fires before the final frame.

prompt directives: put [spark:key=value,key=value] in the last user message to inject the same
faults for that one request, e.g.
  "tell me a joke [spark:error_code=10014,error_after=2]"
  "hello [spark:close_after=1]"   "hello [spark:hang_after=0]"
  "hello [spark:first_frame_delay=0.2,frame_delay=0.05,chunks=5]"
  "hello [spark:answer=\\"fixed text, with a comma\\"]"
Directives are removed from the echoed text.  Values with commas are written in double quotes.
{", ".join(sorted(CONNECTION_FIELDS))} cannot come from a prompt (they act before the
prompt is read): use --fault or SparkSimulator.faults.  A bad directive is answered with a
10004 SchemaCheckError naming it.

The simulator prints one line, "Spark simulator listening on ws://HOST:PORT", when it is ready.
The API secret is never printed.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asgi-spark",
        description="An OpenAI-compatible gateway for iFlytek Spark, and its Spark simulator.",
    )
    parser.add_argument("--version", action="version", version=f"asgi-spark {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = commands.add_parser(
        "simulator",
        help="run an offline Spark WebSocket service",
        description="Run a faithful, offline iFlytek Spark WebSocket chat service.",
        epilog=_simulator_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SIMULATOR_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    sim.add_argument(
        "--app-id", default="demo-app", help="APPID frames must carry (default: %(default)s)"
    )
    sim.add_argument(
        "--api-key", default="demo-key", help="APIKey of the signed URL (default: %(default)s)"
    )
    sim.add_argument(
        "--api-secret",
        default="demo-secret",
        help="APISecret the URL is signed with (default: demo-secret; never printed)",
    )
    sim.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds to wait for the request frame after the handshake (default: %(default)g)",
    )
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="inject a fault into every connection (see below); repeatable",
    )
    sim.set_defaults(handler=functools.partial(_run_simulator, sim))

    serve = commands.add_parser(
        "serve",
        help="run the gateway (demo mode without a configuration)",
        description=(
            "Serve the OpenAI-compatible gateway with uvicorn.  The configuration comes from "
            f"--config, else from ${CONFIG_ENV}; without either (or with --demo) the built-in "
            "Spark simulator is started inside the process and the model 'spark-demo' is served.  "
            "It runs until Ctrl-C or SIGTERM, which drain it first; SIGHUP reloads the "
            "configuration file."
        ),
    )
    serve.add_argument(
        "--config", metavar="PATH", help=f"JSON configuration (default: ${CONFIG_ENV})"
    )
    serve.add_argument(
        "--host", default=None, help="address to listen on (default: the config's, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port (default: the config's, else 8765)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="ignore any configuration and serve the demo model"
    )
    serve.add_argument(
        "--log-level",
        default=None,
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="log level (default: the config's, else info)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default: 1); SIGHUP reloads the configuration in each",
    )
    serve.add_argument(
        "--access-log-format",
        choices=["plain", "json"],
        default=None,
        help="one line per request as key=value pairs or JSON (default: the config's, else plain)",
    )
    serve.add_argument(
        "--no-metrics",
        action="store_true",
        help="do not serve GET /metrics (served when prometheus-client is installed)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=_positive_int,
        default=None,
        metavar="N",
        help="serve at most N connections at once; a request on another one is answered 503 "
        "(default: the config's max_connections, else no limit)",
    )
    serve.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="event loop; auto: uvloop when installed (the 'fast' extra), else asyncio "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--http",
        default="auto",
        choices=["auto", "h11", "httptools"],
        help="HTTP parser; auto: httptools when installed (the 'fast' extra), else h11 "
        "(default: %(default)s)",
    )
    add_drain_arguments(serve)
    serve.set_defaults(handler=_run_serve)

    check = commands.add_parser(
        "check-config",
        help="validate a configuration and print the models it would serve",
        description=(
            "Validate a JSON configuration (ENV: variables are resolved from the environment) "
            "and print the models it would serve with secrets masked.  Exits 1 on any error."
        ),
    )
    check.add_argument("path", metavar="PATH", help="the JSON configuration file")
    check.set_defaults(handler=_run_check_config)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of a configuration file",
        description=(
            "Print the JSON Schema (draft 2020-12) of a configuration file, generated from the "
            "configuration types and the config type of every installed adapter, so an editor "
            "can complete and check models.json.  Save it and point the editor at it, e.g. "
            "asgi-spark schema > asgi-spark.schema.json"
        ),
    )
    schema.set_defaults(handler=_run_schema)
    add_ask_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    status: int = handler(args)
    return status


def _run_simulator(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        faults = faults_from_assignments(args.fault)
    except ValueError as exc:
        parser.error(f"--fault: {exc}")
    try:
        asyncio.run(_simulate(args, faults))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # cannot listen: port taken, bad address
        print(
            f"asgi-spark simulator: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _simulate(args: argparse.Namespace, faults: Faults) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with SparkSimulator(
        app_id=args.app_id,
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        idle_timeout=args.idle_timeout,
        faults=faults,
        record_requests=False,
    ) as sim:
        print(f"Spark simulator listening on {sim.url}", flush=True)
        await stop.wait()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _run_serve(args: argparse.Namespace) -> int:
    from .serve import ServeOptions, run

    path = None if args.demo else (args.config or os.environ.get(CONFIG_ENV) or None)
    config: GatewayConfig | None = None
    if path is not None:
        try:
            config = load_config(path)
            build_adapters(config)  # validates what only the adapters know
        except ConfigError as exc:
            print(f"asgi-spark serve: {exc}", file=sys.stderr)
            return 2
    if args.workers < 1:
        print("asgi-spark serve: --workers must be at least 1", file=sys.stderr)
        return 2
    host = args.host or (config.host if config else DEFAULT_HOST)
    port = args.port if args.port is not None else (config.port if config else DEFAULT_PORT)
    warnings = [open_api_warning(host, port, config)]
    if config is not None:
        warnings += shared_pool_warnings(config, args.workers)
    for warning in warnings:
        if warning is not None:
            print(warning, file=sys.stderr, flush=True)
    max_connections = args.limit_concurrency
    if max_connections is None and config is not None:
        max_connections = config.max_connections
    options = ServeOptions(
        config_path=path,
        host=host,
        port=port,
        log_level=args.log_level or (config.log_level if config else DEFAULT_LOG_LEVEL),
        workers=args.workers,
        metrics=not args.no_metrics,
        access_log_format=args.access_log_format,
        header_timeout=config.header_timeout if config else DEFAULT_HEADER_TIMEOUT,
        max_connections=max_connections,
        loop=args.loop,
        http=args.http,
        drain_delay=args.drain_delay,
        drain_timeout=args.drain_timeout,
    )
    return run(options)


def _run_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.path)
        adapters = build_adapters(config)
    except ConfigError as exc:
        print(f"asgi-spark check-config: {exc}", file=sys.stderr)
        return 1
    print(f"{args.path}: {len(adapters)} model(s) would be served on {config.host}:{config.port}")
    for model_id, adapter in adapters.items():
        print(f"- {model_id}")
        for key, value in adapter.describe().items():
            if key != "id":
                print(f"    {key}: {value}")
    for model_id in config.disabled:
        print(f"- {model_id} (disabled)")
    for line in settings_lines(config):
        print(line)
    return 0


def _run_schema(args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"asgi-spark schema: warning: {message}", file=sys.stderr)

    print(json.dumps(config_schema(warn=warn), indent=2, ensure_ascii=False))
    return 0
