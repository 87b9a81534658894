# Agent Orchestrator server: `docker run -e GITHUB_WEBHOOK_SECRET=... -v orchestrator:/data -p 8080:8080 IMAGE`
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 orchestrator \
 && mkdir /data && chown orchestrator /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir .

USER orchestrator
ENV ORCHESTRATOR_HOST=0.0.0.0 \
    ORCHESTRATOR_PORT=8080 \
    ORCHESTRATOR_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"
# SIGTERM lets the server finish in-flight commits; anything unfinished is re-dispatched on start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["orchestrator"]
CMD ["serve"]
