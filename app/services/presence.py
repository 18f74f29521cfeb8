"""Presence: who is online, counted in connections, and which sockets each user has open.

A user is online while at least one of their sockets is connected: two tabs, one closes, still
online; the last closes, offline. Each socket is registered with its kind, "session:<key>" for
a browser session or "token:<id>;" for an API token, so that signing out of one session or
revoking one token can disconnect exactly the sockets it opened.

Without REDIS_URL the count lives in this process (one server process is all there is). With
REDIS_URL it lives in Redis, shared by every process: each process renews a heartbeat key, and
any process that finds another one's heartbeat expired removes that dead process's
connections, so the counts recover when a process dies without cleaning up.

Redis may go away and come back. A socket that closes meanwhile is removed at the first
heartbeat that reaches Redis again; a Redis that comes back empty gets this process's sockets
back at that heartbeat too. Meanwhile reads answer "nobody online" rather than failing a
request, and new sockets are refused (see the namespace).
"""

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Protocol

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

# Kinds of sockets: "session:<key>" (a browser session) and "token:<id>;" (an API token).
SESSION_SOCKETS = "session:"


def session_kind(session_key: str) -> str:
    """The kind of the sockets a browser session opens."""
    return f"{SESSION_SOCKETS}{session_key}"


def token_kind(token_id: int) -> str:
    """The kind of the sockets an API token opens."""
    # Closed by ";": kinds are matched by prefix, and token 5's must not match token 51's.
    return f"token:{token_id};"


class PresenceStore(Protocol):
    """Where connections are counted; see the module docstring."""

    def add(self, sid: str, user_id: int, kind: str) -> bool:
        """Register a socket; True when it is the user's first (they came online)."""

    def remove(self, sid: str) -> tuple[int | None, bool]:
        """Forget a socket; (its user, whether that was their last socket)."""

    def online_ids(self) -> set[int]:
        """Every user with a connected socket."""

    def online_among(self, user_ids: Iterable[int]) -> set[int]:
        """Those of user_ids who are online."""

    def sids_of(self, user_id: int, kind_prefix: str = "") -> list[str]:
        """The user's sockets whose kind starts with kind_prefix (all by default)."""

    def heartbeat(self) -> list[int]:
        """Renew this process's liveness; returns users gone offline with dead processes (or
        with sockets that closed while the store was unreachable)."""

    def take_returned(self) -> list[int]:
        """Users back online since the last call because this process re-registered its sockets."""


class MemoryPresence:
    """Presence for a single process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, int] = {}
        self._sockets: dict[int, dict[str, str]] = {}

    def add(self, sid: str, user_id: int, kind: str) -> bool:
        with self._lock:
            self._owners[sid] = user_id
            sockets = self._sockets.setdefault(user_id, {})
            sockets[sid] = kind
            return len(sockets) == 1

    def remove(self, sid: str) -> tuple[int | None, bool]:
        with self._lock:
            user_id = self._owners.pop(sid, None)
            if user_id is None:
                return None, False
            sockets = self._sockets[user_id]
            del sockets[sid]
            if sockets:
                return user_id, False
            del self._sockets[user_id]
            return user_id, True

    def online_ids(self) -> set[int]:
        with self._lock:
            return set(self._sockets)

    def online_among(self, user_ids: Iterable[int]) -> set[int]:
        with self._lock:
            return {user_id for user_id in user_ids if user_id in self._sockets}

    def sids_of(self, user_id: int, kind_prefix: str = "") -> list[str]:
        with self._lock:
            sockets = self._sockets.get(user_id, {})
            return [sid for sid, kind in sockets.items() if kind.startswith(kind_prefix)]

    def heartbeat(self) -> list[int]:
        return []

    def take_returned(self) -> list[int]:
        return []


# Keys, under "<prefix>:presence:": procs (set of process ids), proc:<id> (heartbeat, expires),
# conns:<proc> (hash sid -> user id), user:<uid> (hash sid -> kind), online (set of user ids).
_ADD = """
local base = ARGV[1]
redis.call('SADD', base .. 'procs', ARGV[2])
redis.call('HSET', base .. 'conns:' .. ARGV[2], ARGV[3], ARGV[4])
local user = base .. 'user:' .. ARGV[4]
redis.call('HSET', user, ARGV[3], ARGV[5])
if redis.call('HLEN', user) == 1 then
    redis.call('SADD', base .. 'online', ARGV[4])
    return 1
end
return 0
"""

_REMOVE = """
local base = ARGV[1]
local conns = base .. 'conns:' .. ARGV[2]
local uid = redis.call('HGET', conns, ARGV[3])
if not uid then return {} end
redis.call('HDEL', conns, ARGV[3])
local user = base .. 'user:' .. uid
redis.call('HDEL', user, ARGV[3])
if redis.call('HLEN', user) == 0 then
    redis.call('SREM', base .. 'online', uid)
    return {uid, 1}
