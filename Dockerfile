# syntax=docker/dockerfile:1
# barometer: one image for every role (migrate, worker, beat, CLI); compose picks the command.
#   docker build -t barometer:0.1.0 .
#   docker run --rm barometer:0.1.0 barometer --help
# No secrets are baked in: they arrive at run time through the environment (.env).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv from the hashed lock, then the project itself -----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY jobs ./jobs
COPY alerts ./alerts
RUN pip install --no-deps . \
 && barometer --help > /dev/null

# ---- runtime: the venv only, as an unprivileged user ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="barometer" \
      org.opencontainers.image.description="Scheduled anomaly detection for GA4 and Search Console"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    BAROMETER_CONFIG=/config/barometer.toml
RUN groupadd --system --gid 10001 barometer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin barometer \
 && install -d -o 10001 -g 10001 /app /app/outbox /config
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# Health checks are per role (worker, beat) and live in docker-compose.yml.
CMD ["barometer", "--help"]
