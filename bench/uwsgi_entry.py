"""Parley under uWSGI with the gevent loop, for bench/socket_delivery.py.

gevent must patch the standard library (sockets, threads, time) before anything else of
consequence is imported, as Flask-SocketIO's documentation asks, or PyMySQL and redis-py
would block the whole worker on every query. Run with SOCKETIO_ASYNC_MODE=gevent_uwsgi and `--lazy-apps`, so
each worker opens its own database and Redis connections after the fork:

    uwsgi --master --workers 1 --gevent 1000 --http-socket 127.0.0.1:5000 --http-websockets \
          --tcp-nodelay --lazy-apps --module bench.uwsgi_entry:app
"""

import os

from gevent import monkey

monkey.patch_all()

if os.environ.get("BENCH_TRACE") or os.environ.get("BENCH_ENGINE_OPTIONS"):  # --trace, --engine-options
    from bench import server_trace

    server_trace.prepare_server()

from wsgi import app  # noqa: E402

__all__ = ["app"]
