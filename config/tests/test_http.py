"""The hang-up check a long streamed response uses: real loopback TCP sockets."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from django.test import RequestFactory

from config.http import hang_up_check, peer_has_closed


@pytest.fixture
def connected() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    yield server, client
    server.close()
    client.close()


def test_an_open_connection_is_a_client_still_there(connected):
    server, _ = connected
    assert peer_has_closed(server) is False


def test_a_pipelined_request_is_a_client_still_there_and_is_not_consumed(connected):
    server, client = connected
    client.sendall(b"GET /next HTTP/1.1\r\n")
    assert peer_has_closed(server) is False
    assert server.recv(100) == b"GET /next HTTP/1.1\r\n"


def test_a_client_that_closed_or_reset_has_gone(connected):
    server, client = connected
    client.close()
    assert peer_has_closed(server) is True


def test_a_reset_connection_has_gone(connected):
    server, client = connected
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    client.close()
    assert peer_has_closed(server) is True


def test_the_check_follows_the_socket_gunicorn_hands_over(connected):
    server, client = connected
    check = hang_up_check(RequestFactory().get("/", **{"gunicorn.socket": server}))
    assert check() is False
    client.close()
    assert check() is True


def test_without_a_socket_the_client_is_always_there():
    assert hang_up_check(RequestFactory().get("/"))() is False
