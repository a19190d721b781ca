"""Free loopback ports, the kernel's pick (free when asked; a test binds them right away)."""

from __future__ import annotations

import socket

__all__ = ["LOOPBACK", "free_port", "free_tcp_port", "free_udp_port"]

LOOPBACK = "127.0.0.1"


def free_port(kind: int = socket.SOCK_STREAM, host: str = LOOPBACK) -> int:
    """A port of ``kind`` (``socket.SOCK_STREAM`` or ``SOCK_DGRAM``) free right now on ``host``."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_tcp_port(host: str = LOOPBACK) -> int:
    return free_port(socket.SOCK_STREAM, host)


def free_udp_port(host: str = LOOPBACK) -> int:
    return free_port(socket.SOCK_DGRAM, host)
