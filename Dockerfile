# The gateway in a container: `asgi-spark serve` on 0.0.0.0:8765, as an unprivileged user.
# The configuration is a file mounted at /config/config.json; secrets stay out of it and out of
# the image: the file says "ENV:NAME" and the container gets NAME from its environment.
#
#   docker build -t asgi-spark .
#   docker run --rm -p 8765:8765 -v "$PWD/models.json:/config/config.json:ro" \
#     -e XUNFEI_APP_ID -e XUNFEI_API_KEY -e XUNFEI_API_SECRET asgi-spark
#
# compose.yaml runs two replicas behind Redis.  tests/test_deploy.py checks this file's command
# against the CLI; nothing here is built by the test suite (no Docker on CI).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY asgi_spark ./asgi_spark
# fast: uvloop and httptools; metrics: GET /metrics; redis: limits shared between replicas
RUN pip install '.[fast,metrics,redis]' && rm -rf /src

RUN useradd --create-home --uid 10001 spark
USER spark
WORKDIR /home/spark

EXPOSE 8765
# SIGTERM drains (the config's "drain" block); give `docker stop -t` / stop_grace_period more
# than drain.delay + drain.timeout.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=2)"]
CMD ["asgi-spark", "serve", "--config", "/config/config.json", "--host", "0.0.0.0", "--port", "8765"]
