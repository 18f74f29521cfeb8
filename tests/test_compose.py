"""docker-compose.yml, the Dockerfile and deploy/docker-entrypoint.sh, checked without Docker
(no engine runs here): every service, volume, file and variable they name exists, the app's
environment matches .env.example, nginx's rewrite of deploy/nginx.conf reaches the app
instances, and the entrypoint does its three jobs when run on this host.
"""

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
import yaml
from dotenv import dotenv_values

from tests.test_wsgi_server import Server, migrate, server_env, stop, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"

EXPECTED_SERVICES = {"db", "redis", "migrate", "app1", "app2", "nginx", "mailpit"}
# Settings without which the stack would run a wrong or broken app.
NEEDED_SETTINGS = {"PARLEY_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "UPLOAD_FOLDER", "MAIL_SERVER"}
# The only keys in which the two app instances may differ.
MAY_DIFFER = {"container_name", "hostname"}
# ${NAME}, ${NAME:-default}, ${NAME:?message} and $NAME; "$$" is compose's escaped dollar.
INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_]\w*)(?P<rest>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")
# "#   NAME    what it is": a variable documented in the compose file's opening comment.
DOCUMENTED_VARIABLE = re.compile(r"^#\s+([A-Z][A-Z0-9_]*)\s{2,}\S", re.MULTILINE)
SECRET_NAME = re.compile(r"PASSWORD|SECRET")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    with COMPOSE_FILE.open() as source:
        return yaml.safe_load(source)  # SafeLoader resolves the `<<: *anchor` merge keys


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Its services by name."""
    return compose["services"]


def env_example_keys() -> set[str]:
    """The keys .env.example documents."""
    return set(dotenv_values(ROOT / ".env.example"))


def header_variables() -> set[str]:
    """The variables the compose file's opening comment documents, one "#   NAME   meaning" each."""
    header = "".join(re.findall(r"\A(?:#.*\n)*", COMPOSE_FILE.read_text()))
    return set(DOCUMENTED_VARIABLE.findall(header))


def parley_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run the image built from this repository."""
    return {name: service for name, service in services.items() if "build" in service}


def app_instances(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The image's services that serve HTTP (every one but the migration run)."""
    return {name: service for name, service in parley_services(services).items() if name != "migrate"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment:`, in either of compose's two spellings."""
    entries = service.get("environment") or {}
    if isinstance(entries, list):
        entries = dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in entries)
    return {key: "" if value is None else str(value) for key, value in entries.items()}


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def interpolations(compose: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, modifier) of every variable compose substitutes, e.g. ("MYSQL_USER", ":-parley")."""
    found = []
    for text in strings(compose):
        for match in INTERPOLATION.finditer(text):
            name = match["braced"] or match["bare"]
            if name:
                found.append((name, match["rest"] or ""))
    return found


def substitute(text: str) -> str:
    """The text as compose would make it with nothing set: defaults used, required ones filled."""

    def value(match: re.Match[str]) -> str:
        rest = match["rest"] or ""
        if match.group(0) == "$$":
            return "$"
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        return f"<{match['braced'] or match['bare']}>"

    return INTERPOLATION.sub(value, text)


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume of a service, in either of compose's syntaxes."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts.append((entry.get("source", ""), entry["target"], bool(entry.get("read_only"))))
            continue
        source, target, *options = entry.split(":")
        mounts.append((source, target, "ro" in options))
    return mounts


def is_bind_mount(source: str) -> bool:
    """Whether a volume source is a host path rather than a named volume."""
    return source.startswith((".", "/", "~"))


def mount_for(service: dict[str, Any], path: str) -> tuple[str, str, bool]:
    """The mount a path inside the service's container lies on, the deepest one."""
    inside = PurePosixPath(path)
    candidates = [mount for mount in volume_mounts(service) if inside.is_relative_to(PurePosixPath(mount[1]))]
    assert candidates, f"{path} is on no volume of the service"
    return max(candidates, key=lambda mount: len(PurePosixPath(mount[1]).parts))


def dockerfile_instructions(final_stage_only: bool = True) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile (its final stage by default), lines joined."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    for line in logical:
        word, _, arguments = line.strip().partition(" ")
        instructions.append((word.upper(), arguments.strip()))
    if not final_stage_only:
        return instructions
    last_from = max(index for index, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def dockerfile_copies() -> list[tuple[list[str], str, dict[str, str]]]:
    """(sources, destination, flags) of each COPY of every stage."""
    copies = []
    for word, arguments in dockerfile_instructions(final_stage_only=False):
        if word != "COPY":
            continue
        tokens = shlex.split(arguments)
        flags = dict(token[2:].split("=", 1) for token in tokens if token.startswith("--"))
        paths = [token for token in tokens if not token.startswith("--")]
        copies.append((paths[:-1], paths[-1], flags))
    return copies


def dockerfile_env() -> dict[str, str]:
    """The ENV the final stage sets."""
    values = {}
    for word, arguments in dockerfile_instructions():
        if word == "ENV":
            values.update(token.split("=", 1) for token in shlex.split(arguments))
    return values


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression: "**" spans folders, "*" and "?" do not."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps path (relative to the context) out of the build context."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    parts = PurePosixPath(path).parts
    # A folder left out takes what is inside it along; the last pattern that matches decides.
    prefixes = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = dockerignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def upstream_servers(config: str) -> list[str]:
    """host:port of each `server` line of the nginx config's upstream blocks."""
    servers = []
    for block in re.findall(r"^upstream\s+\S+\s*\{(.*?)^\}", config, re.MULTILINE | re.DOTALL):
        servers += re.findall(r"^\s*server\s+(\S+?)[\s;]", block, re.MULTILINE)
    return servers


def nginx_rewrite(service: dict[str, Any]) -> tuple[list[str], str, str]:
    """The nginx service's sed command: (sed arguments, file read, file written), as in the container."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], "nginx is expected to start through `sh -c`"
    tokens = shlex.split(command[2])
    start = tokens.index("sed")
    end = tokens.index(">", start)
    arguments = tokens[start + 1 : end]
    return arguments[:-1], arguments[-1], tokens[end + 1]


def host_path(service: dict[str, Any], path: str) -> Path:
    """Where a file a service reads through a bind mount lives in this repository."""
    source, target, _ = mount_for(service, path)
    assert is_bind_mount(source), f"{path} is not on a bind mount"
    return (ROOT / source / PurePosixPath(path).relative_to(target)).resolve()


def rewritten_nginx_conf(services: dict[str, dict[str, Any]]) -> str:
    """deploy/nginx.conf as the nginx container's start rewrites it (sed runs here too)."""
    expressions, read, _ = nginx_rewrite(services["nginx"])
    done = subprocess.run(
        ["sed", *expressions, str(host_path(services["nginx"], read))],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def bound_address(service: dict[str, Any]) -> str:
    """PARLEY_HTTP_SOCKET of an app instance: its compose environment, else the image's ENV."""
    return environment(service).get("PARLEY_HTTP_SOCKET") or dockerfile_env()["PARLEY_HTTP_SOCKET"]


def entrypoint_commands() -> set[str]:
    """The commands the entrypoint's case statement names (its `*)` fallback aside)."""
    labels = re.findall(r"^\s*([a-z][a-z|-]*)\)\s*$", ENTRYPOINT.read_text(), re.MULTILINE)
    return {command for label in labels for command in label.split("|")}


def entrypoint_env(folder: Path, **extra: str) -> dict[str, str]:
    """A development server's environment with this virtualenv's uwsgi, flask and python first."""
    env = server_env(folder, **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# The compose file


def test_compose_file_has_exactly_the_stacks_services(services):
    assert set(services) == EXPECTED_SERVICES


def test_every_depends_on_names_a_service(services):
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def test_every_volume_is_declared_or_a_path_of_the_repository(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _, _ in volume_mounts(service):
            if is_bind_mount(source):
                path = (ROOT / source).resolve()
                assert path.is_relative_to(ROOT), f"{name} mounts {source}, outside the repository"
                assert path.exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} mounts the undeclared volume {source}"


def test_every_build_names_an_existing_dockerfile(services):
    builds = [service["build"] for service in services.values() if "build" in service]
    assert builds
    for build in builds:
        context = ROOT / (build if isinstance(build, str) else build["context"])
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), build


def test_every_interpolated_variable_is_documented(compose):
    documented = header_variables() | env_example_keys()
    assert {name for name, _ in interpolations(compose)} - documented == set()


def test_every_variable_the_header_documents_is_used(compose):
    used = {name for name, _ in interpolations(compose)}
    assert header_variables() - used == set()


def test_secrets_are_required_and_have_no_default(compose, services):
    secrets_used = [(name, rest) for name, rest in interpolations(compose) if SECRET_NAME.search(name)]
    assert secrets_used
    for name, rest in secrets_used:
        assert rest.startswith((":?", "?")), f"${{{name}}} must be required (${{{name}:?message}})"
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(value), f"{name} sets {key} to a literal"


def test_the_images_services_set_only_keys_of_env_example(services):
    keys = env_example_keys()
    for name, service in parley_services(services).items():
        assert set(environment(service)) - keys == set(), name


def test_the_images_services_read_env_and_get_every_needed_setting(services):
    for name, service in parley_services(services).items():
        env_files = service.get("env_file")
        assert ".env" in ([env_files] if isinstance(env_files, str) else env_files), name
        settings = environment(service)
        assert set(settings) >= NEEDED_SETTINGS, name
        assert settings["PARLEY_ENV"] == "production"
        assert settings["SECRET_KEY"].startswith("${SECRET_KEY:?"), "SECRET_KEY must come from .env"


def test_the_app_settings_point_at_the_stacks_services(services):
    db = environment(services["db"])
    for name, service in parley_services(services).items():
        settings = {key: substitute(value) for key, value in environment(service).items()}
        database = sa.engine.make_url(settings["DATABASE_URL"])
        assert database.drivername == "mysql+pymysql"
        assert (database.host, database.port or 3306) == ("db", 3306), name
        assert database.database == substitute(db["MYSQL_DATABASE"])
        assert database.username == substitute(db["MYSQL_USER"])
        assert database.password == substitute(db["MYSQL_PASSWORD"])
        assert database.query["charset"] == "utf8mb4"
        assert urlsplit(settings["REDIS_URL"]).hostname == "redis"
        assert settings["MAIL_SERVER"] == "mailpit"
        assert settings["MAIL_PORT"] == "1025"  # mailpit's SMTP port


def test_the_images_services_share_one_image(services):
    built = parley_services(services)
    assert set(built) == {"migrate", "app1", "app2"}
    assert len({yaml.safe_dump(service["build"]) for service in built.values()}) == 1
    assert len({service.get("image") for service in built.values()}) == 1


def test_the_app_instances_differ_only_where_they_must(services):
    first, second = (
        {key: value for key, value in services[name].items() if key not in MAY_DIFFER}
        for name in ("app1", "app2")
    )
    assert first == second


def test_migrations_run_once_before_the_app_instances_start(services):
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"]
    for name, service in app_instances(services).items():
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_the_entrypoint_knows_every_command_the_image_is_given(services):
    (default,) = [yaml.safe_load(arguments) for word, arguments in dockerfile_instructions() if word == "CMD"]
    commands = {service.get("command", default)[0] for service in parley_services(services).values()}
    assert commands | {default[0]} <= entrypoint_commands()


# nginx in front of the app instances


def test_the_nginx_rewrite_hits_every_upstream_line_of_nginx_conf(services):
    _, read, _ = nginx_rewrite(services["nginx"])
    assert host_path(services["nginx"], read) == NGINX_CONF
    original, rewritten = NGINX_CONF.read_text(), rewritten_nginx_conf(services)
    assert len(upstream_servers(original)) >= 2
    changed = [
        (before, after)
        for before, after in zip(original.splitlines(), rewritten.splitlines(), strict=True)
        if before != after
    ]
    assert len(changed) == len(upstream_servers(original)), "only the upstream's server lines change"
    assert set(upstream_servers(rewritten)).isdisjoint(upstream_servers(original))


def test_the_nginx_upstream_is_where_the_app_instances_listen(services):
    listening = set()
    for name, service in app_instances(services).items():
        host, port = bound_address(service).rsplit(":", 1)
        assert host == "0.0.0.0", f"{name} must listen on every interface of its container"
        listening.add(f"{name}:{port}")
    assert sorted(upstream_servers(rewritten_nginx_conf(services))) == sorted(listening)


def test_the_rewritten_config_replaces_the_images_default_site(services):
    _, _, written = nginx_rewrite(services["nginx"])
    assert written == "/etc/nginx/conf.d/default.conf"


def test_the_app_healthcheck_asks_the_port_the_instance_listens_on(services):
    for name, service in app_instances(services).items():
        port = bound_address(service).rsplit(":", 1)[1]
        assert f"127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"]), name


def test_nginx_mounts_static_files_where_its_alias_looks(services):
    (alias,) = re.findall(r"location /static/ \{\s*alias (\S+);", NGINX_CONF.read_text())
    _, _, read_only = mount_for(services["nginx"], alias)
    assert read_only
    assert host_path(services["nginx"], alias) == ROOT / "public" / "static"


def test_nginx_reads_avatars_from_the_volume_the_app_instances_write(services):
    (alias,) = re.findall(r"location /uploads/avatars/ \{\s*alias (\S+);", NGINX_CONF.read_text())
    source, target, read_only = mount_for(services["nginx"], alias)
    assert read_only
    assert not is_bind_mount(source)
    for name, service in app_instances(services).items():
        avatars = PurePosixPath(environment(service)["UPLOAD_FOLDER"]) / "avatars"
        app_source, app_target, app_read_only = mount_for(service, str(avatars))
        assert (app_source, app_read_only) == (source, False), name
        assert avatars.relative_to(app_target) == PurePosixPath(alias).relative_to(target), name


# The Dockerfile


def test_every_file_the_dockerfile_copies_exists():
    copies = [(sources, flags) for sources, _, flags in dockerfile_copies() if "from" not in flags]
    assert copies
    for sources, _ in copies:
        for source in sources:
            assert (ROOT / source).exists(), source


def test_dockerignore_keeps_every_file_the_dockerfile_copies():
    for sources, _, flags in dockerfile_copies():
        if "from" not in flags:
            for source in sources:
                assert not dockerignored(source), source


@pytest.mark.parametrize("path", [".env", ".venv/bin/python", "instance/parley.db", "app/__pycache__/x.pyc"])
def test_dockerignore_keeps_secrets_and_local_state_out(path):
    assert dockerignored(path)


def test_the_image_runs_as_an_unprivileged_user():
    users = [arguments for word, arguments in dockerfile_instructions() if word == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_entrypoint_is_copied_where_the_image_runs_it():
    (workdir,) = [arguments for word, arguments in dockerfile_instructions() if word == "WORKDIR"]
    (entrypoint,) = [arguments for word, arguments in dockerfile_instructions() if word == "ENTRYPOINT"]
    relative = ENTRYPOINT.relative_to(ROOT).as_posix()
    (destination,) = [dest for sources, dest, _ in dockerfile_copies() if relative in sources]
    placed = PurePosixPath(workdir) / destination
    if destination.endswith("/"):
        placed /= PurePosixPath(relative).name
    assert yaml.safe_load(entrypoint) == [str(placed)]


def test_the_uploads_volume_lands_on_a_folder_the_image_gives_its_user(services):
    # Docker fills a new named volume from the image's folder, owner included: on a folder the
    # image lacks, the volume would belong to root and every avatar upload would fail.
    (workdir,) = [arguments for word, arguments in dockerfile_instructions() if word == "WORKDIR"]
    user = [arguments for word, arguments in dockerfile_instructions() if word == "USER"][-1]
    runs = " ".join(arguments for word, arguments in dockerfile_instructions() if word == "RUN")
    for name, service in app_instances(services).items():
        _, target, _ = mount_for(service, environment(service)["UPLOAD_FOLDER"])
        relative = PurePosixPath(target).relative_to(workdir)
        assert f"mkdir -p {relative}" in runs, name
        assert re.search(rf"chown -R {user}:\S+ {relative.parts[0]}\b", runs), name


# The entrypoint, run on this host as the container runs it


def test_entrypoint_migrate_applies_the_migrations_and_ensures_the_admin(tmp_path):
    env = entrypoint_env(tmp_path, ADMIN_EMAIL="boss@example.com", ADMIN_PASSWORD="a long admin password")
    done = subprocess.run(
        [str(ENTRYPOINT), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            role = connection.execute(
                sa.text("SELECT role FROM users WHERE email = :email"), {"email": "boss@example.com"}
            ).scalar_one()
    finally:
        engine.dispose()
    assert role == "admin"


def test_entrypoint_serves_with_uwsgi_by_default(tmp_path):
    env = entrypoint_env(tmp_path)
    migrate(env)
    env["PARLEY_HTTP_SOCKET"] = f"127.0.0.1:{env['PORT']}"
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{env['PORT']}", process, log)
    try:
        wait_until_healthy(server)
        assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
        # exec'd: the process docker signals is uWSGI's master itself, not a shell around it.
        assert Path(f"/proc/{process.pid}/comm").read_text().strip() == "uwsgi"
    finally:
        stop(process)


def test_entrypoint_runs_any_other_command_as_given(tmp_path):
    done = subprocess.run(
        [str(ENTRYPOINT), "python", "-c", "print('as given')"],
        cwd=ROOT,
        env=entrypoint_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "as given\n")
