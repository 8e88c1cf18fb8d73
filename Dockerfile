# syncd daemon image. The config is mounted at /etc/syncd/config.toml; secrets come in as
# environment variables (or files) named by that config, never baked into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/syncd
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY connectors ./connectors
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /var/lib/syncd --create-home syncd \
 && mkdir -p /etc/syncd \
 && chown syncd /var/lib/syncd

USER syncd
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
# the admin API (health, metrics); bind it to 0.0.0.0 in the config, with token_env set
EXPOSE 8700

# /healthz answers without the admin token; `syncd run` exits 0 on SIGTERM (docker stop) after
# letting the run in flight reach a safe point (its outbox resumes on the next start).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8700/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["syncd", "run", "--config", "/etc/syncd/config.toml"]
