"""Runs moto's server with moto_plugin applied, on loopback.

Why not `moto_server`: the plugin patches moto's classes in-process, so it must be imported in
the server's own interpreter before the first request, and its control routes
(/signalbox-moto/...) need to sit in front of moto's WSGI app. Everything else is moto's own
server: same dispatcher, same request handler, same /moto-api endpoints.

    python moto_launcher.py [--port 4566] [--host 127.0.0.1] [--verbose] [--exit-with-parent]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _exit_with_parent() -> None:
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address; keep it on loopback (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", 4566)))
    parser.add_argument("--verbose", action="store_true",
                        help="log every request (traffic.py makes many: off by default)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the process that started this one ends (test harnesses "
                             "cannot always stop what they start, e.g. a test binary's statics)")
    args = parser.parse_args(argv)

    if args.exit_with_parent:
        _exit_with_parent()

    # moto builds some URLs (e.g. SQS queue URLs) from MOTO_PORT: keep it in step with the bind.
    os.environ["MOTO_PORT"] = str(args.port)

    from werkzeug.serving import run_simple
    from werkzeug.wrappers import Request, Response
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)

    import moto_plugin

    moto_plugin.apply()

    moto_app = DomainDispatcherApplication(create_backend_app)
    # AWS requests served, per service (from the SigV4 credential scope): tests read them to show that the
    # console's AWS traffic does not grow with its viewers. GET /signalbox-moto/requests, POST …/requests/reset.
    counts: dict[str, int] = {}
    counts_lock = threading.Lock()

    def count(environ: dict) -> None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
        service = scope[3] if len(scope) > 3 else "unsigned"
        with counts_lock:
            counts[service] = counts.get(service, 0) + 1

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/signalbox-moto/requests", "/signalbox-moto/requests/reset"):
            with counts_lock:
                if path.endswith("/reset"):
                    counts.clear()
                body = {"total": sum(counts.values()), "by_service": dict(counts)}
            return Response(json.dumps(body), mimetype="application/json")(environ, start_response)
        if path.startswith("/signalbox-moto/"):
            req = Request(environ)
            status, body = moto_plugin.handle_control(req.method, path, req.get_data())
            resp = Response(json.dumps(body, default=str), status=status,
                            mimetype="application/json")
            return resp(environ, start_response)
        if not path.startswith("/moto-api"):
            count(environ)
        return moto_app(environ, start_response)

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # SIGTERM from `stack down` should end the process cleanly (exit 0), not with a traceback.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    print(f"moto {__import__('moto').__version__} + signalbox plugin {moto_plugin.PLUGIN_VERSION} "
          f"on http://{args.host}:{args.port} (ECS settle {moto_plugin.SETTINGS['ecs_settle_secs']}s)",
          flush=True)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
