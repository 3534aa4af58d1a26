"""The deployment files (Dockerfile, compose.yaml, the systemd unit) name only real settings, check
health on /healthz at OPS_PORT, run as a non-root user, give the bot longer than SHUTDOWN_GRACE to
stop, and install from the lock file. Docker is not needed: the files are parsed."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from storage.url import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
INSTANCES = ROOT / "compose.instances.yaml"
INSTANCES_PROXY = ROOT / "deploy" / "nginx-instances.conf"
UNIT = ROOT / "deploy" / "contact-center-bot.service"
ENV_EXAMPLE = ROOT / ".env.example"
LOCK = "requirements.lock"

# Variables of the process or its tools, not settings of the bot.
PROCESS_VARIABLES = frozenset(
    {
        "PATH",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "MPLCONFIGDIR",
    }
)
SETTINGS = frozenset(name.upper() for name in Settings.model_fields)
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|us|min|s|m|h)?")
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def default(name: str) -> Any:
    return Settings.model_fields[name].default


def env_example_names() -> set[str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def seconds(text: str) -> float:
    """A duration as systemd (``30``, ``30s``, ``1min 30s``) or compose (``1m30s``) writes it."""
    compact = text.strip()
    parts = _DURATION_PART.findall(compact)
    assert parts, f"not a duration: {text!r}"
    assert _DURATION_PART.sub("", compact).strip() == "", f"not a duration: {text!r}"
    return sum(float(number) * _SECONDS[unit or "s"] for number, unit in parts)


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    starts = [index for index, item in enumerate(instructions) if item.keyword == "FROM"]
    assert starts, "no FROM"
    return instructions[starts[-1] :]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [item for item in stage if item.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def env_keys(arguments: str) -> set[str]:
    """Keys of ``ENV A=1 B=2`` (and the old ``ENV A 1``)."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        return {words[0]}
    return {word.split("=", 1)[0] for word in words}


def dockerfile_variables() -> set[str]:
    names: set[str] = set()
    for item in dockerfile():
        if item.keyword == "ENV":
            names |= env_keys(item.arguments)
        names |= set(_REFERENCE.findall(item.arguments))
    return names


def data_directory() -> PurePosixPath:
    """Where the default DATABASE_URL puts the database inside the image (relative to WORKDIR)."""
    relative = DEFAULT_DATABASE_URL.removeprefix("sqlite:///")
    assert not relative.startswith("/"), DEFAULT_DATABASE_URL
    workdir = PurePosixPath(only(final_stage(), "WORKDIR").arguments)
    return (workdir / relative).parent


def test_the_image_is_small_and_runs_the_bot() -> None:
    stage = final_stage()
    assert only(stage, "FROM").arguments.split()[0] == "python:3.11-slim"
    assert json.loads(only(stage, "CMD").arguments) == ["python", "-m", "bot"]
    assert only(stage, "STOPSIGNAL").arguments == "SIGTERM"


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    user = only(final_stage(), "USER").arguments.split(":")[0]
    assert user not in {"root", "0", ""}


def test_the_health_check_asks_healthz_on_the_ops_port_with_python() -> None:
    check = only(final_stage(), "HEALTHCHECK").arguments
    command = check.partition("CMD")[2]
    assert command.strip().startswith("python"), "slim images have no curl"
    assert "urllib.request" in command
    assert f"http://127.0.0.1:${{OPS_PORT:-{default('ops_port')}}}/healthz" in command
    assert re.search(r"--timeout=\d+s", check)


def test_the_dockerfile_installs_from_the_lock_file() -> None:
    instructions = dockerfile()
    assert any(item.keyword == "COPY" and LOCK in item.arguments.split() for item in instructions)
    installs = [
        item.arguments
        for item in instructions
        if item.keyword == "RUN" and "pip install" in item.arguments
    ]
    from_lock = [line for line in installs if re.search(rf"-r \S*{re.escape(LOCK)}\b", line)]
    assert from_lock, installs
    assert all("--require-hashes" in line for line in from_lock)
    # Nothing is resolved again: every pip install takes no dependencies of its own.
    assert all("--no-deps" in line for line in installs), installs
    lock = (ROOT / LOCK).read_text(encoding="utf-8")
    assert "--hash=sha256:" in lock
    assert re.search(r"^aiogram==", lock, flags=re.MULTILINE)


def test_the_database_directory_is_a_volume() -> None:
    volumes = json.loads(only(final_stage(), "VOLUME").arguments)
    assert str(data_directory()) in volumes


def test_the_build_context_leaves_out_secrets_and_venvs() -> None:
    ignored = set(DOCKERIGNORE.read_text(encoding="utf-8").split())
    assert {".env", ".venv", ".git", "data"} <= ignored


# --- compose.yaml -------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def bot_service() -> dict[str, Any]:
    services = compose()["services"]
    assert list(services) == ["bot"]
    service = services["bot"]
    assert isinstance(service, dict)
    return service


def compose_variables() -> set[str]:
    service = bot_service()
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    return set(environment) | set(_REFERENCE.findall(COMPOSE.read_text(encoding="utf-8")))


def test_compose_reads_env_restarts_and_stops_gracefully() -> None:
    service = bot_service()
    env_file = service["env_file"]
    assert ".env" in ([env_file] if isinstance(env_file, str) else env_file)
    assert service["restart"] in {"always", "unless-stopped", "on-failure"}
    assert seconds(service["stop_grace_period"]) > default("shutdown_grace")


