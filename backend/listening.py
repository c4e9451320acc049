"""The backend's listening socket, bound before anything starts: its URL is known at once,
and a request sent while the backend is still starting waits in the backlog instead of being
refused. Standard library only: the console binds it before it imports anything else."""

from __future__ import annotations

import socket

BACKLOG = 128  # connections that may wait while the backend starts


class LauncherError(RuntimeError):
    """The backend could not be started; the message says why in one line."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port), inheritable by a child."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a response written in two parts waits ~40 ms for the delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A restart on the same port must not wait for TIME_WAIT to expire.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise LauncherError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
