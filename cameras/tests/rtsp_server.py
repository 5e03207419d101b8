"""A small RTSP server for the tests, in the role a camera (or mediamtx in front of one) plays.

Debian's ffmpeg can publish to an RTSP server (ANNOUNCE/RECORD) but cannot serve
one to clients, and no RTSP server (mediamtx, live555) is in Debian. So this relay
takes ffmpeg's published stream and serves it to RTSP clients: OPTIONS, DESCRIBE
(the publisher's SDP), SETUP over RTP/TCP interleaved (UDP is refused with 461 so
the client falls back, as on cameras behind firewalls), PLAY, keep-alives and
TEARDOWN, with optional Basic authentication for readers. The camera reader under
test is an ordinary RTSP client of it: it connects, authenticates and reads.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from config.processes import stop_process


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class RTSPRelay:
    username: str = ""
    password: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    sdp: bytes = b""
    announced: threading.Event = field(default_factory=threading.Event)
    readers: list[socket.socket] = field(default_factory=list)
    refused_auth: int = 0  # DESCRIBE/SETUP/PLAY answered 401
    plays: int = 0  # readers that reached PLAY

    def start(self) -> RTSPRelay:
        self._server = socket.create_server((self.host, self.port))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # replies and forwarded packets must not interleave
        self._sessions = itertools.count(1001)
        threading.Thread(target=self._accept, daemon=True, name="rtsp-relay").start()
        return self

    def url(self, path: str = "live") -> str:
        return f"rtsp://{self.host}:{self.port}/{path}"

    def stop(self) -> None:
        self._server.close()
        with self._lock:
            for reader in self.readers:
                reader.close()
            self.readers.clear()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        stream = conn.makefile("rb")
        publishing = playing = False
        try:
            while True:
                first = stream.read(1)
                if not first:
                    return
                if first == b"$":  # interleaved RTP/RTCP: channel, length, payload
                    header = stream.read(3)
                    payload = stream.read(int.from_bytes(header[1:3], "big"))
                    if publishing:
                        self._forward(first + header + payload)
                    continue  # a reader's RTCP receiver reports are dropped
                request = self._read_request(first, stream)
                if request is None:
                    return
                status, extra, body = self._answer(request)
                if request.method == "RECORD" and status == 200:
                    publishing = True
                self._reply(conn, request, status, extra, body)
                if request.method == "PLAY" and status == 200 and not playing:
                    playing = True
                    with self._lock:
                        self.readers.append(conn)
                        self.plays += 1
        except OSError:
            return
        finally:
            with self._lock:
                if conn in self.readers:
                    self.readers.remove(conn)
            conn.close()

    @staticmethod
    def _read_request(first: bytes, stream) -> Request | None:
        lines = [first + stream.readline()]
        while lines[-1] not in (b"\r\n", b"\n", b""):
            lines.append(stream.readline())
        if lines[-1] == b"":
            return None
        method, url, _version = lines[0].decode().split(" ", 2)
        headers = {}
        for line in lines[1:-1]:
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = stream.read(int(headers.get("content-length", 0) or 0))
        return Request(method, url, headers, body)

    def _authorised(self, request: Request) -> bool:
        if not self.username:
            return True
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.headers.get("authorization", "") == f"Basic {expected}"

    def _answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        method = request.method
        if method in ("OPTIONS", "GET_PARAMETER", "SET_PARAMETER", "TEARDOWN"):
            return 200, {"Public": "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER"}, b""
        if method == "ANNOUNCE":
            self.sdp = request.body
            return 200, {}, b""
        if method == "RECORD":
            self.announced.set()
            return 200, {}, b""
        playing_side = method in ("DESCRIBE", "PLAY") or (
            method == "SETUP" and "mode=record" not in request.headers.get("transport", "")
        )
        if playing_side and not self._authorised(request):
            self.refused_auth += 1
            return 401, {"WWW-Authenticate": 'Basic realm="campus-test"'}, b""
        if method == "DESCRIBE":
            if not self.announced.is_set():
                return 404, {}, b""
            base = request.url.rstrip("/") + "/"
            return 200, {"Content-Base": base, "Content-Type": "application/sdp"}, self.sdp
        if method == "SETUP":
            transport = request.headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport:
                return 461, {}, b""  # only interleaved TCP; FFmpeg then retries over TCP
            return 200, {"Transport": transport, "Session": str(next(self._sessions))}, b""
        if method == "PLAY":
            return 200, {}, b""
        return 405, {}, b""

    def _reply(self, conn: socket.socket, request: Request, status: int, extra: dict[str, str], body: bytes) -> None:
        reasons = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                   461: "Unsupported Transport"}
        headers = {"CSeq": request.headers.get("cseq", "0"), **extra}
        if "session" in request.headers and "Session" not in headers:
            headers["Session"] = request.headers["session"].split(";")[0]
        if body:
            headers["Content-Length"] = str(len(body))
        head = f"RTSP/1.0 {status} {reasons[status]}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with self._send_lock:
            conn.sendall(head.encode() + b"\r\n" + body)

    def _forward(self, packet: bytes) -> None:
        with self._lock:
            readers = list(self.readers)
        for reader in readers:
            try:
                with self._send_lock:
                    reader.sendall(packet)
            except OSError:
                with self._lock:
                    if reader in self.readers:
                        self.readers.remove(reader)


@contextlib.contextmanager
def ffmpeg_publishing(video: Path, relay: RTSPRelay, log: Path) -> Iterator[subprocess.Popen]:
    """Debian's ffmpeg publishes `video` (looped, in real time, H.264) to the relay until the block ends."""
    with log.open("ab") as sink:
        publisher = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(video),
             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p",
             "-rtsp_transport", "tcp", "-f", "rtsp", relay.url()],
            stdout=sink, stderr=sink,
        )
    try:
        if not relay.announced.wait(20):
            raise RuntimeError(f"ffmpeg did not publish to the relay: {log.read_text()[-500:]}")
        yield publisher
    finally:
        stop_process(publisher, timeout=10)
