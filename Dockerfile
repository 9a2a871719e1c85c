# callcenter: one image for every process (web worker, AI worker, migrations).
#   docker build -t callcenter .
#   docker run -p 8080:8080 callcenter          # embedded default: SQLite in /data, on 0.0.0.0:8080
# docker-compose.yml runs it with MariaDB, Redis and nginx.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CALLCENTER_DATA_DIR=/data \
    CALLCENTER_PORT=8080

RUN groupadd --system --gid 10001 callcenter \
 && useradd --system --uid 10001 --gid callcenter --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin callcenter \
 && mkdir -p /data && chown callcenter:callcenter /data

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when setup.py changes.
COPY setup.py ./
RUN mkdir callcenter && touch callcenter/__init__.py \
 && pip install . && pip uninstall -y callcenter \
 && rm -rf callcenter build *.egg-info

# The package finds schema/, templates/ and static/ beside itself (callcenter/..),
# so it is installed in place (-e) rather than copied into site-packages.
COPY . .
RUN pip install --no-deps -e . && python -m compileall -q callcenter

USER callcenter
EXPOSE 8080
# Every interface of the container (the default is 127.0.0.1, this machine only). Forwarded headers
# are believed only from CALLCENTER_TRUSTED_PROXIES (default: the container's own loopback): set it
# to the proxy in front (docker-compose.yml sets nginx's address).
CMD ["callcenter", "serve", "--host", "0.0.0.0"]
