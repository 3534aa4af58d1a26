# The contact-center bot as a container: `docker build -t contact-center-bot .`, then see
# compose.yaml. Runtime packages come from requirements.lock (every pin with its hashes; `make lock`
# writes it), the project itself is installed without resolving anything again.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY domain ./domain
COPY handlers ./handlers
COPY faq ./faq
COPY storage ./storage
COPY notifications ./notifications
COPY services ./services
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip check

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# A user of its own; the database (DATABASE_URL's default sqlite:///data/... is relative to
# /app) and the backups live in volumes it owns.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin bot \
    && mkdir -p /app/data /app/backups \
    && chown bot:bot /app/data /app/backups
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER bot:bot
VOLUME ["/app/data", "/app/backups"]
# The webhook server (WEBHOOK_PORT); the ops listener (OPS_PORT) is published by compose on
# loopback only.
EXPOSE 8080
# The bot finishes in-flight work within SHUTDOWN_GRACE seconds of SIGTERM: give it more than
# that when stopping (compose.yaml: stop_grace_period).
STOPSIGNAL SIGTERM
# Slim has no curl: Python's urllib asks /healthz on the ops listener inside the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${OPS_PORT:-8081}/healthz', timeout=4)"
CMD ["python", "-m", "bot"]
