# Agent Orchestrator server:
#   docker build -t orchestrator . && docker run -e GITHUB_WEBHOOK_SECRET=... -v orchestrator:/data -p 8080:8080 \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --security-opt systempaths=unconfined orchestrator
#   (the sandbox needs user namespaces and a fresh /proc; README: "Running repository code")
FROM python:3.11-slim

# git: the worktree manager drives it through GitPython. bubblewrap: the sandbox that runs a
# repository's own tests and setup (see the README for the `docker run` options it needs).
# Unpinned on purpose: Debian's security updates replace the exact version, and a pin would
# break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 orchestrator \
 && mkdir /data && chown 10001 /data

WORKDIR /app
COPY pyproject.toml README.md app.yml ./
COPY bot ./bot
COPY githubsim ./githubsim
RUN pip install --no-cache-dir .

USER 10001
ENV ORCHESTRATOR_HOST=0.0.0.0 \
    ORCHESTRATOR_PORT=8080 \
    ORCHESTRATOR_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
# Written in Python: slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
# SIGTERM lets the server finish in-flight commits; anything unfinished is re-dispatched on start.
STOPSIGNAL SIGTERM
CMD ["orchestrator", "serve"]
