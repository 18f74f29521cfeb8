"""Configuration read from the environment (and a .env file via python-dotenv).

PARLEY_ENV picks the class: development (default), testing or production. Values are read
when a class is instantiated, not at import, so a test or a CLI call sees the current
environment.
"""

import os
import secrets
from datetime import timedelta

from dotenv import load_dotenv

load_dotenv()


def _env(key: str, default: str | None = None) -> str | None:
    """The variable's value, with empty strings counting as unset."""
    value = os.environ.get(key, "").strip()
    return value or default


def _env_int(key: str, default: int) -> int:
    value = _env(key)
    return int(value) if value is not None else default


def _env_list(key: str) -> list[str]:
    return [item.strip() for item in (_env(key) or "").split(",") if item.strip()]


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "development"

    def __init__(self) -> None:
        self.SECRET_KEY = _env("SECRET_KEY") or self.missing_secret_key()
        # None means "<instance folder>/parley.db"; create_app resolves it.
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_recycle": 3600}
        # Connections kept open per process (MySQL/MariaDB). Under gevent hundreds of sockets share
        # one process: connections beyond the pool are opened and closed for every event.
        self.DATABASE_POOL_SIZE = _env_int("DATABASE_POOL_SIZE", 20)
        self.DATABASE_MAX_OVERFLOW = _env_int("DATABASE_MAX_OVERFLOW", 10)
        self.REDIS_URL = _env("REDIS_URL")
        self.HOST = _env("HOST", "127.0.0.1")
        self.PORT = _env_int("PORT", 5000)
        # Links in mail (password reset) are built from this, never from the request's Host header.
        self.PUBLIC_URL = (_env("PUBLIC_URL") or f"http://{self.HOST}:{self.PORT}").rstrip("/")
        self.CORS_ORIGINS = _env_list("CORS_ORIGINS")
        # Reverse proxies in front whose X-Forwarded-For/-Proto are believed (nginx alone: 1).
        self.TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
        # Strict-Transport-Security max-age in seconds, sent over HTTPS only; 0 sends none.
        self.HSTS_MAX_AGE = _env_int("HSTS_MAX_AGE", 0)
        self.UPLOAD_FOLDER = _env("UPLOAD_FOLDER")

        self.MAIL_SERVER = _env("MAIL_SERVER")
        self.MAIL_PORT = _env_int("MAIL_PORT", 25)
        self.MAIL_USE_TLS = _env("MAIL_USE_TLS", "false").lower() in ("1", "true", "yes")
        self.MAIL_USE_SSL = _env("MAIL_USE_SSL", "false").lower() in ("1", "true", "yes")
        self.MAIL_USERNAME = _env("MAIL_USERNAME")
        self.MAIL_PASSWORD = _env("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "parley@localhost")
        # Flask-Mail would drop every mail when TESTING; unset MAIL_SERVER is how mail is not sent.
        self.MAIL_SUPPRESS_SEND = False
        self.FEEDBACK_RECIPIENTS = _env_list("FEEDBACK_RECIPIENTS")

        self.BCRYPT_ROUNDS = _env_int("BCRYPT_ROUNDS", 12)
        self.ADMIN_EMAIL = _env("ADMIN_EMAIL")
        self.ADMIN_PASSWORD = _env("ADMIN_PASSWORD")
        self.PASSWORD_RESET_MAX_AGE = _env_int("PASSWORD_RESET_MAX_AGE", 3600)
        # threading serves `python wsgi.py`; uWSGI sets gevent_uwsgi. Never auto-detected, so an
        # installed gevent does not silently change how the development server runs.
        self.SOCKETIO_ASYNC_MODE = _env("SOCKETIO_ASYNC_MODE", "threading")
        # Redis keys and the Socket.IO channel start with this: two installations can share a Redis.
        self.REDIS_PREFIX = _env("REDIS_PREFIX", "parley")
        # Per-connection socket event limits, "<events>/<seconds>" (DESIGN §4).
        self.SOCKET_MESSAGE_LIMIT = _env("SOCKET_MESSAGE_LIMIT", "20/10")
        self.SOCKET_TYPING_LIMIT = _env("SOCKET_TYPING_LIMIT", "10/10")
        self.SOCKET_EVENT_LIMIT = _env("SOCKET_EVENT_LIMIT", "60/10")
        # A socket refused this many times within the longest limit window goes at its next refusal.
        self.SOCKET_FLOOD_STRIKES = _env_int("SOCKET_FLOOD_STRIKES", 10)
        # Largest Socket.IO frame accepted; a 4000-character message is far below it.
        self.SOCKET_MAX_FRAME_BYTES = _env_int("SOCKET_MAX_FRAME_BYTES", 64 * 1024)
        # A process that has not renewed its presence for this long counts as dead (Redis only).
        self.PRESENCE_TTL = _env_int("PRESENCE_TTL", 30)

        # Avatars: 5 MiB of file; the request may carry a little multipart framing on top.
        self.AVATAR_MAX_BYTES = 5 * 1024 * 1024
        self.AVATAR_MAX_PIXELS = 40_000_000
        self.MAX_CONTENT_LENGTH = self.AVATAR_MAX_BYTES + 64 * 1024

        self.SESSION_COOKIE_NAME = "parley_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = False
        # A remember-me cookie lasts this long, and any session unused this long ends (services/sessions).
        self.PERMANENT_SESSION_LIFETIME = timedelta(days=_env_int("SESSION_LIFETIME_DAYS", 30))
        # The JSON API sends the token in X-CSRFToken; it lives as long as the session.
        self.WTF_CSRF_CHECK_DEFAULT = False
        self.WTF_CSRF_TIME_LIMIT = None

        # REST abuse limits (DESIGN §4; app/rate_limits.py), written like "5 per 15 minutes".
        self.LOGIN_ACCOUNT_LIMIT = _env("LOGIN_ACCOUNT_LIMIT", "5 per 15 minutes")  # failures
        self.LOGIN_IP_LIMIT = _env("LOGIN_IP_LIMIT", "30 per minute")  # failures
        self.REGISTER_IP_LIMIT = _env("REGISTER_IP_LIMIT", "10 per hour")
        self.PASSWORD_RESET_ACCOUNT_LIMIT = _env("PASSWORD_RESET_ACCOUNT_LIMIT", "5 per hour")
        self.PASSWORD_RESET_IP_LIMIT = _env("PASSWORD_RESET_IP_LIMIT", "20 per hour")
        self.FEEDBACK_IP_LIMIT = _env("FEEDBACK_IP_LIMIT", "5 per minute")
        self.TOKEN_ACCOUNT_LIMIT = _env("TOKEN_ACCOUNT_LIMIT", "10 per hour")
        # Largest request body of every route but the avatar upload (which has MAX_CONTENT_LENGTH).
        self.BODY_MAX_BYTES = _env_int("BODY_MAX_BYTES", 64 * 1024)
        # None: REDIS_URL when set, else this process's memory (app/rate_limits.py decides).
        self.RATELIMIT_STORAGE_URI = None
        # Exact windows: a fixed window would let twice the limit through across its boundary.
        self.RATELIMIT_STRATEGY = "moving-window"
        # Redis down: count in this process's memory until it is back, and never fail a request.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True

    def missing_secret_key(self) -> str:
        """Development signs sessions with a key that lives as long as the process."""
        return secrets.token_hex(32)


class DevelopmentConfig(Config):
    """`make run`: SQLite in the instance folder, mail logged unless MAIL_SERVER is set."""


class TestingConfig(Config):
    """The test suite: fast hashing; the database URL comes from the test fixtures."""

    ENV_NAME = "testing"

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.BCRYPT_ROUNDS = 4
        self.RATELIMIT_ENABLED = False


class ProductionConfig(Config):
    """Production: a real SECRET_KEY is required and cookies are Secure."""

    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        self.SESSION_COOKIE_SECURE = True
        # A year: browsers then refuse plain HTTP for this host (app/headers.py, HTTPS only).
        self.HSTS_MAX_AGE = _env_int("HSTS_MAX_AGE", 31536000)

    def missing_secret_key(self) -> str:
        raise RuntimeError("SECRET_KEY must be set when PARLEY_ENV=production")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_class(name: str | None = None) -> type[Config]:
    """The Config class for an environment name (PARLEY_ENV when none is given)."""
    name = (name or _env("PARLEY_ENV", "development")).lower()
    if name not in CONFIGS:
        raise RuntimeError(f"PARLEY_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]
