"""The kubelet's log endpoint: `GET /containerLogs/<namespace>/<pod>/<container>` over HTTPS.

The API server answers `pods/log` by proxying to this endpoint at the node's InternalIP and
`daemonEndpoints.kubeletEndpoint.Port`, with the kubelet's query (follow, previous, timestamps,
sinceSeconds, sinceTime, tailLines, limitBytes). Without `--kubelet-certificate-authority` the API
server does not verify the node's certificate, so a self-signed one (made once per state folder)
serves. Log files hold CRI lines: `<RFC 3339 time> stdout F <text>`.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import ipaddress
import logging
import pathlib
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)

# How often a followed log is checked for new lines; the kubelet follows with inotify.
FOLLOW_POLL_S = 0.2
CERT_VALIDITY = datetime.timedelta(days=365)


@dataclasses.dataclass(frozen=True)
class ContainerLogs:
    """A container's log files, oldest instance first, and whether its current instance still runs."""

    instances: list[pathlib.Path]
    running: Callable[[], bool]


Lookup = Callable[[str, str, str], ContainerLogs | None]


def certificate(folder: pathlib.Path, *, host: str) -> tuple[pathlib.Path, pathlib.Path]:
    """A self-signed serving certificate and key for `host` under `folder` (made on first use)."""
    cert_path, key_path = folder / "kubelet.crt", folder / "kubelet.key"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubeflow-mnist-node@{host}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _parse(line: str) -> tuple[str, str]:
    """(timestamp, text) of a CRI log line."""
    parts = line.rstrip("\n").split(" ", 3)
    return (parts[0], parts[3]) if len(parts) == 4 else ("", line.rstrip("\n"))


def _since(query: dict[str, str], now: datetime.datetime) -> str:
    if "sinceSeconds" in query:
        return (now - datetime.timedelta(seconds=int(query["sinceSeconds"]))).strftime("%Y-%m-%dT%H:%M:%S.%f")
    if "sinceTime" in query:
        return query["sinceTime"].rstrip("Z")
    return ""


def _format(line: str, *, timestamps: bool, since: str) -> str | None:
    stamp, text = _parse(line)
    if since and stamp.rstrip("Z")[: len(since)] < since:
        return None
    return f"{stamp} {text}\n" if timestamps else f"{text}\n"


def render(logs: ContainerLogs, query: dict[str, str], *, now: datetime.datetime) -> Iterator[bytes]:
    """The response body for `query`, as the kubelet writes it (a generator; follows when asked)."""
    previous = query.get("previous") == "true"
    if previous and len(logs.instances) < 2:
        return
    path = logs.instances[-2] if previous else logs.instances[-1]
    timestamps, since = query.get("timestamps") == "true", _since(query, now)
    limit = int(query["limitBytes"]) if "limitBytes" in query else None
    sent = 0
    with path.open(encoding="utf-8", errors="replace") as file:
        lines = file.readlines()
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) > 0 else []
        pending = [text for line in lines if (text := _format(line, timestamps=timestamps, since=since))]
        follow = query.get("follow") == "true" and not previous
        while True:
            for text in pending:
                data = text.encode()
                if limit is not None and sent + len(data) > limit:
                    yield data[: limit - sent]
                    return
                sent += len(data)
                yield data
            pending = []
            if not follow:
                return
            line = file.readline()
            while line:
                if (text := _format(line, timestamps=timestamps, since=since)) is not None:
                    pending.append(text)
                line = file.readline()
            if not pending:
                if not logs.running() and path == logs.instances[-1]:
                    return
                time.sleep(FOLLOW_POLL_S)


class LogServer:
    """Serves container logs over HTTPS on `host`:`port` (port 0 picks one) in a background thread."""

    def __init__(self, *, lookup: Lookup, host: str, port: int, cert_dir: pathlib.Path) -> None:
        cert, key = certificate(cert_dir, host=host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = _handler(lookup)
        self._server = http.server.ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="node-logs", daemon=True)

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler(lookup: Lookup) -> type[http.server.BaseHTTPRequestHandler]:
    class _Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            logger.debug("log endpoint: " + format, *args)

        def _fail(self, code: int, message: str) -> None:
            body = message.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._fail(404, f"{url.path} is not served by this node (only /containerLogs/<ns>/<pod>/<container>)")
                return
            namespace, pod, container = parts[1:]
            logs = lookup(namespace, pod, container)
            if logs is None or not logs.instances:
                self._fail(404, f"container {container!r} of pod {namespace}/{pod} has no logs on this node")
                return
            query = dict(urllib.parse.parse_qsl(url.query))
            if query.get("previous") == "true" and len(logs.instances) < 2:
                self._fail(400, f'previous terminated container "{container}" in pod "{pod}" not found')
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for chunk in render(logs, query, now=datetime.datetime.now(datetime.UTC)):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                return

    return _Handler