def test_compose_keeps_the_data_in_a_named_volume() -> None:
    service = bot_service()
    mounts = dict(volume.split(":", 1)[::-1] for volume in service["volumes"])
    name = mounts[str(data_directory())]
    assert name in compose()["volumes"], "a named volume, declared at the top level"


def test_compose_publishes_the_webhook_port_and_the_ops_port_on_loopback_only() -> None:
    ports = bot_service()["ports"]
    webhook = f"${{WEBHOOK_PORT:-{default('webhook_port')}}}"
    ops = f"${{OPS_PORT:-{default('ops_port')}}}"
    assert f"{webhook}:{webhook}" in ports
    assert f"127.0.0.1:{ops}:{ops}" in ports
    assert all(ops not in port or port.startswith("127.0.0.1:") for port in ports)
    # The image documents the same webhook port.
    assert str(default("webhook_port")) in only(final_stage(), "EXPOSE").arguments.split()


# --- the systemd unit ---------------------------------------------------------------------------


def unit() -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment; keys may repeat, as systemd allows."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, separator, value = line.partition("=")
        assert separator, f"not an assignment: {line!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def service(key: str) -> list[str]:
    return [value for section, name, value in unit() if section == "Service" and name == key]


def one(key: str) -> str:
    values = service(key)
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def unit_variables() -> set[str]:
    names: set[str] = set()
    for value in service("Environment"):
        for assignment in shlex.split(value):
            names.add(assignment.split("=", 1)[0])
    for _, _, value in unit():
        names |= set(_REFERENCE.findall(value))
    return names


def test_the_unit_runs_the_venv_python_as_its_own_user() -> None:
    assert one("User") not in {"root", "0"}
    workdir = PurePosixPath(one("WorkingDirectory"))
    assert workdir.is_absolute()
    assert one("EnvironmentFile").lstrip("-") == str(workdir / ".env")
    assert shlex.split(one("ExecStart")) == [str(workdir / ".venv/bin/python"), "-m", "bot"]


def test_the_unit_restarts_on_failure_and_waits_longer_than_the_shutdown_grace() -> None:
    assert one("Restart") == "on-failure"
    assert one("KillSignal") == "SIGTERM"
    assert seconds(one("TimeoutStopSec")) > default("shutdown_grace")


def test_the_unit_is_hardened_and_writes_only_its_data() -> None:
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert one("ProtectHome") == "yes"
    writable = {path.lstrip("-") for value in service("ReadWritePaths") for path in value.split()}
    workdir = PurePosixPath(one("WorkingDirectory"))
    assert str(workdir / PurePosixPath(data_directory()).name) in writable
    backups = {
        value.split("=", 1)[1]
        for value in service("Environment")
        if value.startswith("BACKUP_DIR=")
    }
    assert backups <= writable, "backups must be writable too"


# --- two instances on PostgreSQL (compose.instances.yaml) ----------------------------------------


def instances() -> dict[str, Any]:
    loaded = yaml.safe_load(INSTANCES.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def instance_services() -> dict[str, dict[str, Any]]:
    services = instances()["services"]
    bots = {name: service for name, service in services.items() if name.startswith("bot-")}
    assert len(bots) == 2, "two bot instances"
    return bots


def instances_variables() -> set[str]:
    names: set[str] = set(_REFERENCE.findall(INSTANCES.read_text(encoding="utf-8")))
    for service in instance_services().values():
        names |= set(service.get("environment", {}))
    return names


def test_both_instances_share_one_postgresql_database_and_one_media_volume() -> None:
    services = instances()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in services["postgres"]
    urls, media = set(), set()
    for service in instance_services().values():
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://")
        urls.add(environment["DATABASE_URL"])
        mounts = dict(volume.split(":", 1)[::-1] for volume in service["volumes"])
        media.add(mounts[environment["MEDIA_DIR"]])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["restart"] in {"always", "unless-stopped", "on-failure"}
        assert seconds(service["stop_grace_period"]) > default("shutdown_grace")
        # The ops port is published on the host's loopback only.
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert len(urls) == 1, "one database"
    assert len(media) == 1, "one media volume"
    assert media <= set(instances()["volumes"]), "a named volume, declared at the top level"


def test_the_proxy_sends_webhooks_to_both_instances_and_retries_a_dropped_post() -> None:
    services = instances()["services"]
    proxy = services["proxy"]
    config = INSTANCES_PROXY.read_text(encoding="utf-8")
    mounted = [volume.split(":")[0] for volume in proxy["volumes"]]
    assert f"./deploy/{INSTANCES_PROXY.name}" in mounted
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", config, re.S)
    assert upstream is not None
    for name, service in instance_services().items():
        port = service["environment"]["WEBHOOK_PORT"]
        assert f"server {name}:{port}" in upstream.group(2)
    assert f"proxy_pass http://{upstream.group(1)};" in config
    # A webhook post is safe to repeat (the update key), so a dropped one goes to the other.
    assert re.search(r"proxy_next_upstream [^;]*non_idempotent", config)


# --- every file names real settings -------------------------------------------------------------

NAMED = {
    "Dockerfile": dockerfile_variables,
    "compose.yaml": compose_variables,
    "compose.instances.yaml": instances_variables,
    "contact-center-bot.service": unit_variables,
}


@pytest.mark.parametrize("file", list(NAMED))
def test_every_variable_named_is_a_setting_listed_in_env_example(file: str) -> None:
    named = NAMED[file]() - PROCESS_VARIABLES
    assert named, f"{file} names no setting at all: the parser is broken"
    assert named <= SETTINGS, f"{file} names what Settings does not read: {named - SETTINGS}"
    missing = named - env_example_names()
    assert not missing, f".env.example does not list {missing}"
