# syntax=docker/dockerfile:1
# Parley's production image: uWSGI with uwsgi.ini (gevent loop, native WebSockets) on port 8000,
# as an unprivileged user, the project in /srv/parley as deploy/nginx.conf expects.
# docker-compose.yml runs it as `migrate` once, then as two `serve` instances (app1, app2);
# deploy/docker-entrypoint.sh says what each command does.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# Build stage: a wheel for every requirement. uWSGI has no binary wheel and is compiled here,
# so the compiler and headers stay out of the final image.
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# uWSGI answers the WebSocket handshake with OpenSSL's SHA-1: built without it, every socket
# would fail at run time, so ssl=true makes a missing OpenSSL fail the build instead.
RUN UWSGI_PROFILE_OVERRIDE="ssl=true" \
    pip wheel --no-cache-dir --wheel-dir /wheels -r /tmp/requirements.txt

# Vendor stage: the front-end packages pinned in package.json, copied where the pages load them.
FROM ${NODE_IMAGE} AS vendor
WORKDIR /build
COPY package.json package-lock.json ./
COPY tools/vendor.mjs ./tools/
RUN npm ci --no-audit --no-fund && node tools/vendor.mjs

FROM ${PYTHON_IMAGE}
# Inside a container uWSGI must listen on every interface; nginx reaches it as appN:8000.
ENV PARLEY_HTTP_SOCKET=0.0.0.0:8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --home-dir /srv/parley --shell /usr/sbin/nologin parley
WORKDIR /srv/parley

COPY requirements.txt ./
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -r requirements.txt

# The code belongs to root, so the app cannot rewrite itself; it writes only uploads and the
# reload trigger. .dockerignore keeps .env, .venv, instance/ and the tests out.
COPY wsgi.py uwsgi.ini ./
COPY app ./app
COPY migrations ./migrations
COPY public ./public
COPY --from=vendor /build/public/static/vendor ./public/static/vendor
COPY --chmod=755 deploy/docker-entrypoint.sh ./deploy/
COPY --chown=parley:parley deploy/reload ./deploy/
# Compiled now: the unprivileged user could not write __pycache__ at run time. The uploads folder
# is made here, owned by parley, so a fresh named volume mounted on it starts with that owner.
RUN python -m compileall -q app migrations wsgi.py \
    && mkdir -p instance/uploads/avatars \
    && chown -R parley:parley instance

USER parley
EXPOSE 8000
ENTRYPOINT ["/srv/parley/deploy/docker-entrypoint.sh"]
CMD ["serve"]
