"""Entry point: `python wsgi.py` serves HTTP and WebSockets on HOST:PORT (development server).

uWSGI imports `app` from this module in production (see uwsgi.ini).
"""

import gc
import logging
import os

from app import create_app
from app.extensions import socketio
from app.services.accounts import ensure_configured_admin

# The process's entry point, not the app factory, decides where logs go (tests capture their
# own). Without a handler only warnings reach stderr, undated, and INFO lines (a mail written
# to the log because MAIL_SERVER is unset) are lost.
logging.basicConfig(
    level=os.environ.get("LOG_LEVEL", "").strip().upper() or "INFO",
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)

app = create_app()

with app.app_context():
    ensure_configured_admin()

# What start-up allocated lives as long as the process: move it out of the cyclic collector's
# sight. Its full passes otherwise walk those objects every few seconds under load, pausing
# every socket of a gevent worker for ~70 ms each time (bench/socket_delivery.py saw them).
gc.freeze()

if __name__ == "__main__":
    socketio.run(app, host=app.config["HOST"], port=app.config["PORT"], allow_unsafe_werkzeug=True)
