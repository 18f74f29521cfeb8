"""The /chat Socket.IO namespace (DESIGN §5): thin, like the blueprints.

Connect authenticates (session cookie or auth={"token": ...}) and subscribes the socket to the
user's rooms. Every client event goes through `_dispatch`: rate limit, check that what opened
the socket is still valid, validate the payload, call a service, and answer through the ack
with {"ok": true, ...} or {"ok": false, "error": {code, message}}. No exception escapes to
python-socketio, so a failing handler never drops the connection or shows a traceback.
"""

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, request
from flask_socketio import ConnectionRefusedError, Namespace, join_room, leave_room
from pydantic import BaseModel
from sqlalchemy.orm import make_transient_to_detached

from app.errors import (
    DATABASE_UNAVAILABLE,
    ApiError,
    BadRequest,
    NotFound,
    RateLimited,
    Unauthorized,
    database_unavailable,
    message_queue_unavailable,
)
from app.extensions import db, socketio
from app.models import RoomMembership, User
from app.realtime.limits import ConnectionLimits
from app.schemas.messages import serialize_message
from app.schemas.realtime import JoinRoomIn, MarkReadIn, RoomRef, SendMessageIn, TypingIn
from app.schemas.rooms import serialize_room
from app.schemas.users import serialize_user
from app.schemas.validation import parse_model
from app.security import SocketIdentity, socket_identity, socket_user
from app.services import events, messaging, presence, rooms, typing
from app.services.room_views import visible_room

log = logging.getLogger(__name__)

CATCH_UP_LIMIT = 100  # messages after since_id in one join_room answer
LATEST_LIMIT = 50  # messages in a join_room answer without since_id
_DISCONNECT_DELAY = 0.05
_LIFECYCLE = ("connect", "disconnect")  # lets the last ack leave before the socket is closed
# How old a socket's last check of its session or token may be when an event arrives. Whatever
# ends a session (sign-out, password change, deactivation, token revocation) disconnects its
# sockets at once (services/events); the re-check bounds how long a lost push leaves one open.
IDENTITY_RECHECK_SECONDS = 2.0


@dataclass
class Connection:
    """What this process knows about one of its sockets."""

    identity: SocketIdentity
    limits: ConnectionLimits
    user: User | None = None  # a detached copy, as of the last check
    checked_at: float = -math.inf


def _detached_copy(user: User) -> User:
    """A copy of the user's columns that belongs to no session, to merge into later ones."""
    columns = sa.inspect(User).column_attrs
    copy = User(**{attribute.key: getattr(user, attribute.key) for attribute in columns})
    make_transient_to_detached(copy)
    return copy


Handler = Callable[..., dict]


