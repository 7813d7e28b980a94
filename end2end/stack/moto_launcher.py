"""Runs moto's server with moto_plugin applied, on loopback.

Why not `moto_server`: the plugin patches moto's classes in-process, so it must be imported in
the server's own interpreter before the first request, and its control routes
(/signalbox-moto/...) need to sit in front of moto's WSGI app. Everything else is moto's own
server: same dispatcher, same request handler, same /moto-api endpoints.

The launcher itself also serves the request counter per service and per operation
(/signalbox-moto/requests) and fault injection per AWS operation (/signalbox-moto/faults, see `Faults`):
an AWS error instead of moto's answer, and/or a delay before the request reaches moto or after moto
has answered (a request applied whose answer is held back).

    python moto_launcher.py [--port 4566] [--host 127.0.0.1] [--verbose] [--exit-with-parent]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

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


# --- Fault injection -------------------------------------------------------------------------------
#
# A fault makes the requests for one AWS operation answer an AWS-shaped error instead of reaching
# moto, in the wire protocol the request used, so the SDK classifies it like a real one; and/or holds
# them `delay_ms`, before they reach moto (phase "before") or, without a code, after moto has answered
# (phase "after": the request is applied, its answer held back). With `drop`, no answer at all: the
# connection is shut after the hold, before moto sees the request (phase "before") or after moto applied it
# (phase "after") — what a reset connection or a load balancer's idle cut looks like to the SDK. The operation
# is read from, in order: the `Action` query parameter (awsQuery GET), `X-Amz-Target` (awsJson 1.0/1.1:
# "AmazonEC2ContainerServiceV20141113.ListTasks", "GraniteServiceVersion20100801.DescribeAlarms"), the
# Smithy RPC v2 path (/service/GraniteServiceVersion20100801/operation/DescribeAlarms), and the `Action`
# of a form-encoded body (awsQuery POST: CloudWatch through aws-sdk-cloudwatch 1.99, ELBv2, EC2, ...).

FAULT_FIELDS = {"operation", "code", "status", "message", "count", "service", "account_id", "region",
                "delay_ms", "phase", "drop"}
FAULT_PHASES = ("before", "after")
MAX_DELAY_MS = 600_000  # a held request keeps a server thread: 10 minutes at most
# Friendly names for the SigV4 credential-scope service a fault may be restricted to.
SERVICE_ALIASES = {"cloudwatch": "monitoring", "elbv2": "elasticloadbalancing",
                   "elasticloadbalancingv2": "elasticloadbalancing", "cloudwatchlogs": "logs"}
# Services whose awsJson/CBOR errors carry `x-amzn-query-error` (the awsQueryCompatible trait), so SDKs
# that know the service's query-era error codes read the code from there.
QUERY_COMPATIBLE = {"monitoring"}


def credential_region(environ: dict) -> str:
    """The region of the SigV4 credential scope, e.g. "us-west-2", or "unsigned"."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    return scope[2] if len(scope) > 2 else "unsigned"


