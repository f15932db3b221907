#!/bin/bash
# The stand-in MySQL's entry point (MariaDB): what the official mysql image does at its first start,
# as far as this project relies on it: root's password from MYSQL_ROOT_PASSWORD (root may connect
# from any host), the database MYSQL_DATABASE, then /docker-entrypoint-initdb.d/*.sql run once,
# all with networking off, so a TCP client sees the server only once it is initialised.
set -euo pipefail
: "${MYSQL_ROOT_PASSWORD:?the stand-in, like the official image, needs MYSQL_ROOT_PASSWORD}"
datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

if [[ ! -d "${datadir}/mysql" ]]; then
  mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=normal \
    --skip-test-db >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  init_pid=$!
  for _ in $(seq 60); do
    mariadb-admin --socket="$socket" -u root ping >/dev/null 2>&1 && break
    sleep 1
  done
  mariadb --socket="$socket" -u root <<SQL
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
${MYSQL_DATABASE:+CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;}
FLUSH PRIVILEGES;
SQL
  for script in /docker-entrypoint-initdb.d/*.sql; do
    [[ -f "$script" ]] || continue
    echo "stand-in mysql: running $script"
    MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb --socket="$socket" -u root ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$script"
  done
  MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb-admin --socket="$socket" -u root shutdown
  wait "$init_pid" || true
fi
exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" --bind-address=0.0.0.0 --port=3306 \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
