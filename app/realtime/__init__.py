"""The Socket.IO side of Parley: the /chat namespace and what it needs per app."""

import socketio as python_socketio
from flask import Flask

from app.extensions import socketio
from app.realtime.limits import CONFIG_KEYS, parse_limit
from app.realtime.namespace import ChatNamespace
from app.services.events import NAMESPACE
from app.services.presence import init_presence
from app.services.typing import init_typing


def _client_manager(app: Flask) -> python_socketio.Manager:
    # Built here, not by Flask-SocketIO: it would keep a Redis manager from an earlier app.
    url = app.config["REDIS_URL"]
    if url:
        return python_socketio.RedisManager(url, channel=f"{app.config['REDIS_PREFIX']}-socketio")
    return python_socketio.Manager()


def init_realtime(app: Flask) -> None:
    """Bind Socket.IO to the app with Parley's settings and register the /chat namespace."""
    for key in CONFIG_KEYS.values():
        parse_limit(app.config[key])  # a malformed limit fails at start, not at the first event
    origins = app.config["CORS_ORIGINS"]
    socketio.init_app(
        app,
        client_manager=_client_manager(app),
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        # None: only the app's own origin may open a socket.
        cors_allowed_origins=[app.config["PUBLIC_URL"], *origins] if origins else None,
        # Only /chat: the default namespace refuses every connection.
        namespaces=[NAMESPACE],
        max_http_buffer_size=app.config["SOCKET_MAX_FRAME_BYTES"],
    )
    init_presence(app)
    init_typing(app)
    socketio.on_namespace(ChatNamespace(app))
