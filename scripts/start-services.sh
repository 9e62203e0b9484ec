#!/usr/bin/env bash
# Starts a local MariaDB and Redis on 127.0.0.1 when they are not already up,
# creates the linli user (password linli), the database linli and the grants
# the tests need (databases named linli_t_%), and prints the environment to
# set, as export lines on stdout (messages go to stderr):
#
#   eval "$(scripts/start-services.sh)"
#
# The Debian packages mariadb-server and redis-server are installed with apt
# only when their binaries are missing. Starting daemons and installing need
# root. Exits non-zero when a service cannot be reached.
set -euo pipefail

MYSQL_PORT=3306
REDIS_PORT=6379
say() { echo "start-services: $*" >&2; }

# port_open HOST PORT: something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # HOST PORT NAME SECONDS
	local i
	for ((i = 0; i < $4 * 4; i++)); do
		port_open "$1" "$2" && return 0
		sleep 0.25
	done
	say "$3 did not come up on $1:$2 within $4 s"
	return 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
		say "need root to run: $*"
		return 1
	fi
}

install_missing() {
	local pkgs=()
	[ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || pkgs+=(mariadb-server)
	command -v redis-server >/dev/null || pkgs+=(redis-server)
	if [ ${#pkgs[@]} -gt 0 ]; then
		say "installing ${pkgs[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2 ||
			{ as_root apt-get update >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2; }
	fi
}

# MariaDB.
if port_open 127.0.0.1 $MYSQL_PORT; then
	say "MariaDB/MySQL already up on 127.0.0.1:$MYSQL_PORT"
else
	install_missing
	daemon=/usr/sbin/mariadbd
	[ -x "$daemon" ] || daemon=/usr/sbin/mysqld
	say "starting $daemon"
	as_root install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
	as_root start-stop-daemon --start --oknodo --background --exec "$daemon"
	wait_port 127.0.0.1 $MYSQL_PORT MariaDB 60
fi

# Redis.
if port_open 127.0.0.1 $REDIS_PORT; then
	say "Redis already up on 127.0.0.1:$REDIS_PORT"
else
	install_missing
	say "starting redis-server"
	redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" --appendonly no >&2
	wait_port 127.0.0.1 $REDIS_PORT Redis 30
fi

# The linli user and its grants (root logs in through the socket).
if command -v mysql >/dev/null && as_root mysql -uroot -e 'SELECT 1' >/dev/null 2>&1; then
	as_root mysql -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS linli CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'linli'@'127.0.0.1' IDENTIFIED BY 'linli';
CREATE USER IF NOT EXISTS 'linli'@'localhost' IDENTIFIED BY 'linli';
GRANT ALL PRIVILEGES ON `linli`.* TO 'linli'@'127.0.0.1', 'linli'@'localhost';
GRANT ALL PRIVILEGES ON `linli\_t\_%`.* TO 'linli'@'127.0.0.1', 'linli'@'localhost';
FLUSH PRIVILEGES;
-- Test packages run in parallel, each with two API instances and races of
-- a hundred requests: the default 151 connections run out.
SET GLOBAL max_connections = GREATEST(@@max_connections, 1000);
SQL
	say "user linli/linli may use database linli and create/drop linli_t_* databases; max_connections >= 1000"
else
	say "cannot log in as the MySQL root user; assuming user linli/linli exists"
fi

# Both must answer a real command, not only accept connections.
if command -v mysql >/dev/null && ! mysql -h127.0.0.1 -P$MYSQL_PORT -ulinli -plinli -e 'SELECT 1' >/dev/null 2>&1; then
	say "cannot log in to MariaDB as linli/linli on 127.0.0.1:$MYSQL_PORT"
	exit 1
fi
if command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null)" != PONG ]; then
	say "Redis on 127.0.0.1:$REDIS_PORT does not answer PING"
	exit 1
fi

cat <<ENV
# Run linli on them:
export LINLI_DATABASE_DRIVER=mysql
export LINLI_DATABASE_DSN='linli:linli@tcp(127.0.0.1:$MYSQL_PORT)/linli'
export LINLI_REDIS_ADDR=127.0.0.1:$REDIS_PORT
# Run the tests on them:
export LINLI_TEST_MYSQL_DSN='linli:linli@tcp(127.0.0.1:$MYSQL_PORT)/'
export LINLI_TEST_REDIS_ADDR=127.0.0.1:$REDIS_PORT
ENV
