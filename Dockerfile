# syntax=docker/dockerfile:1
#
# Hashwall service image: Python 3.11 on Debian bookworm slim, runs as uid 10001.
#
#   docker build -t hashwall .
#   docker run --rm -p 8000:8000 \
#     -e HASHWALL_DATABASE_URL=postgresql+psycopg://hashwall:PASSWORD@db-host:5432/hashwall \
#     -v hashwall-data:/var/lib/hashwall --tmpfs /tmp:size=2g hashwall
#
# The default command is `hashwall serve`, which applies migrations first; several
# replicas on one database run `serve --no-migrate` after a one-shot `db upgrade`
# (docker-compose.yml). Any other subcommand works too:
#   docker run --rm -e HASHWALL_DATABASE_URL=... hashwall keys create --name ops --scopes admin
# See docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# pdqhash has no Linux wheel on PyPI: pip compiles it from source (C++ through
# Cython), so the builder needs a compiler. Everything else installs from
# self-contained manylinux wheels. (The compiler is not pinned: it only builds
# pdqhash and never reaches the runtime image.)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY hashing ./hashing
COPY index ./index
COPY migrations ./migrations
# pip also writes the bytecode here: the runtime user cannot write next to the source.
RUN /opt/venv/bin/pip install --no-cache-dir .

# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="hashwall" \
      org.opencontainers.image.description="Re-upload prevention: perceptual hash matching of removed illegal sexual content" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed uid/gid, so volumes and Kubernetes' runAsUser agree across hosts.
ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid "${GID}" hashwall \
    && useradd --system --uid "${UID}" --gid hashwall --no-create-home \
       --home-dir /var/lib/hashwall --shell /usr/sbin/nologin hashwall \
    && install -d -o hashwall -g hashwall -m 0750 /var/lib/hashwall

# The compiled pdqhash needs libstdc++6 and libgcc-s1, which the slim image has
# (apt depends on them); the wheels carry their own libraries.
COPY --from=builder /opt/venv /opt/venv

# HASHWALL_DATA_DIR holds only disposable state: index snapshots (index/),
# per-worker metrics files (metrics/) and numba's compiled-code cache, which
# must be writable (the venv is not). Uploads are spooled under /tmp while they
# are hashed, as the request body also is: mount a tmpfs there. The database is
# PostgreSQL, given by HASHWALL_DATABASE_URL.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/hashwall \
    NUMBA_CACHE_DIR=/var/lib/hashwall/numba-cache \
    HASHWALL_DATA_DIR=/var/lib/hashwall \
    HASHWALL_TMP_DIR=/tmp/hashwall \
    HASHWALL_HOST=0.0.0.0 \
    HASHWALL_PORT=8000

WORKDIR /var/lib/hashwall
USER ${UID}:${GID}
EXPOSE 8000

# Ready = the database answers and the index is loaded (/readyz; 503 until then).
# The slim image has no curl: Python's urllib raises on any non-2xx answer.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('HASHWALL_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["hashwall"]
CMD ["serve"]
