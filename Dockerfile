# syntax=docker/dockerfile:1
# The headless gateway (`lmgate serve`) for a team sharing one GPU box: no Qt, no desktop app.
# It listens on 0.0.0.0:8082 and refuses to start without a token (LMGATE_TOKEN). Clients reach
# it by a name or address that must be in `allowed_hosts` (see compose.yaml and the README).

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/lmgate
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
# Dependencies first, in their own layer: they change less often than the code.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project \
        --no-install-package pyside6-essentials --no-install-package shiboken6
COPY gateway ./gateway
COPY app ./app
RUN uv sync --frozen --no-dev --no-editable \
        --no-install-package pyside6-essentials --no-install-package shiboken6

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 lmgate
COPY --from=build /opt/lmgate /opt/lmgate
ENV PATH=/opt/lmgate/bin:$PATH \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/lmgate
EXPOSE 8082
# /health needs the token like every other path; the check runs with the container's variables.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8082/health', headers={'x-api-key': os.environ['LMGATE_TOKEN']}), timeout=4)"]
ENTRYPOINT ["lmgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8082"]
