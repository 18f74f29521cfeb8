"""The ceiling for bench/socket_delivery.py: a bare python-socketio broadcast server, no database.

It speaks the part of the /chat namespace the benchmark uses, with the same payload shapes
as Parley: `connect` (any token is accepted), `join_room` and `send_message` answered through
the ack, and `new_message` {message} broadcast to the Socket.IO room "room:<id>". Run it as
Parley runs in production, under uWSGI with the gevent loop:

    uwsgi --master --workers 1 --gevent 1000 --http-socket 127.0.0.1:5001 --http-websockets \
          --tcp-nodelay --lazy-apps --module bench.ceiling_server:app

gevent must patch the standard library before anything else is imported, hence the order.
CEILING_REDIS_URL (optional) routes emits through a Redis message queue, as REDIS_URL does in
Parley, so the cost of the queue can be told apart from the cost of the database.
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402
import os  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import socketio  # noqa: E402

NAMESPACE = "/chat"


def _client_manager() -> socketio.Manager | None:
    url = os.environ.get("CEILING_REDIS_URL")
    if not url:
        return None
    return socketio.RedisManager(url, channel=os.environ.get("CEILING_REDIS_CHANNEL", "ceiling"))


sio = socketio.Server(
    async_mode=os.environ.get("SOCKETIO_ASYNC_MODE", "gevent_uwsgi"), client_manager=_client_manager()
)
app = socketio.WSGIApp(sio)
_ids = itertools.count(1)
_users = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@sio.on("connect", namespace=NAMESPACE)
def connect(sid: str, _environ: dict, _auth: dict | None) -> None:
    """Accept anyone; the user is made up per connection."""
    user = {"id": next(_users), "name": "ceiling", "avatar_url": None}
    sio.save_session(sid, {"user": user}, namespace=NAMESPACE)
    sio.emit("ready", {"user": user}, to=sid, namespace=NAMESPACE)
    sio.emit("online_users", {"users": []}, to=sid, namespace=NAMESPACE)


@sio.on("join_room", namespace=NAMESPACE)
def join_room(sid: str, data: dict) -> dict:
    """Subscribe this connection to the room."""
    room_id = int(data["room_id"])
    sio.enter_room(sid, f"room:{room_id}", namespace=NAMESPACE)
    return {"ok": True, "room": {"id": room_id}, "messages": [], "has_more": False}


@sio.on("send_message", namespace=NAMESPACE)
def send_message(sid: str, data: dict) -> dict:
    """Broadcast the message to the room (the sender included, as Parley does) and ack it."""
    user = sio.get_session(sid, namespace=NAMESPACE)["user"]
    room_id = int(data["room_id"])
    message = {
        "id": next(_ids),
        "room_id": room_id,
        "author": user,
        "content": data["content"],
        "client_id": data.get("client_id"),
        "created_at": _now(),
        "edited_at": None,
        "deleted": False,
    }
    sio.emit("new_message", {"message": message}, to=f"room:{room_id}", namespace=NAMESPACE)
    return {"ok": True, "message": message, "created": True}
