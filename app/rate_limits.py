"""Abuse limits of the REST API: request rates (Flask-Limiter) and the size of request bodies.

Every rate limit of DESIGN §4 is defined here, once, and applied in the controllers with one
decorator per endpoint, below `endpoint(...)`: a request the schemas refuse (400, 415, 422)
never reaches the limiter, so it is neither counted nor refused with 429. Limits per IP key on
the client's address as ProxyFix gives it (TRUSTED_PROXIES); limits per account key on a hash
of the normalised email in the body, so Redis holds no addresses. Over a limit the answer is
429 `rate_limited` in the error envelope, with Retry-After in seconds.

Counts live in Redis when REDIS_URL is set, so every worker shares them. When Redis cannot be
reached, each process falls back to counting in its own memory (limits keep holding, per
process) and goes back to Redis once it answers again; a request is never refused or failed
because the rate-limit store is down.
"""

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

import limits
import redis
from flask import Flask, Response, current_app, request
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from limits.errors import StorageError

from app.errors import RateLimited, render_api_error
from app.extensions import limiter

# Each config key holds a limit in the notation of the `limits` package ("5 per 15 minutes").
LIMIT_KEYS = (
    "LOGIN_ACCOUNT_LIMIT",
    "LOGIN_IP_LIMIT",
    "REGISTER_IP_LIMIT",
    "PASSWORD_RESET_ACCOUNT_LIMIT",
    "PASSWORD_RESET_IP_LIMIT",
    "FEEDBACK_IP_LIMIT",
    "TOKEN_ACCOUNT_LIMIT",
)
# Seconds a rate-limit call to Redis may take before the request goes on without it.
REDIS_TIMEOUT = 1.0

View = Callable[..., Any]


def init_rate_limits(app: Flask) -> None:
    """Check the configured limits, choose their storage, cap request bodies, bind Flask-Limiter."""
    for key in LIMIT_KEYS:
        parse_limit(key, app.config[key])
    app.before_request(_cap_body)  # before anything reads a body (the CSRF check reads forms)
    url = app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://"
    app.config["RATELIMIT_STORAGE_URI"] = url
    if url.startswith("redis"):  # redis://, rediss://, redis+unix://
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {
            "key_prefix": f"{app.config['REDIS_PREFIX']}:limits",
            "socket_connect_timeout": REDIS_TIMEOUT,
            "socket_timeout": REDIS_TIMEOUT,
        }
    limiter.init_app(app)
    # The extension keeps its storage on the one shared instance; the storage init_app just
    # made is new, so it is not known to be down (tests build many apps in one process).
    limiter._storage_dead = False


def parse_limit(key: str, value: str) -> list[limits.RateLimitItem]:
    """The limits a config value names; ValueError naming the key if it is malformed or zero."""
    try:
        items = limits.parse_many(value)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(f"rate limit {key}={value!r} must read like '5 per 15 minutes'")
    return items


# -- request bodies ---------------------------------------------------------------------


def accepts_upload(view: View) -> View:
    """Let this view take a body up to MAX_CONTENT_LENGTH (every other one: BODY_MAX_BYTES)."""
    view.accepts_upload = True  # type: ignore[attr-defined]
    return view


def _cap_body() -> None:
    # JSON bodies are small (the largest valid one, a feedback of 5,000 characters written as
    # \u escapes, is under 64 KiB): reading and parsing megabytes of JSON is only work for us.
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "accepts_upload", False):
        return
    ceiling = current_app.config["MAX_CONTENT_LENGTH"]
    cap = current_app.config["BODY_MAX_BYTES"]
    request.max_content_length = cap if ceiling is None else min(cap, ceiling)


# -- keys ---------------------------------------------------------------------------------


def client_address() -> str:
    """The per-IP key: the client's address as ProxyFix reports it."""
    return get_remote_address()


