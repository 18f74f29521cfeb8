"""Entry point: `python wsgi.py` serves HTTP and WebSockets on HOST:PORT (development server).

uWSGI imports `app` from this module in production (see uwsgi.ini).
"""

from app import create_app
from app.extensions import socketio
from app.services.accounts import ensure_configured_admin

app = create_app()

with app.app_context():
    ensure_configured_admin()

if __name__ == "__main__":
    socketio.run(app, host=app.config["HOST"], port=app.config["PORT"], allow_unsafe_werkzeug=True)
