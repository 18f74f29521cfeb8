#!/bin/sh
# Entrypoint of Parley's image (Dockerfile). One image, two jobs:
#   serve    (the default) uWSGI with uwsgi.ini, listening on $PARLEY_HTTP_SOCKET
#   migrate  apply the migrations and ensure the ADMIN_EMAIL account, then exit
# Anything else runs as given, e.g. `docker compose run --rm app1 flask --app app create-admin`.
set -eu

case "${1:-serve}" in
    serve)
        # exec: uWSGI itself receives docker's SIGTERM (die-on-term in uwsgi.ini).
        exec uwsgi --ini uwsgi.ini
        ;;
    migrate)
        # The upgrade also ensures ADMIN_EMAIL (migrations/env.py). Done once here, before app1 and
        # app2 start together, the account exists and neither instance races to create it.
        exec flask --app app db upgrade
        ;;
    *)
        exec "$@"
        ;;
esac