def client_event(schema: type[BaseModel]) -> Callable[[Handler], Handler]:
    """Mark a method as a client event whose payload `schema` validates; see `_dispatch`."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def handle(self: "ChatNamespace", payload: object = None, *_extra: object) -> dict:
            return self._dispatch(handler.__name__.removeprefix("on_"), schema, handler, payload)

        return handle

    return decorate


def _error_ack(error: ApiError) -> dict:
    return {"ok": False, **error.to_dict()}


def _as_api_error(error: Exception) -> ApiError:
    """What a client hears about an error: a dependency that is down is a 503, not a bug."""
    if isinstance(error, redis.RedisError):
        return message_queue_unavailable(error)
    if isinstance(error, DATABASE_UNAVAILABLE):
        return database_unavailable(error)
    assert isinstance(error, ApiError)
    return error


class ChatNamespace(Namespace):
    """Live chat for signed-in users: presence, typing, room subscriptions and sending."""

    def __init__(self, app: Flask) -> None:
        super().__init__(events.NAMESPACE)
        self.app = app
        self.connections: dict[str, Connection] = {}
        # Events for a socket that wait until Socket.IO has told the client it is connected.
        self._greetings: dict[str, list[events.Event]] = {}
        self._ticking = False
        self._failing: set[str] = set()  # chores that found Redis unreachable last time

    # -- connection lifecycle -------------------------------------------------------------

    def on_connect(self, auth: object = None) -> None:
        """Authenticate, subscribe to the user's rooms, announce presence; refuse anyone else."""
        try:
            user, identity = socket_identity(auth)
            sid = request.sid
            self.connections[sid] = Connection(identity, ConnectionLimits(self.app.config))
            self._subscribe(user)
            greeting = self._greeting(user, sid)
            if presence.store().add(sid, user.id, identity.kind):
                greeting.append(events.Event("user_online", {"user": serialize_user(user, online=True)}))
            self._greetings[sid] = greeting
        except (ApiError, redis.RedisError, *DATABASE_UNAVAILABLE) as error:
            db.session.rollback()
            self._forget(request.sid)
            refusal = _as_api_error(error)
            raise ConnectionRefusedError(refusal.message, refusal.to_dict()["error"]) from None
        except Exception:
            log.exception("socket connect failed")
            db.session.rollback()
            self._forget(request.sid)
            raise ConnectionRefusedError("Something went wrong on our side.") from None
        self._start_ticker()

    def after_connect(self, sid: str, namespace: str) -> None:
        """Socket.IO has confirmed the connection: now the client may hear its greeting."""
        if namespace != self.namespace:
            return
        for event in self._greetings.pop(sid, []):
            events.publish(event)

    def _subscribe(self, user: User) -> None:
        join_room(events.user_target(user.id))
        memberships = sa.select(RoomMembership.room_id).where(RoomMembership.user_id == user.id)
        for room_id in db.session.scalars(memberships):
            join_room(events.room_target(room_id))

    def _greeting(self, user: User, sid: str) -> list[events.Event]:
        online_ids = presence.store().online_ids() | {user.id}
        online = sa.select(User).where(User.id.in_(online_ids)).order_by(User.name, User.id)
        users = [serialize_user(other, online=True) for other in db.session.scalars(online)]
        me = serialize_user(user, with_email=True, online=True)
        return [
            events.Event("ready", {"user": me}, (sid,)),
            events.Event("online_users", {"users": users}, (sid,)),
        ]

    def on_disconnect(self, reason: object = None) -> None:
        """Forget the socket; the user's last socket going away makes them offline."""
        self._forget(request.sid)
        try:
            user_id, went_offline = presence.store().remove(request.sid)
            if went_offline:
                typing.stop_all_typing(user_id)
                events.publish(events.Event("user_offline", {"user_id": user_id}))
        except redis.RedisError as error:  # presence removes the socket at its next heartbeat
            log.warning("socket %s closed while Redis is unreachable: %s", request.sid, error)
        except Exception:
            log.exception("socket disconnect bookkeeping failed")

    def _forget(self, sid: str) -> None:
        self.connections.pop(sid, None)
        self._greetings.pop(sid, None)

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Route an event; one nobody handles is answered with an error ack, not silence."""
        sid = args[0] if args else None
        # A client may name an event "connect" or "disconnect"; only Socket.IO's own lifecycle
        # calls, made while the socket is not (or no longer) fully connected, reach the handlers.
        if event in _LIFECYCLE:
            handled = not self.server.manager.is_connected(sid, self.namespace)
        else:
            handled = hasattr(self, f"on_{event}")
        if handled:
            return super().trigger_event(event, *args)
        try:
            self._admit(sid, event)
        except ApiError as error:
            return _error_ack(error)
        return _error_ack(NotFound(f"There is no event called {event!r}.", code="unknown_event"))

    # -- the one path every client event takes ----------------------------------------------

    def _dispatch(self, event: str, schema: type[BaseModel], handler: Handler, payload: object) -> dict:
        sid = request.sid
        try:
            user = self._still_signed_in(sid, self._admit(sid, event))
            if not isinstance(payload, dict):
                raise BadRequest("The payload must be a JSON object.", code="invalid_body")
            return {"ok": True, **handler(self, user, parse_model(schema, payload))}
        except (ApiError, redis.RedisError, *DATABASE_UNAVAILABLE) as error:
            db.session.rollback()
            return _error_ack(_as_api_error(error))
        except Exception:
            log.exception("socket event %s failed", event)
            db.session.rollback()
            return _error_ack(ApiError())

    def _still_signed_in(self, sid: str, connection: Connection) -> User:
        """The socket's user, from a query at most every IDENTITY_RECHECK_SECONDS; a busy socket
        sends many events a second, and this check was the costliest part of each."""
        now = time.monotonic()
        if connection.user is not None and now - connection.checked_at < IDENTITY_RECHECK_SECONDS:
            return db.session.merge(connection.user, load=False)
        try:
            user = socket_user(connection.identity)
        except ApiError:
            self._disconnect_soon(sid)
            raise
        connection.user, connection.checked_at = _detached_copy(user), now
        return user

    def _admit(self, sid: str, event: str) -> Connection:
        """The socket's connection, if it is signed in and within its limits; a flood ends it."""
        connection = self.connections.get(sid)
        if connection is None:
            raise Unauthorized("This connection is not signed in.")
        if not connection.limits.allow(event):
            if connection.limits.refused():
                log.warning("socket %s flooded; disconnecting", sid)
                self._disconnect_soon(sid)
            raise RateLimited("Too many events; slow down.")
        return connection

    def _disconnect_soon(self, sid: str) -> None:
        def later() -> None:
            socketio.sleep(_DISCONNECT_DELAY)
            self.disconnect(sid)

        socketio.start_background_task(later)

    # -- client events ----------------------------------------------------------------------

    @client_event(JoinRoomIn)
    def on_join_room(self, user: User, body: JoinRoomIn) -> dict:
        """Join (public rooms) and subscribe; answer the room and the messages to catch up on."""
        view = rooms.join_room(user, body.room_id)
        # Subscribe before reading history: a message sent in between arrives twice (the client
        # keeps one by id) rather than never.
        join_room(events.room_target(view.room.id))
        if body.since_id is None:
            messages, has_more = messaging.list_messages(user, view.room.id, limit=LATEST_LIMIT)
        else:
            messages, has_more = messaging.list_messages(
                user, view.room.id, after=body.since_id, limit=CATCH_UP_LIMIT
            )
        return {
            "room": serialize_room(view),
            "messages": [serialize_message(message) for message in messages],
            "has_more": has_more,
        }

    @client_event(RoomRef)
    def on_leave_room(self, user: User, body: RoomRef) -> dict:
        """Stop this connection's live events for a room; the membership stays."""
        room, _ = visible_room(user, body.room_id)
        leave_room(events.room_target(room.id))
        return {}

    @client_event(SendMessageIn)
    def on_send_message(self, user: User, body: SendMessageIn) -> dict:
        """Post to a room, exactly as POST /rooms/<id>/messages does."""
        message, created = messaging.send_message(user, body.room_id, body.content, body.client_id)
        typing.clear_typing(user.id, body.room_id)
        return {"message": serialize_message(message), "created": created}

    @client_event(TypingIn)
    def on_typing(self, user: User, body: TypingIn) -> dict:
        """Tell the room's other members that the user types (or stopped)."""
        typing.set_typing(user, body.room_id, body.is_typing)
        return {}

    @client_event(MarkReadIn)
    def on_mark_read(self, user: User, body: MarkReadIn) -> dict:
        """Move the read marker forward; answer the unread count left."""
        return {"unread_count": messaging.mark_read(user, body.room_id, body.message_id)}

    # -- housekeeping -------------------------------------------------------------------------

    def _start_ticker(self) -> None:
        if not self._ticking:
            self._ticking = True
            socketio.start_background_task(self._tick)

    def _beat(self) -> None:
        store = presence.store()
        for user_id in store.heartbeat():
            events.publish(events.Event("user_offline", {"user_id": user_id}))
        returned = store.take_returned()
        for user in db.session.scalars(sa.select(User).where(User.id.in_(returned))) if returned else ():
            events.publish(events.Event("user_online", {"user": serialize_user(user, online=True)}))

    def _tick(self) -> None:
        """Once a second: expire typing, renew presence and sweep dead processes.

        Renewing each second (a few Redis commands) is also what repairs presence within a
        second of Redis coming back, emptied by a restart or not; see services/presence.
        """
        while self.server is socketio.server:  # a newer app (tests) took over the extension
            socketio.sleep(1)
            with self.app.app_context():
                for chore in (typing.expire_typing, self._beat):
                    self._do_chore(chore)

    def _do_chore(self, chore: Callable[[], None]) -> None:
        name = chore.__name__
        try:
            chore()
            self._failing.discard(name)
        except redis.RedisError as error:
            if name not in self._failing:  # once per outage, not every second
                log.warning("%s cannot reach Redis: %s", name, error)
            self._failing.add(name)
        except Exception:
            log.exception("realtime housekeeping failed")
        finally:
            db.session.remove()
