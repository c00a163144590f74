"""The service images: multi-stage, pinned, non-root, self-probing; the build context excludes the noise."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest

from tests.deploy.layout import IMAGE_PORTS, IMAGES, REPO, SERVICES, dockerfile


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in dockerfile(name).read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def final_stage(name: str) -> list[tuple[str, str]]:
    steps = instructions(name)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    # Last matching pattern wins, as in Docker; "**/" also matches at the root.
    verdict = False
    for pattern in dockerignore():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, cand) for cand in candidates for prefix in prefixes):
            verdict = not negate
    return verdict


@pytest.mark.parametrize("name", IMAGES)
def test_dockerfile_is_multi_stage_on_python_311_slim(name: str) -> None:
    steps = instructions(name)
    text = dockerfile(name).read_text()
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    assert all(args.split()[0] == "${PYTHON_IMAGE}" for args in froms)


@pytest.mark.parametrize("name", IMAGES)
def test_build_stage_makes_pinned_wheels_of_shared_and_the_service(name: str) -> None:
    runs = [args for op, args in instructions(name) if op == "RUN"]
    wheel = next(args for args in runs if "pip wheel" in args)
    assert "-c constraints.txt" in wheel
    assert "./shared" in wheel.split() and f"./services/{name}" in wheel.split()


@pytest.mark.parametrize("name", IMAGES)
def test_final_stage_installs_only_wheels_and_has_no_build_tools(name: str) -> None:
    final = " ".join(args for op, args in final_stage(name) if op == "RUN")
    # Exactly the wheels the build stage made (the service's closure), from no index, then a smoke import.
    assert "--no-index" in final and "/wheels/*.whl" in final and "/opt/venv" in final
    assert f"import winback_{name}" in final
    for tool in ("apt-get", "gcc", "build-essential", "curl", "wget"):
        assert tool not in final


@pytest.mark.parametrize("name", IMAGES)
def test_runs_as_non_root_uid_10001(name: str) -> None:
    users = [args for op, args in final_stage(name) if op == "USER"]
    assert users, "final stage has no USER"
    assert users[-1].split(":")[0] == "10001"
    assert "--uid 10001" in " ".join(args for op, args in final_stage(name) if op == "RUN")


@pytest.mark.parametrize("name", IMAGES)
def test_exposes_its_port_probes_healthz_with_python_and_serves(name: str) -> None:
    final = final_stage(name)
    assert [args for op, args in final if op == "EXPOSE"] == [str(IMAGE_PORTS[name])]
    assert f"WINBACK_PORT={IMAGE_PORTS[name]}" in " ".join(args for op, args in final if op == "ENV")
    assert "WINBACK_HOST=0.0.0.0" in " ".join(args for op, args in final if op == "ENV")
    healthcheck = next(args for op, args in final if op == "HEALTHCHECK")
    assert 'CMD ["python"' in healthcheck and "/healthz" in healthcheck and str(IMAGE_PORTS[name]) in healthcheck
    assert next(args for op, args in final if op == "ENTRYPOINT") == f'["python", "-m", "winback_{name}"]'
    assert next(args for op, args in final if op == "CMD") == '["serve"]'


@pytest.mark.parametrize("name", IMAGES)
def test_copied_sources_exist_and_are_not_docker_ignored(name: str) -> None:
    sources = [args.split()[:-1] for op, args in instructions(name) if op == "COPY" and "--from" not in args]
    assert sources
    for source in (src.rstrip("/") for group in sources for src in group):
        assert (REPO / source).exists(), source
        assert not ignored(source), f"{source} is excluded by .dockerignore"
    assert not ignored(f"services/{name}/src/winback_{name}/__main__.py")
    assert not ignored("shared/src/winback_shared/settings.py")


def test_dockerignore_excludes_local_state_and_tests() -> None:
    for path in (".venv", ".git", ".winback", "tests", "bench", "shared/src/x/__pycache__", "services/x/.mypy_cache"):
        assert ignored(path), path
    assert ignored("services/ingest/src/winback_ingest.egg-info")


@pytest.mark.parametrize("name", IMAGES)
def test_the_wheel_carries_migrations_and_every_data_file(name: str) -> None:
    # Images install the built wheel, not the source tree: a file missing from package-data is missing in production.
    package = f"winback_{name}"
    pyproject = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"][package]
    root = REPO / "services" / name / "src" / package
    shipped = {path for pattern in patterns for path in root.glob(pattern)}  # setuptools globs the same way
    if name in SERVICES:
        assert "migrations/versions/*.py" in patterns
        assert set((root / "migrations" / "versions").glob("*.py")) <= shipped
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in relative:
            continue
        assert path in shipped, f"{relative} is not in package-data"
