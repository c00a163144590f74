"""docker-compose.yml: what `docker compose up` relies on, checked without an engine."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.layout import COMPOSE_FILE, CONSOLE, IMAGE_PORTS, PORTS, REPO, SERVICES, load_yaml
from winback_shared.events.topics import ALL_TOPICS

INFRA = ("kafka", "kafka-init", "postgres")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def default_of(value: str) -> str:
    """The default of a `${VAR:-default}` interpolation."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    assert match, f"{value!r} is not ${{VAR:-default}}"
    return match.group(1)


def test_every_service_infra_and_migration_job_is_present(services: dict[str, Any]) -> None:
    expected = set(INFRA) | set(SERVICES) | {f"{name}-migrate" for name in SERVICES}
    assert expected <= set(services)


@pytest.mark.parametrize("name", SERVICES)
def test_service_builds_from_its_dockerfile_at_the_repo_root(services: dict[str, Any], name: str) -> None:
    for key in (name, f"{name}-migrate"):
        build = services[key]["build"]
        assert (REPO / build["context"]).resolve() == REPO
        assert (REPO / build["dockerfile"]).is_file()
        assert build["dockerfile"] == f"services/{name}/Dockerfile"
    assert services[name]["image"] == services[f"{name}-migrate"]["image"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_port_and_environment_match_the_spec(services: dict[str, Any], name: str) -> None:
    service = services[name]
    env = service["environment"]
    assert env["WINBACK_PORT"] == str(PORTS[name])
    assert env["WINBACK_HOST"] == "0.0.0.0"
    assert env["WINBACK_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["WINBACK_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/winback" in env["WINBACK_DATABASE_URL"]
    published = [str(port).rsplit(":", 2) for port in service["ports"]]
    assert [(parts[-2], parts[-1]) for parts in published] == [(str(PORTS[name]), str(PORTS[name]))]
    assert service["command"] == ["serve"]


def test_campaign_reaches_consent_by_service_name(services: dict[str, Any]) -> None:
    env = services["campaign"]["environment"]
    assert env["WINBACK_CONSENT_URL"] == f"http://consent:{PORTS['consent']}"
    assert env["WINBACK_CONSENT_API_KEY"].startswith("${WINBACK_CONSENT_API_KEY")


@pytest.mark.parametrize("name", SERVICES)
def test_service_starts_after_migration_topics_and_healthy_infra(services: dict[str, Any], name: str) -> None:
    depends = services[name]["depends_on"]
    assert depends[f"{name}-migrate"]["condition"] == "service_completed_successfully"
    assert depends["kafka-init"]["condition"] == "service_completed_successfully"
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_campaign_waits_for_a_healthy_consent(services: dict[str, Any]) -> None:
    assert services["campaign"]["depends_on"]["consent"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", SERVICES)
def test_migration_job_is_one_shot_after_a_healthy_database(services: dict[str, Any], name: str) -> None:
    job = services[f"{name}-migrate"]
    assert job["command"] == ["migrate"]
    assert job["restart"] == "no"
    assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert job["environment"]["WINBACK_DATABASE_URL"] == services[name]["environment"]["WINBACK_DATABASE_URL"]


@pytest.mark.parametrize("name", [*SERVICES, "kafka", "postgres"])
def test_long_running_containers_have_healthchecks(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"] and check["interval"] and check["retries"] >= 3


@pytest.mark.parametrize("name", SERVICES)
def test_service_healthcheck_probes_its_own_port_with_python(services: dict[str, Any], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "WINBACK_PORT" in test[-1] and ("/readyz" in test[-1] or "/healthz" in test[-1])


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka["image"])
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER" in env["KAFKA_LISTENERS"] and env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert not any("ZOOKEEPER" in key for key in env)
    assert "zookeeper" not in services
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_topic_init_creates_every_contract_topic(services: dict[str, Any]) -> None:
    init = services["kafka-init"]
    assert init["image"] == services["kafka"]["image"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = " ".join(init["command"])
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    assert set(ALL_TOPICS) <= set(re.findall(r"winback\.[a-z.]+[a-z]", script))


def test_postgres_is_17_with_pg_isready_and_a_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:17"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert postgres["environment"]["POSTGRES_DB"] == "winback"


def test_credentials_come_from_the_environment_with_local_only_defaults(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|API_KEY|SECRET|TOKEN", key):
                assert str(value).startswith("${"), f"{name}.{key} is committed as a literal"
    env = services["ingest"]["environment"]
    # The default keys are the spec's public dev keys, so the default environment must not be production.
    assert default_of(env["WINBACK_ENV"]) == "development"
    assert {entry.split(":")[0] for entry in default_of(env["WINBACK_API_KEYS"]).split(",")} <= {
        "dev-admin-key",
        "dev-ingest-key",
    }


def test_the_console_builds_its_image_and_reaches_every_service_by_name(services: dict[str, Any]) -> None:
    console = services[CONSOLE]
    assert console["build"]["dockerfile"] == f"services/{CONSOLE}/Dockerfile"
    assert (REPO / console["build"]["dockerfile"]).is_file()
    assert console["command"] == ["serve"]
    env = console["environment"]
    assert env["WINBACK_PORT"] == str(IMAGE_PORTS[CONSOLE]) and env["WINBACK_HOST"] == "0.0.0.0"
    assert [str(p).rsplit(":", 2)[-2:] for p in console["ports"]] == [[str(IMAGE_PORTS[CONSOLE])] * 2]
    for name in SERVICES:
        assert env[f"WINBACK_{name.upper()}_URL"] == f"http://{name}:{PORTS[name]}"
        assert console["depends_on"][name]["condition"] == "service_healthy"
    # No database and no broker: nothing of theirs reaches the console, and it has no migration job.
    assert not {"WINBACK_DATABASE_URL", "WINBACK_KAFKA_BOOTSTRAP"} & set(env)
    assert f"{CONSOLE}-migrate" not in services
    assert default_of(env["WINBACK_CONSOLE_SECRET"]) == "winback-dev-console-secret"
    assert default_of(env["WINBACK_ENV"]) == "development"
    test = console["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"] and "WINBACK_PORT" in test[-1]
