# iac-mcp as a shared streamable-HTTP server (see README.md, "Install" and "One shared server over HTTP").
#   docker build -t iac-mcp:0.1.0 .
#   docker run --rm -p 8000:8000 -e IAC_MCP_HTTP_TOKENS=... -e IAC_MCP_SIGNING_KEY=... \
#     -e GENESYSCLOUD_OAUTHCLIENT_ID=... -e GENESYSCLOUD_OAUTHCLIENT_SECRET=... -e GENESYSCLOUD_REGION=... iac-mcp:0.1.0
# Stateless: run as many replicas as needed with one IAC_MCP_SIGNING_KEY and a PostgreSQL IAC_MCP_DATABASE_URL.
FROM python:3.12.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IAC_MCP_HTTP_PORT=8000

RUN groupadd --system --gid 10001 iac \
    && useradd --system --uid 10001 --gid iac --home-dir /home/iac --create-home --shell /usr/sbin/nologin iac

WORKDIR /src
COPY pyproject.toml README.md ./
COPY iac_mcp ./iac_mcp
# The README's install, without the test extra: pip install of the project from its sources.
RUN pip install --no-cache-dir .

WORKDIR /home/iac
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('IAC_MCP_HTTP_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["iac-mcp", "serve", "--http", "--host", "0.0.0.0"]
