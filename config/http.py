"""Facts about the HTTP client that several apps need."""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of us.

    With N trusted proxies the client is the N-th address from the right of
    X-Forwarded-For; anything further left is client-supplied and ignored, so
    a spoofed header never changes a rate-limit bucket.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def hang_up_check(request: HttpRequest) -> Callable[[], bool]:
    """A check, cheap enough to call between blocks of a long streamed response, of whether the
    client has closed its connection: a download given up (or a benchmark's first-byte probe)
    then stops reading the database instead of computing blocks nobody reads.

    Needs the client's socket, which gunicorn puts in the WSGI environ; elsewhere (the test
    client, TLS ended in gunicorn, another server) the answer is always "still there".
    """
    sock = request.META.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return lambda: False
    return lambda: peer_has_closed(sock)


def peer_has_closed(sock: socket.socket) -> bool:
    """Whether the other end of `sock` has closed it (an orderly FIN or a reset). Never blocks; a
    pipelined request waiting to be read is a client still there."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        events = poller.poll(0)
        if not events:
            return False
        if events[0][1] & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset by the peer, or the socket is already closed
        return True
