"""Live events: queued while a transaction runs, emitted only once it commits.

Services call `queue(...)` next to the change that causes the event; nothing reaches a client
for a change that rolled back. Emitting goes through Flask-SocketIO's server, so with
REDIS_URL set an event queued in one process reaches sockets connected to every process.

Targets are Socket.IO room names in the /chat namespace: `room:<id>` holds the sockets
subscribed to a chat room, `user:<id>` every socket of one user; no target means everyone.

Besides events, a change may queue what it means for open sockets: a new member's sockets
enter the room (`queue_subscription`), a deleted room's Socket.IO room closes
(`queue_close_room`), signing out or deactivation disconnects sockets (`queue_disconnect`).
These go through Socket.IO's server, so with a message queue they reach sockets held by other
processes too, in the order they were queued.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.extensions import db, socketio
from app.services import presence

log = logging.getLogger(__name__)

NAMESPACE = "/chat"
_PENDING = "parley.pending_events"


@dataclass(frozen=True)
class Event:
    """One server-to-client event of DESIGN §5 and where it goes."""

    name: str
    data: dict
    to: tuple[str, ...] = ()  # Socket.IO rooms; empty means every connected client
    skip_sids: tuple[str, ...] = ()  # sockets left out (typing is never echoed to its sender)


@dataclass(frozen=True)
class Subscription:
    """Every socket of a user enters (or leaves) a chat room's Socket.IO room."""

    user_id: int
    room_id: int
    enter: bool = True


@dataclass(frozen=True)
class CloseRoom:
    """Empty a deleted chat room's Socket.IO room."""

    room_id: int


@dataclass(frozen=True)
class Disconnect:
    """Tell a user's sockets why with `session_ended`, then disconnect them."""

    user_id: int
    reason: str
    kind_prefix: str = ""  # which sockets: "session:", "session:<key>", "token:<id>;"; "" all


Pending = Event | Subscription | CloseRoom | Disconnect
Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def room_target(room_id: int) -> str:
    """The Socket.IO room of a chat room's subscribers."""
    return f"room:{room_id}"


def user_target(user_id: int) -> str:
    """The Socket.IO room holding every socket of one user."""
    return f"user:{user_id}"


def _queue(item: Pending) -> None:
    db.session.info.setdefault(_PENDING, []).append(item)


def queue(name: str, data: dict, *, to: Iterable[str] = ()) -> None:
    """Emit the event after the current transaction commits; drop it if it rolls back."""
    _queue(Event(name, data, tuple(to)))


def emit_now(name: str, data: dict, *, to: Iterable[str] = ()) -> None:
    """Emit the event now, for a state that is already committed."""
    publish(Event(name, data, tuple(to)))


def queue_subscription(user_id: int, room_id: int, *, enter: bool = True) -> None:
    """After commit, put the user's open sockets into (or out of) the room's live events."""
    _queue(Subscription(user_id, room_id, enter))


def queue_close_room(room_id: int) -> None:
    """After commit, drop every socket's subscription to a deleted room."""
    _queue(CloseRoom(room_id))


def queue_disconnect(user_id: int, reason: str, kind_prefix: str = "") -> None:
    """After commit, end the user's sockets of that kind (all by default)."""
    _queue(Disconnect(user_id, reason, kind_prefix))


def disconnect(user_id: int, reason: str, kind_prefix: str = "") -> None:
    """End the user's sockets of that kind now (for changes with nothing to commit)."""
    publish(Disconnect(user_id, reason, kind_prefix))


def publish(item: Pending) -> None:
    """Carry one item out now (events reach listeners first); failures are logged, not raised."""
    if isinstance(item, Event):
        for listener in list(_listeners):
            listener(item)
    try:
        _carry_out(item)
    except Exception:  # the change is committed; a lost event is caught up by since_id on rejoin
        log.exception("emitting %s failed", item.name if isinstance(item, Event) else item)


def _carry_out(item: Pending) -> None:
    if isinstance(item, Event):
        skip = {"skip_sid": list(item.skip_sids)} if item.skip_sids else {}
        socketio.emit(item.name, item.data, namespace=NAMESPACE, to=list(item.to) or None, **skip)
    elif isinstance(item, Subscription):
        move = socketio.server.enter_room if item.enter else socketio.server.leave_room
        for sid in presence.store().sids_of(item.user_id):
            _ignore_gone(move, sid, room_target(item.room_id), namespace=NAMESPACE)
    elif isinstance(item, CloseRoom):
        socketio.close_room(room_target(item.room_id), namespace=NAMESPACE)
    else:
        sids = presence.store().sids_of(item.user_id, item.kind_prefix)
        if sids:
            socketio.emit("session_ended", {"reason": item.reason}, namespace=NAMESPACE, to=sids)
        for sid in sids:
            _ignore_gone(socketio.server.disconnect, sid, namespace=NAMESPACE)


def _ignore_gone(action: Callable[..., object], sid: str, *args: object, **kwargs: object) -> None:
    """Act on a socket that may have disconnected since presence listed it."""
    try:
        action(sid, *args, **kwargs)
    except (KeyError, ValueError):
        log.debug("socket %s went away before %s", sid, getattr(action, "__name__", action))


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call listener with every event published inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@contextmanager
def recording() -> Iterator[list[Event]]:
    """Collect the events published inside the block (tests assert on them)."""
    seen: list[Event] = []
    with listening(seen.append):
        yield seen


@sa_event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    for pending in session.info.pop(_PENDING, []):
        publish(pending)


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
