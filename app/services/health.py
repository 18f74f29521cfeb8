"""Health of the services Parley depends on."""

import redis
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.realtime import queue_listening


def database_status() -> str:
    """ "ok" when the database answers a query, "down" otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError:
        db.session.rollback()
        return "down"
    finally:
        db.session.remove()


def message_queue_status() -> str:
    """ "ok", "down", or "disabled" when REDIS_URL is unset.

    "down" also while Redis answers again but this process has not yet resubscribed to the
    queue: until then it would miss the other processes' events.
    """
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "disabled"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError:
        return "down"
    return "ok" if queue_listening(current_app) else "down"


def health_report() -> tuple[dict, bool]:
    """The status of each dependency and whether all are usable."""
    report = {"database": database_status(), "message_queue": message_queue_status()}
    healthy = "down" not in report.values()
    return {"status": "ok" if healthy else "down", **report}, healthy
