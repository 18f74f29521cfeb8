"""Connection hooks of app/database.py: PyMySQL's TLS context is built once, not per connection."""

import sqlite3

import pytest
import sqlalchemy as sa

from app import database
from app.database import PreferredTlsConnection, preferred_tls_context

UNREACHABLE = "mysql+pymysql://nobody@127.0.0.1:1/none"


def connect_params(**params) -> dict:
    """What the dialect would pass to PyMySQL, without opening a connection."""
    return {"host": "127.0.0.1", "port": 1, "user": "nobody", "defer_connect": True, **params}


def test_pymysql_connections_share_one_preferred_tls_context():
    dialect = sa.create_engine(UNREACHABLE).dialect
    first = database._connect_pymysql(dialect, None, (), connect_params())
    second = database._connect_pymysql(dialect, None, (), connect_params())
    assert isinstance(first, PreferredTlsConnection)
    assert first.ctx is second.ctx is preferred_tls_context()


def test_the_shared_context_keeps_pymysqls_preferred_mode():
    connection = PreferredTlsConnection(**connect_params())
    assert connection.ssl is True
    assert connection._ssl_required is False  # a server without TLS is still accepted
    assert connection.ctx.verify_mode == preferred_tls_context().verify_mode


@pytest.mark.parametrize(
    "option", [{"ssl_disabled": True}, {"ssl_ca": "/ca.pem"}, {"ssl_verify_identity": True}, {"ssl": {}}]
)
def test_explicit_tls_options_leave_pymysql_alone(option):
    dialect = sa.create_engine(UNREACHABLE).dialect
    assert database._connect_pymysql(dialect, None, (), connect_params(**option)) is None


def test_other_drivers_are_left_alone():
    dialect = sa.create_engine("sqlite://").dialect
    assert database._connect_pymysql(dialect, None, (), {}) is None


def test_the_apps_engine_connects_through_the_hook(app):
    from app.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            expected = PreferredTlsConnection if db.engine.dialect.driver == "pymysql" else sqlite3.Connection
            assert isinstance(raw.dbapi_connection, expected)
        finally:
            raw.close()
