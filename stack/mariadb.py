"""MariaDB: the specification's database `CS544` with its `temperatures` table, root's password `abc`."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess

from .supervise import HOST, VAR, Server, StackError

MARIADB_PORT = 3306
MARIADB_PASSWORD = "abc"
DATABASE = "CS544"
TABLE_DDL = ("CREATE TABLE IF NOT EXISTS temperatures (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
             "station_id TEXT, date DATE, degrees DOUBLE)")


class MariaDB(Server):
    def __init__(self) -> None:
        super().__init__("mariadb", MARIADB_PORT, stop_timeout=60.0)
        self.home = VAR / "mariadb"
        self.datadir = self.home / "data"
        self.socket = self.home / "mariadb.sock"

    @staticmethod
    def _binary(*names: str) -> str:
        for name in names:
            path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
            if path:
                return path
        raise StackError(f"mariadb: {names[0]} is not installed; run `make setup` (it installs mariadb-server)")

    def _as_root(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def prepare(self) -> None:
        if (self.datadir / "mysql").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [self._binary("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._as_root()],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"mariadb: install-db failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")

    def command(self) -> list[str]:
        return [self._binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.socket}", f"--port={MARIADB_PORT}", f"--bind-address={HOST}",
                f"--pid-file={self.home / 'mariadbd.pid'}", "--skip-log-bin", "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M", "--max-connections=200",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                *self._as_root()]

    def sql(self, statement: str, password: str | None = MARIADB_PASSWORD,
            over_tcp: bool = False) -> subprocess.CompletedProcess:
        auth = [f"-p{password}"] if password else []
        where = [f"--host={HOST}", f"--port={MARIADB_PORT}"] if over_tcp else [f"--socket={self.socket}"]
        return subprocess.run([self._binary("mariadb", "mysql"), "--no-defaults", "-uroot", *auth, *where,
                               "-e", statement], capture_output=True, text=True)

    def is_ready(self) -> bool:
        return self.sql("SELECT 1").returncode == 0 or self.sql("SELECT 1", password=None).returncode == 0

    def after_ready(self) -> None:
        if self.sql("SELECT 1", over_tcp=True).returncode != 0:
            # First start: install-db made password-less root accounts (localhost, 127.0.0.1, ::1, this
            # host). Keep one for the socket and one for TCP, both with the specification's password.
            setup = (f"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'{socket.gethostname()}';"
                     f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{MARIADB_PASSWORD}';"
                     f"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{MARIADB_PASSWORD}';"
                     "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;")
            password = MARIADB_PASSWORD if self.sql("SELECT 1").returncode == 0 else None
            result = self.sql(setup, password=password)
            if result.returncode != 0:
                raise StackError(f"mariadb: setting root's password failed: {result.stderr.strip()}")
        result = self.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}; USE {DATABASE}; {TABLE_DDL};", over_tcp=True)
        if result.returncode != 0:
            raise StackError(f"mariadb: creating {DATABASE}.temperatures failed: {result.stderr.strip()}")
