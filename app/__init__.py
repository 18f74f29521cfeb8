"""Parley: an authenticated multi-room chat platform."""

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import database  # noqa: F401  (connection hooks for every engine)

__version__ = "0.1.0"

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides what the environment says (tests use it)."""
    app = Flask(
        __name__,
        instance_path=os.path.join(PROJECT_ROOT, "instance"),
        template_folder=os.path.join(PROJECT_ROOT, "public", "templates"),
        static_folder=os.path.join(PROJECT_ROOT, "public", "static"),
    )
    load_config(app, config or {})
    app.json.sort_keys = False  # objects keep the order their schemas declare
    register_extensions(app)
    register_security(app)
    register_headers(app)
    register_blueprints(app)
    register_socket_handlers(app)
    register_error_handlers(app)
    register_cli(app)
    register_proxy_fix(app)
    return app


def load_config(app: Flask, overrides: Mapping[str, Any]) -> None:
    """Pick the Config class from PARLEY_ENV, apply overrides, fill in instance-folder defaults."""
    from app.config import config_class

    app.config.from_object(config_class(overrides.get("PARLEY_ENV"))())
    app.config.update(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "parley.db")
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        options.setdefault("pool_size", app.config["DATABASE_POOL_SIZE"])
        options.setdefault("max_overflow", app.config["DATABASE_MAX_OVERFLOW"])
        # The pool's ROLLBACK on every checkin is a round trip that finds nothing to undo:
        # SQLAlchemy's Connection.close() already rolls back a transaction left open.
        options.setdefault("pool_reset_on_return", None)
    # Absolute, because send_from_directory would resolve a relative folder against the package.
    app.config["UPLOAD_FOLDER"] = os.path.abspath(
        app.config.get("UPLOAD_FOLDER") or os.path.join(app.instance_path, "uploads")
    )


def register_extensions(app: Flask) -> None:
    """Bind the extension instances to this app."""
    from app.extensions import csrf, db, login_manager, mail, migrate
    from app.rate_limits import init_rate_limits

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(PROJECT_ROOT, "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    init_rate_limits(app)  # Flask-Limiter, on this app's storage; also caps request bodies


def register_security(app: Flask) -> None:
    """Session and token authentication, CSRF."""
    from app.security import init_security

    init_security(app)


def register_headers(app: Flask) -> None:
    """Content-Security-Policy and the other security headers on every response."""
    from app.headers import init_headers

    init_headers(app)


def register_blueprints(app: Flask) -> None:
    """Mount every blueprint (ids in paths are bounded, see IdConverter)."""
    from app.controllers import admin, auth, feedback, messages, pages, rooms, system, users
    from app.controllers.parsing import IdConverter

    app.url_map.converters["int"] = IdConverter
    for blueprint in (auth.bp, rooms.bp, messages.bp, users.bp, feedback.bp, admin.bp, system.bp, pages.bp):
        app.register_blueprint(blueprint)


def register_socket_handlers(app: Flask) -> None:
    """Bind Socket.IO (message queue, origins, limits) and the /chat namespace."""
    from app.realtime import init_realtime

    init_realtime(app)


def register_error_handlers(app: Flask) -> None:
    """Render every error as the JSON envelope."""
    from app.errors import register_error_handlers as register

    register(app)


def register_cli(app: Flask) -> None:
    """Add the `flask` commands."""
    from app.cli import create_admin, purge_sessions, seed_demo

    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(purge_sessions)


def register_proxy_fix(app: Flask) -> None:
    """Believe X-Forwarded-For/-Proto from TRUSTED_PROXIES reverse proxies (nginx: 1), no more.

    Outermost, after Socket.IO's middleware, so a socket's handshake sees the client's address
    too. With 0 (the default) the headers are ignored: anyone could write them.
    """
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
