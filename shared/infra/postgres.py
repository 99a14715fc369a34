"""A project-local PostgreSQL cluster (Debian's server binaries, no root service) and the
database layout of the contract: one schema and one login role per service."""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SERVICES: tuple[str, ...] = (
    "market_data", "pairs", "regime", "signals", "backtest", "portfolio", "execution",
)  # fmt: skip
ADMIN_USER = "postgres"
DATABASE = "titan"
# pg_ctl -w waits this long for start/stop; a fast shutdown of a small cluster takes < 2 s,
# a start after a crash replays WAL, which 60 s covers on a loaded 2-core machine.
PG_CTL_TIMEOUT_S = 60
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PASSWORD = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")


class PostgresError(RuntimeError):
    """The cluster could not be created, started, stopped or provisioned."""


def role_for(service: str) -> str:
    return f"titan_{service}"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def find_pg_bindir() -> Path:
    """TITAN_PG_BINDIR, else the newest /usr/lib/postgresql/<major>/bin, else PATH."""
    env = os.environ.get("TITAN_PG_BINDIR")
    if env:
        return Path(env)
    root = Path("/usr/lib/postgresql")
    majors = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists() and p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if majors:
        return majors[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresError(
        "no PostgreSQL server binaries (initdb) found; apt-get install postgresql "
        "or set TITAN_PG_BINDIR"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("TITAN_PG_USER"), "postgres", "nobody"):
        if name:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
    raise PostgresError("running as root and no 'postgres' or 'nobody' account to run the server")


def _traversable_by(path: Path, user: pwd.struct_passwd) -> bool:
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def cluster_dir_for(preferred: Path) -> Path:
    """`preferred`, unless running as root and the server account cannot reach it; then a
    stable folder under /var/tmp named after `preferred` (recorded in the state file)."""
    user = _server_user()
    preferred = preferred.resolve()
    if user is None or _traversable_by(preferred.parent, user):
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"titan-postgres-{digest}"


@dataclass(frozen=True)
class PostgresCluster:
    base_dir: Path
    port: int
    bindir: Path
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def admin_dsn(self, password: str, database: str = DATABASE) -> str:
        return make_dsn(self.host, self.port, ADMIN_USER, password, database)


def make_dsn(host: str, port: int, user: str, password: str, database: str) -> str:
    return f"postgresql://{quote(user)}:{quote(password, safe='')}@{host}:{port}/{database}"


def dsn_with(dsn: str, *, user: str, password: str, database: str) -> str:
    """`dsn` (host, port, options kept) with another user, password and database."""
    parts = urlsplit(dsn)
    hostport = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user)}:{quote(password, safe='')}@{hostport}"
    return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


def _run(argv: list[str], user: pwd.struct_passwd | None, what: str) -> str:
    kwargs: dict[str, object] = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise PostgresError(f"{what} failed ({' '.join(argv[:2])}):\n{proc.stdout}{proc.stderr}")
    out: str = proc.stdout
    return out


def _prepare_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)


def init_cluster(base_dir: Path, port: int, admin_password: str) -> PostgresCluster:
    """initdb into `base_dir/data` (once): scram over TCP, trust on the socket in `base_dir`."""
    cluster = PostgresCluster(base_dir.resolve(), port, find_pg_bindir())
    user = _server_user()
    _prepare_dir(cluster.base_dir, user)
    _prepare_dir(cluster.socket_dir, user)
    if (cluster.data_dir / "PG_VERSION").exists():
        return cluster
    pwfile = cluster.base_dir / ".pwfile"
    pwfile.write_text(admin_password + "\n")
    pwfile.chmod(0o600)
    if user is not None:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    try:
        argv = [str(cluster.bindir / "initdb"), "-D", str(cluster.data_dir), "-U", ADMIN_USER]
        argv += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        argv += ["-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]
        _run(argv, user, "initdb")
    finally:
        pwfile.unlink(missing_ok=True)
    with open(cluster.data_dir / "postgresql.conf", "a") as conf:
        conf.write("\ninclude 'titan.conf'\n")
    return cluster


def _write_titan_conf(cluster: PostgresCluster) -> None:
    conf = cluster.data_dir / "titan.conf"
    conf.write_text(
        "# written by shared/infra/postgres.py at every start\n"
        f"listen_addresses = '{cluster.host}'\n"
        f"port = {cluster.port}\n"
        f"unix_socket_directories = '{cluster.socket_dir}'\n"
        "shared_buffers = 256MB\n"
        "max_connections = 100\n"
        "synchronous_commit = on\n"
        "password_encryption = 'scram-sha-256'\n"
        "log_min_messages = warning\n"
    )
    user = _server_user()
    if user is not None:
        os.chown(conf, user.pw_uid, user.pw_gid)


def start_cluster(cluster: PostgresCluster) -> int:
    """pg_ctl start (waits until it accepts connections); returns the postmaster pid."""
    _write_titan_conf(cluster)
    user = _server_user()
    if user is not None and not cluster.log_file.exists():
        cluster.log_file.touch()
        os.chown(cluster.log_file, user.pw_uid, user.pw_gid)
    argv = [
        str(cluster.bindir / "pg_ctl"),
        "-D",
        str(cluster.data_dir),
        "-l",
        str(cluster.log_file),
    ]
    argv += ["-w", "-t", str(PG_CTL_TIMEOUT_S), "start"]
    try:
        _run(argv, user, "pg_ctl start")
    except PostgresError as exc:
        from shared.infra.process import tail

        raise PostgresError(f"{exc}\nlog tail:\n{tail(cluster.log_file)}") from None
    pid = cluster.pid()
    if pid is None:
        raise PostgresError(
            f"PostgreSQL started but {cluster.data_dir}/postmaster.pid is unreadable"
        )
    return pid


def pg_ctl(data_dir: Path, *action: str, bindir: Path | None = None) -> str:
    """Run `pg_ctl -D data_dir ACTION...` as the server's account (operators and fault
    tests restart or crash-stop a cluster with it)."""
    argv = [str((bindir or find_pg_bindir()) / "pg_ctl"), "-D", str(data_dir), *action]
    return _run(argv, _server_user(), f"pg_ctl {' '.join(action)}")


def stop_cluster(data_dir: Path, bindir: Path | None = None) -> bool:
    """pg_ctl stop -m fast; True when a running server was stopped."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    pg_ctl = str((bindir or find_pg_bindir()) / "pg_ctl")
    argv = [pg_ctl, "-D", str(data_dir), "-m", "fast", "-w", "-t", str(PG_CTL_TIMEOUT_S), "stop"]
    try:
        _run(argv, _server_user(), "pg_ctl stop")
    except PostgresError:
        argv[-4] = "immediate"  # fast shutdown hung: crash-stop, WAL replays at next start
        _run(argv, _server_user(), "pg_ctl stop -m immediate")
    return True


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise PostgresError(f"invalid identifier {name!r}: expected [a-z_][a-z0-9_]*")
    return name


def _check_password(password: str) -> str:
    # Passwords are ours (token_urlsafe); checking keeps them safe to inline in DDL.
    if not _PASSWORD.match(password):
        raise PostgresError("role password must be 16-128 characters of [A-Za-z0-9_-]")
    return password