end
return {uid, 0}
"""

# Removes a process whose heartbeat expired, with its connections; returns users gone offline.
_SWEEP = """
local base = ARGV[1]
if redis.call('EXISTS', base .. 'proc:' .. ARGV[2]) == 1 then return {} end
local conns = base .. 'conns:' .. ARGV[2]
local entries = redis.call('HGETALL', conns)
local gone = {}
for i = 1, #entries, 2 do
    local user = base .. 'user:' .. entries[i + 1]
    redis.call('HDEL', user, entries[i])
    if redis.call('HLEN', user) == 0 and redis.call('SREM', base .. 'online', entries[i + 1]) == 1 then
        table.insert(gone, entries[i + 1])
    end
end
redis.call('DEL', conns)
redis.call('SREM', base .. 'procs', ARGV[2])
return gone
"""


class RedisPresence:
    """Presence shared by every process through Redis; see the module docstring."""

    def __init__(self, url: str, prefix: str, ttl: int) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.base = f"{prefix}:presence:"
        self.proc = uuid.uuid4().hex
        self.ttl = ttl
        self._local: dict[str, tuple[int, str]] = {}  # re-registered if this process was swept
        self._returned: list[int] = []
        self._unremoved: set[str] = set()  # closed while Redis was unreachable; see heartbeat
        self._add = self.redis.register_script(_ADD)
        self._remove = self.redis.register_script(_REMOVE)
        self._sweep = self.redis.register_script(_SWEEP)

    def _renew(self) -> None:
        """Renew the heartbeat; if it had expired, others may have swept us: re-register."""
        key = f"{self.base}proc:{self.proc}"
        if self.redis.set(key, 1, ex=self.ttl, xx=True):
            return
        self.redis.set(key, 1, ex=self.ttl)
        for sid, (user_id, kind) in list(self._local.items()):
            if self._add(args=[self.base, self.proc, sid, user_id, kind]):
                self._returned.append(user_id)

    def add(self, sid: str, user_id: int, kind: str) -> bool:
        self._renew()
        self._local[sid] = (user_id, kind)
        try:
            return bool(self._add(args=[self.base, self.proc, sid, user_id, kind]))
        except redis.RedisError:
            # The socket is refused, but the script may have run before the connection broke.
            del self._local[sid]
            self._unremoved.add(sid)
            raise

    def remove(self, sid: str) -> tuple[int | None, bool]:
        self._local.pop(sid, None)
        try:
            result = self._remove(args=[self.base, self.proc, sid])
        except redis.RedisError:
            self._unremoved.add(sid)  # or the user would stay online once Redis is back
            raise
        if not result:
            return None, False
        return int(result[0]), bool(int(result[1]))

    def online_ids(self) -> set[int]:
        return {int(user_id) for user_id in self.redis.smembers(f"{self.base}online")}

    def online_among(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        flags = self.redis.smismember(f"{self.base}online", ids)
        return {user_id for user_id, flag in zip(ids, flags, strict=True) if flag}

    def sids_of(self, user_id: int, kind_prefix: str = "") -> list[str]:
        sockets = self.redis.hgetall(f"{self.base}user:{user_id}")
        return [sid for sid, kind in sockets.items() if kind.startswith(kind_prefix)]

    def heartbeat(self) -> list[int]:
        self._renew()
        gone: list[int] = []
        for sid in list(self._unremoved):
            result = self._remove(args=[self.base, self.proc, sid])
            self._unremoved.discard(sid)
            if result and int(result[1]):
                gone.append(int(result[0]))
        for proc in self.redis.smembers(f"{self.base}procs"):
            if proc != self.proc:
                gone.extend(int(user_id) for user_id in self._sweep(args=[self.base, proc]))
        return gone

    def take_returned(self) -> list[int]:
        returned, self._returned = self._returned, []
        return returned


def forget_prefix(url: str, prefix: str) -> None:
    """Delete every Redis key under an installation's prefix (tests and benchmarks clean up)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


_EXTENSION = "parley_presence"


def init_presence(app: Flask) -> PresenceStore:
    """Give the app its presence store: Redis when REDIS_URL is set, else this process."""
    url = app.config["REDIS_URL"]
    store: PresenceStore
    if url:
        store = RedisPresence(url, app.config["REDIS_PREFIX"], app.config["PRESENCE_TTL"])
    else:
        store = MemoryPresence()
    app.extensions[_EXTENSION] = store
    return store


def store() -> PresenceStore:
    """The current app's presence store."""
    return current_app.extensions[_EXTENSION]


def is_online(user_id: int) -> bool:
    """Whether the user has a connected socket (no one has while Redis is unreachable)."""
    return bool(online_among([user_id]))


def online_count() -> int:
    """How many users are online, across every process; nobody while Redis is unreachable."""
    try:
        return len(store().online_ids())
    except redis.RedisError as error:
        log.warning("presence unavailable, counting nobody online: %s", error)
        return 0


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Those of user_ids who are online; nobody while Redis is unreachable.

    Presence is best-effort, like live events: a page that shows it still loads without it,
    and /health names the message queue as down.
    """
    try:
        return store().online_among(user_ids)
    except redis.RedisError as error:
        log.warning("presence unavailable, showing everyone offline: %s", error)
        return set()
