"""Hooks on every database connection the engines open: SQLite pragmas, PyMySQL's TLS context."""

import functools
import sqlite3
import ssl
from typing import Any

import pymysql
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine

# Options that choose TLS explicitly; with none of them PyMySQL uses TLS when the server offers it.
_TLS_OPTIONS = (
    "ssl",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
    "ssl_verify_cert",
    "ssl_verify_identity",
    "ssl_disabled",
)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite leaves foreign keys off unless asked; WAL lets readers run beside the writer.
    if isinstance(dbapi_connection, sqlite3.Connection):
        from app.models.base import sqlite_casefold

        dbapi_connection.create_function("casefold", 1, sqlite_casefold, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


class PreferredTlsConnection(pymysql.connections.Connection):
    """PyMySQL's connection, with the TLS context of its default ("preferred") mode built once.

    PyMySQL builds that context anew for each connection, loading the system's CA store
    (about 20 ms of CPU) that the mode never uses, since it does not verify the server. Under
    gevent those 20 ms stall every socket of the worker each time the pool opens a connection.
    """

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        return preferred_tls_context() if not sslp else super()._create_ssl_ctx(sslp)


@functools.cache
def preferred_tls_context() -> ssl.SSLContext:
    """What PyMySQL's preferred mode builds: TLS when offered, certificates not verified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@event.listens_for(Engine, "do_connect")
def _connect_pymysql(dialect: Dialect, _record: Any, cargs: tuple, cparams: dict) -> Any:
    if dialect.driver != "pymysql" or any(option in cparams for option in _TLS_OPTIONS):
        return None  # the dialect connects as usual
    return PreferredTlsConnection(*cargs, **cparams)