def credential_service(environ: dict) -> str:
    """The service of the SigV4 credential scope, e.g. "monitoring", or "unsigned"."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    return scope[3] if len(scope) > 3 else "unsigned"


def request_account(environ: dict) -> str:
    """The emulated account a request addresses, as moto picks it (its IAM access-key lookup aside)."""
    from moto.core import DEFAULT_ACCOUNT_ID

    return (os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
            or DEFAULT_ACCOUNT_ID)


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 0x100:
        head = bytes([0x78, n])
    elif n < 0x10000:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x7A]) + n.to_bytes(4, "big")
    return head + data


def cbor_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text to text: all an RPC v2 error body needs (moto 5.2.5 has no CBOR encoder)."""
    assert len(fields) < 24
    return bytes([0xA0 | len(fields)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in fields.items())


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Faults:
    """Active faults, matched per request. Thread-safe: the server is threaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._faults)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self, ids: list[str] | None = None) -> int:
        """Removes the faults with these ids, or all of them."""
        with self._lock:
            n = len(self._faults)
            self._faults = [f for f in self._faults if ids is not None and f["id"] not in ids]
            return n - len(self._faults)

    def add(self, spec: Any) -> tuple[int, dict]:
        """Validates and installs one fault; a fault for the same operation and service replaces it."""
        allowed = ", ".join(sorted(FAULT_FIELDS))
        if not isinstance(spec, dict):
            return 400, {"error": f"expected a JSON object with the fields {allowed}"}
        unknown = sorted(set(spec) - FAULT_FIELDS)
        if unknown:
            return 400, {"error": f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}"}
        if not isinstance(spec.get("operation"), str) or not spec["operation"].strip():
            return 400, {"error": f"'operation' must be a non-empty string (fields: {allowed})"}
        delay = spec.get("delay_ms")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int)
                                  or not 0 <= delay <= MAX_DELAY_MS):
            return 400, {"error": f"'delay_ms' must be null or an integer number of milliseconds, 0..{MAX_DELAY_MS}"}
        code = spec.get("code")
        drop = spec.get("drop", False)
        if not isinstance(drop, bool):
            return 400, {"error": "'drop' must be true (close the connection without an answer) or false"}
        if drop and spec.get("code") is not None:
            return 400, {"error": "'drop' takes no 'code': a dropped connection carries no answer"}
        if code is None and delay is None and not drop:
            return 400, {"error": "'code' is required unless 'delay_ms' or 'drop' is given (a delay alone lets the "
                                  f"request through to moto; fields: {allowed})"}
        if code is not None and (not isinstance(code, str) or not code.strip()):
            return 400, {"error": f"'code' must be a non-empty string, or absent with 'delay_ms' (fields: {allowed})"}
        phase = spec.get("phase", "before")
        if phase not in FAULT_PHASES:
            return 400, {"error": "'phase' must be \"before\" (hold the request, then forward it or answer the "
                                  "error) or \"after\" (forward it, then hold moto's answer)"}
        if code is not None and phase == "after":
            return 400, {"error": "'phase' \"after\" takes no 'code': a fault with a code is answered instead of "
                                  "reaching moto, so there is no \"after\" (drop 'code' to hold moto's real answer)"}
        if code is None and ("status" in spec or "message" in spec):
            return 400, {"error": "'status' and 'message' describe the error of a 'code': without one the request "
                                  "reaches moto and gets moto's answer"}
        status = spec.get("status", 400)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            return 400, {"error": "'status' must be an HTTP error status, 400..599"}
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            return 400, {"error": "'count' must be null (every request) or a positive integer"}
        message = spec.get("message", "Injected by signalbox-moto")
        if not isinstance(message, str):
            return 400, {"error": "'message' must be a string"}
        service = spec.get("service")
        if service is not None and (not isinstance(service, str) or not service.strip()):
            return 400, {"error": "'service' must be a non-empty string, e.g. ecs, cloudwatch, elasticloadbalancing"}
        if service is not None:
            service = service.strip().lower()
            service = SERVICE_ALIASES.get(service, service)
        account = spec.get("account_id")
        if account is not None and (not isinstance(account, str) or not account.strip()):
            return 400, {"error": "'account_id' must be a non-empty string (the x-moto-account-id of the requests)"}
        region = spec.get("region")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            return 400, {"error": "'region' must be a non-empty string, e.g. us-west-2 (the request's signing region)"}
        fault = {"id": uuid.uuid4().hex[:8], "operation": spec["operation"].strip(), "service": service,
                 "region": region and region.strip(), "account_id": account and account.strip(),
                 "code": code and code.strip(), "status": status if code else None,
                 "message": message if code else None, "delay_ms": delay, "phase": phase, "drop": drop,
                 "remaining": count, "hits": 0}
        with self._lock:
            key = ("operation", "service", "region", "account_id")
            self._faults = [f for f in self._faults if [f[k] for k in key] != [fault[k] for k in key]]
            self._faults.append(fault)
            return 200, {"fault": dict(fault), "faults": [dict(f) for f in self._faults]}

    def take(self, environ: dict, service: str, operation: str | None = None) -> dict | None:
        """The fault this request trips, if any; spends one of its `count`."""
        operation = operation or request_operation(environ)
        if not operation:
            return None
        account = request_account(environ)
        with self._lock:
            for f in self._faults:
                if (f["operation"] == operation and f["service"] in (None, service)
                        and f["region"] in (None, credential_region(environ))
                        and f["account_id"] in (None, account)):
                    f["hits"] += 1
                    if f["remaining"] is not None:
                        f["remaining"] -= 1
                        if f["remaining"] <= 0:
                            self._faults.remove(f)
                    return dict(f)
        return None


def request_operation(environ: dict) -> str | None:
    """The AWS operation a request calls, in any of the RPC protocols (see the comment above)."""
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if len(parts) == 4 and parts[0] == "service" and parts[2] == "operation":
        return parts[3]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        # Read the body and put it back, so moto still gets it if no fault matches.
        from werkzeug.wsgi import get_input_stream

        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return None


def fault_response(environ: dict, fault: dict, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error, in the protocol of the request."""
    request_id = str(uuid.uuid4())
    code, message, status = fault["code"], fault["message"], fault["status"]
    sender = "Sender" if status < 500 else "Receiver"
    content_type = environ.get("CONTENT_TYPE", "")
    path = environ.get("PATH_INFO", "")
    headers = [("x-amzn-RequestId", request_id)]
    if service in QUERY_COMPATIBLE:
        headers.append(("x-amzn-query-error", f"{code};{sender}"))
    if (environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor" or content_type.startswith("application/cbor")
            or path.startswith("/service/")):
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        return status, headers, cbor_map({"__type": code, "message": message})
    if environ.get("HTTP_X_AMZ_TARGET") or content_type.startswith("application/x-amz-json"):
        json_type = content_type if content_type.startswith("application/x-amz-json") else "application/x-amz-json-1.1"
        headers += [("Content-Type", json_type), ("x-amzn-errortype", code)]
        return status, headers, json.dumps({"__type": code, "message": message}).encode()
    code_x, message_x = _xml_escape(code), _xml_escape(message)
    if service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code_x}</Code>'
                f"<Message>{message_x}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
    else:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{sender}</Type>'
                f"<Code>{code_x}</Code><Message>{message_x}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    headers.append(("Content-Type", "text/xml"))
    return status, headers, body.encode()


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
    # AWS requests served, per service (from the SigV4 credential scope) and per "service:Operation": tests read
    # them to show that the console's AWS traffic does not grow with its viewers, and which calls it made.
    # Counted when a request arrives, before a fault holds it or moto answers it.
    # GET /signalbox-moto/requests, POST …/requests/reset.
    counts: dict[str, int] = {}
    op_counts: dict[str, int] = {}
    counts_lock = threading.Lock()

    # Injected AWS errors per operation: POST /signalbox-moto/faults, GET to list, DELETE (or POST …/clear) to clear.
    faults = Faults()

    def count(service: str, operation: str | None) -> None:
        # "?" for a request whose operation is not in the request line/headers/form (REST protocols):
        # by_operation then still sums to total.
        key = f"{service}:{operation or '?'}"
        with counts_lock:
            counts[service] = counts.get(service, 0) + 1
            op_counts[key] = op_counts.get(key, 0) + 1

    def forward_then_hold(environ: dict, start_response: Callable, seconds: float) -> Iterable[bytes]:
        """moto handles the request (it is applied) and answers; the answer is sent `seconds` later."""
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        body = moto_app(environ, capture)
        try:
            for chunk in body:
                chunks.append(chunk)
        finally:
            if hasattr(body, "close"):
                body.close()
        time.sleep(seconds)
        # If the client went away meanwhile, werkzeug notices on the write and drops the connection quietly.
        start_response(captured["status"], captured["headers"])
        return [b"".join(chunks)]

    def apply_then_drop(environ: dict, start_response: Callable, seconds: float, apply: bool) -> Iterable[bytes]:
        """Shuts the connection without an answer, `seconds` after the request arrived; with `apply`, moto handles
        the request first (the change is made, its answer never leaves)."""
        if apply:
            body = moto_app(environ, lambda *_args: (lambda _chunk: None))
            try:
                for _ in body:
                    pass
            finally:
                if hasattr(body, "close"):
                    body.close()
        time.sleep(seconds)
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # werkzeug's write of this answer meets the closed socket and drops the connection quietly.
        start_response("500 Dropped", [("Content-Length", "0")])
        return [b""]

    def json_response(status: int, body: Any) -> Response:
        return Response(json.dumps(body, default=str), status=status, mimetype="application/json")

    def faults_route(req: Request, path: str) -> Response:
        if path == "/signalbox-moto/faults/clear" and req.method == "POST" or (
                path == "/signalbox-moto/faults" and req.method == "DELETE"):
            ids = req.args.getlist("id") or None  # ?id=… clears only those faults
            return json_response(200, {"cleared": faults.clear(ids), "faults": faults.list()})
        if path == "/signalbox-moto/faults" and req.method == "GET":
            return json_response(200, {"faults": faults.list()})
        if path == "/signalbox-moto/faults" and req.method == "POST":
            try:
                spec = json.loads(req.get_data() or b"null")
            except ValueError as e:
                return json_response(400, {"error": f"invalid JSON: {e}"})
            return json_response(*faults.add(spec))
        return json_response(405 if path == "/signalbox-moto/faults" else 404,
                             {"error": f"{req.method} {path}: use GET|POST|DELETE /signalbox-moto/faults "
                                       "or POST /signalbox-moto/faults/clear"})

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/signalbox-moto/requests", "/signalbox-moto/requests/reset"):
            with counts_lock:
                if path.endswith("/reset"):
                    counts.clear()
                    op_counts.clear()
                body = {"total": sum(counts.values()), "by_service": dict(counts), "by_operation": dict(op_counts)}
            return Response(json.dumps(body), mimetype="application/json")(environ, start_response)
        if path == "/signalbox-moto/faults" or path.startswith("/signalbox-moto/faults/"):
            return faults_route(Request(environ), path)(environ, start_response)
        if path.startswith("/signalbox-moto/"):
            req = Request(environ)
            status, body = moto_plugin.handle_control(req.method, path, req.get_data())
            resp = Response(json.dumps(body, default=str), status=status,
                            mimetype="application/json")
            return resp(environ, start_response)
        if not path.startswith("/moto-api"):
            service = credential_service(environ)
            operation = request_operation(environ)
            # Counted first: a faulted request is still a request the console made, and a held one has arrived
            # (a test polls by_operation to know that a call reached the emulator before its answer).
            count(service, operation)
            fault = faults.take(environ, service, operation) if faults else None
            if fault:
                delay = (fault["delay_ms"] or 0) / 1000.0
                if fault["drop"]:
                    return apply_then_drop(environ, start_response, delay, fault["phase"] == "after")
                if fault["code"] is None and fault["phase"] == "after":
                    return forward_then_hold(environ, start_response, delay)
                if delay:
                    time.sleep(delay)
                if fault["code"] is not None:
                    status, headers, body = fault_response(environ, fault, service)
                    return Response(body, status=status, headers=headers)(environ, start_response)
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
