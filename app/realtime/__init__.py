"""The Socket.IO side of Parley: the /chat namespace and what it needs per app."""

import logging
from collections.abc import Callable, Iterator

import redis
import socketio as python_socketio
from flask import Flask

from app.errors import NotFound
from app.extensions import socketio
from app.realtime.limits import CONFIG_KEYS, parse_limit
from app.realtime.namespace import ChatNamespace
from app.services.events import NAMESPACE
from app.services.presence import init_presence
from app.services.typing import init_typing

log = logging.getLogger(__name__)


class _Confirming:
    """A client manager that tells the namespace when a connection has been confirmed.

    python-socketio confirms a connection only after the connect handler returns, so anything
    the handler emits would reach the client before it counts as connected.
    """

    after_connect: Callable[[str, str], None]

    def connect(self, sid: str, namespace: str) -> str:
        sid = super().connect(sid, namespace)  # type: ignore[misc]
        try:
            self.after_connect(sid, namespace)
        except Exception:  # the connection stands even if its greeting could not be sent
            log.exception("greeting socket %s failed", sid)
        return sid


class _LocalManager(_Confirming, python_socketio.Manager):
    pass


# After losing Redis the queue listener tries again after 0.5 s, doubling up to 2 s.
# python-socketio's own back-off doubles up to 60 s: after an outage of a minute, a process
# would stay deaf to the other processes' events for up to a minute more.
QUEUE_RETRY_FIRST = 0.5
QUEUE_RETRY_MAX = 2.0


class _RedisManager(_Confirming, python_socketio.RedisManager):
    """The Redis message queue, resubscribing within QUEUE_RETRY_MAX s once Redis is back and
    telling /health whether it listens right now."""

    # None until the first Socket.IO connection starts the listener (python-socketio starts
    # it then); True while subscribed; False from a lost connection until resubscribed.
    listening: bool | None = None

    def _redis_listen_with_retries(self) -> Iterator[dict]:
        delay = QUEUE_RETRY_FIRST
        while True:
            pubsub = None
            try:
                self._redis_connect()
                pubsub = self.pubsub  # a failing publish may replace self.pubsub meanwhile
                pubsub.subscribe(self.channel)
                if self.listening is False:
                    log.warning("message queue: listening again")
                self.listening, delay = True, QUEUE_RETRY_FIRST
                yield from pubsub.listen()
            # Anything: a listener that ends leaves this process deaf to the others for good.
            except Exception as error:
                if self.listening is not False:
                    log.warning(
                        "message queue: lost Redis (%s); retrying every %.1f s at most",
                        error,
                        QUEUE_RETRY_MAX,
                    )
            self.listening = False
            if pubsub is not None:
                _close_quietly(pubsub)
            self.server.sleep(delay)
            delay = min(delay * 2, QUEUE_RETRY_MAX)


def _close_quietly(pubsub: redis.client.PubSub) -> None:
    """Drop a broken subscription's connection (closing a dead socket may raise again)."""
    try:
        pubsub.close()
    except Exception:
        log.debug("closing a broken subscription failed", exc_info=True)


_QUEUE = "parley_message_queue"


def _client_manager(app: Flask, after_connect: Callable[[str, str], None]) -> python_socketio.Manager:
    # Built here, not by Flask-SocketIO: it would keep a Redis manager from an earlier app.
    url, channel = app.config["REDIS_URL"], f"{app.config['REDIS_PREFIX']}-socketio"
    manager = _RedisManager(url, channel=channel) if url else _LocalManager()
    manager.after_connect = after_connect
    app.extensions[_QUEUE] = manager
    return manager


def queue_listening(app: Flask) -> bool:
    """False while this process has lost its subscription to the message queue."""
    return getattr(app.extensions.get(_QUEUE), "listening", None) is not False


def init_realtime(app: Flask) -> None:
    """Bind Socket.IO to the app with Parley's settings and register the /chat namespace."""
    for key in CONFIG_KEYS.values():
        parse_limit(app.config[key])  # a malformed limit fails at start, not at the first event
    origins = app.config["CORS_ORIGINS"]
    namespace = ChatNamespace(app)
    socketio.init_app(
        app,
        client_manager=_client_manager(app, namespace.after_connect),
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        # None: only the app's own origin may open a socket.
        cors_allowed_origins=[app.config["PUBLIC_URL"], *origins] if origins else None,
        # Only /chat: the default namespace refuses every connection.
        namespaces=[NAMESPACE],
        max_http_buffer_size=app.config["SOCKET_MAX_FRAME_BYTES"],
    )
    _route_socketio_path(app)
    init_presence(app)
    init_typing(app)
    socketio.on_namespace(namespace)


def _route_socketio_path(app: Flask) -> None:
    """Give Flask a rule for the Socket.IO path, which Socket.IO's middleware answers first.

    Flask-SocketIO runs every event in a request context built from the handshake's request.
    Without a rule for its path, Flask raises and keeps a NotFound in each of those contexts,
    whose traceback ties some sixty objects into a cycle: garbage that only the cyclic
    collector frees, in pauses that stall every socket of a gevent worker.
    """

    def answered_by_socketio() -> None:
        raise NotFound("Socket.IO answers at this path.")

    app.add_url_rule(
        "/socket.io/", "socketio", answered_by_socketio, methods=["GET", "POST"], strict_slashes=False
    )
