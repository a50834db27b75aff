"""A ``requests`` session whose requests end by a deadline, however the server trickles.

``requests``' timeout bounds each socket read, not a request: a server that sends its
status line and headers one line a second holds the delivery thread for as long as it
likes. Here every socket the session's connection pools open gets a class of its own
(a subclass with no state, swapped in after the connection is made) whose reads and
writes first set the socket's timeout to what is left of the request's
:class:`Deadline` — and fail at once when nothing is left. Connecting, sending the body,
the status line, the headers and the body of the answer therefore share one bound.

No thread, no signal: the check runs on the thread that sends. When shutdown or the exit
runs out of time while a request is on the wire, :meth:`Deadline.abort` ends it from the
waiting thread, so that its events can still be spooled or counted. A socket that is not
a plain or TLS socket (TLS inside a TLS proxy tunnel) keeps ``requests``' own timeouts.
"""

from __future__ import annotations

import socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Deadline:
    """When the request under way must be over (``time.monotonic()``), or ``None``."""

    __slots__ = ("at", "idle_timeout", "sock")

    def __init__(self, idle_timeout: float) -> None:
        self.at: float | None = None
        self.idle_timeout = idle_timeout
        """The socket timeout between requests."""
        self.sock: socket.socket | None = None
        """The socket the request under way last used."""

    def abort(self) -> None:
        """End the request under way now, from another thread: its socket is shut down,
        which wakes a read or write blocked on it."""
        sock = self.sock
        if self.at is None or sock is None:
            return
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the OS call, TLS or not
        except OSError:
            pass  # closed meanwhile

    def left(self) -> float:
        """Seconds left; raises ``socket.timeout`` once there are none."""
        at = self.at
        if at is None:
            return self.idle_timeout
        remaining = at - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the request ran out of time (the transport's deadline)")
        return remaining


def session(deadline: Deadline, user_agent: str) -> Any:
    """A ``requests.Session`` with one pooled connection per scheme, no redirects followed
    by default, and sockets bound by ``deadline``."""
    import requests

    pools = _pool_classes(deadline)
    adapter_class: Any = requests.adapters.HTTPAdapter

    class Adapter(adapter_class):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: Any, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    made = requests.Session()
    adapter = Adapter(pool_connections=1, pool_maxsize=1)
    made.mount("http://", adapter)
    made.mount("https://", adapter)
    made.headers["User-Agent"] = user_agent
    return made


_STANDARD_SOCKET_MODULES = ("socket", "ssl")
"""Where the socket classes whose reads and writes are bounded come from: the standard
library's. A monkey-patched socket (gevent, eventlet) has methods of other shapes."""


def _pool_classes(deadline: Deadline) -> dict[str, type]:
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    bound: dict[type, type] = {}

    def bind(connection: Any) -> None:
        sock = getattr(connection, "sock", None)
        if sock is None or not isinstance(sock, socket.socket):
            return
        base = type(sock)
        if base.__module__ not in _STANDARD_SOCKET_MODULES:
            return  # gevent's or eventlet's cooperative socket: requests' timeouts apply
        kind = bound.get(base)
        if kind is None:
            kind = bound[base] = _bounded_socket_class(base, deadline)
        try:
            sock.__class__ = kind
        except TypeError:  # an unusual socket class: requests' timeouts still apply
            pass

    plain_connection: Any = HTTPConnectionPool.ConnectionCls
    secure_connection: Any = HTTPSConnectionPool.ConnectionCls

    class Connection(plain_connection):  # type: ignore[misc]
        def connect(self) -> None:
            super().connect()
            bind(self)

    class SecureConnection(secure_connection):  # type: ignore[misc]
        def connect(self) -> None:
            super().connect()
            bind(self)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


def _bounded_socket_class(base: type, deadline: Deadline) -> type:
    """A stateless subclass of ``base`` whose reads and writes respect ``deadline``."""
    receive_into: Any = base.recv_into  # type: ignore[attr-defined]
    receive: Any = base.recv  # type: ignore[attr-defined]
    send_all: Any = base.sendall  # type: ignore[attr-defined]
    send_one: Any = base.send  # type: ignore[attr-defined]

    class Bounded(base):  # type: ignore[misc]
        __slots__ = ()

        def recv_into(self, *args: Any) -> Any:
            deadline.sock = self
            self.settimeout(deadline.left())
            return receive_into(self, *args)

        def recv(self, *args: Any) -> Any:
            deadline.sock = self
            self.settimeout(deadline.left())
            return receive(self, *args)

        def sendall(self, *args: Any) -> Any:
            deadline.sock = self
            self.settimeout(deadline.left())
            return send_all(self, *args)

        def send(self, *args: Any) -> Any:
            deadline.sock = self
            self.settimeout(deadline.left())
            return send_one(self, *args)

    Bounded.__name__ = Bounded.__qualname__ = f"Bounded{base.__name__}"
    return Bounded