def account_in_body() -> str:
    """The per-account key: a hash of the normalised email the body names."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    normalised = email.strip().lower() if isinstance(email, str) else ""
    return "account:" + hashlib.sha256(normalised.encode()).hexdigest()[:32]


# -- what a refusal says ----------------------------------------------------------------


def _seconds_until_free(limit: RequestLimit) -> int:
    try:
        # The window's own reset time: RequestLimit.reset_at adds a second for rounding.
        return max(1, math.ceil(limit.window.reset_time - time.time()))
    except (redis.RedisError, StorageError):  # the store went away since the check
        return limit.limit.get_expiry()


def _in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def _refusal(what: str) -> Callable[[RequestLimit], Response]:
    def refuse(limit: RequestLimit) -> Response:
        seconds = _seconds_until_free(limit)
        error = RateLimited(
            f"{what}; try again in {_in_words(seconds)}.", headers={"Retry-After": str(seconds)}
        )
        return render_api_error(error)

    return refuse


def _configured(key: str) -> Callable[[], str]:
    # Read at request time, so each app (and each test) uses its own configuration.
    return lambda: current_app.config[key]


def _status_is(*statuses: int) -> Callable[[Response], bool]:
    return lambda response: response.status_code in statuses


def _both(*decorators: Callable[[View], View]) -> Callable[[View], View]:
    def apply(view: View) -> View:
        for decorate in reversed(decorators):
            view = decorate(view)
        return view

    return apply


# -- the limits -------------------------------------------------------------------------
# Shared scopes: a failed login and a failed token request (both check a password) use up
# the same allowance, so guessing a password through POST /auth/tokens gains nothing.

_failures_per_account = limiter.shared_limit(
    _configured("LOGIN_ACCOUNT_LIMIT"),
    scope="failed-sign-in-account",
    key_func=account_in_body,
    deduct_when=_status_is(401),
    on_breach=_refusal("Too many failed sign-ins for this account"),
)
_failures_per_address = limiter.shared_limit(
    _configured("LOGIN_IP_LIMIT"),
    scope="failed-sign-in-ip",
    key_func=client_address,
    deduct_when=_status_is(401),
    on_breach=_refusal("Too many failed sign-ins from your address"),
)
_password_resets_per_address = limiter.shared_limit(
    _configured("PASSWORD_RESET_IP_LIMIT"),
    scope="password-reset-ip",
    key_func=client_address,
    on_breach=_refusal("Too many password reset requests from your address"),
)

#: POST /auth/login: only failures (401) count, per account and per IP.
sign_in = _both(_failures_per_account, _failures_per_address)

#: POST /auth/register: every registration attempt per IP.
register = limiter.limit(
    _configured("REGISTER_IP_LIMIT"),
    key_func=client_address,
    on_breach=_refusal("Too many sign-ups from your address"),
)

#: POST /auth/tokens: tokens issued per account; failures count as failed sign-ins.
create_token = _both(
    limiter.limit(
        _configured("TOKEN_ACCOUNT_LIMIT"),
        key_func=account_in_body,
        deduct_when=_status_is(201),
        on_breach=_refusal("Too many tokens created for this account"),
    ),
    _failures_per_account,
    _failures_per_address,
)

#: POST /auth/password/forgot: mails per account (every accepted request), and per IP.
forgot_password = _both(
    limiter.limit(
        _configured("PASSWORD_RESET_ACCOUNT_LIMIT"),
        key_func=account_in_body,
        deduct_when=_status_is(202),
        on_breach=_refusal("Too many password reset requests for this account"),
    ),
    _password_resets_per_address,
)

#: POST /auth/password/reset: per IP, together with the requests for a link.
reset_password = _password_resets_per_address

#: POST /feedback: every submission per IP.
feedback = limiter.limit(
    _configured("FEEDBACK_IP_LIMIT"),
    key_func=client_address,
    on_breach=_refusal("Too much feedback from your address"),
)
