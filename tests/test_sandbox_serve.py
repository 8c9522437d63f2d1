"""Running the sandbox: the background-thread server and the `iac-mcp sandbox` command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from iac_mcp.sandbox.serve import main, running_sandbox
from iac_mcp.sandbox.settings import SandboxSettings

SECRET = "cli-secret-4c8e1f"


def test_running_sandbox_serves_on_loopback_and_stops() -> None:
    with running_sandbox(SandboxSettings()) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/oauth/token").status_code == 405
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/oauth/token")


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    options = ("--host", "--port", "--catalog", "--client-id", "--client-secret", "--job-duration", "--token-lifetime", "--seed")
    for option in (*options, "--history-shape", "--client-permissions", "--validate-at", "--colour"):
        assert option in out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_with_its_options_and_never_logs_secrets() -> None:
    port = free_port()
    command = [
        sys.executable, "-c", "import sys; from iac_mcp.sandbox.serve import main; sys.exit(main(sys.argv[1:]))",
        "--port", str(port), "--client-id", "cli-client", "--client-secret", SECRET, "--job-duration", "0", "--seed", "5",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.post(f"{url}/oauth/token", auth=("cli-client", SECRET), data={"grant_type": "client_credentials"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "the CLI sandbox did not start"
                time.sleep(0.05)
        token = answer.json()["access_token"]
        listing = httpx.get(f"{url}/api/v2/infrastructureascode/accelerators", headers={"Authorization": f"Bearer {token}"})
        assert listing.status_code == 200 and listing.json()["total"] >= 12
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "cli-client" in stderr and SECRET not in stderr and token not in stderr
