#!/usr/bin/env bash
# Fault tests from outside (internal/faulttest): builds linli, starts a
# private MariaDB and Redis on spare loopback ports, kills, freezes and
# restarts them and linli under load, and checks the invariants. Needs
# mariadbd, mariadb-install-db and redis-server on PATH; never touches the
# servers on 3306/6379.
#   scripts/faults.sh          quick form (3 s outages), as .ci/run runs it
#   scripts/faults.sh long     15 s outages
# The table of docs/RELIABILITY.md is written to ${LINLI_FAULTS_REPORT:-faults-report.md}.
set -euo pipefail
cd "$(dirname "$0")/.."
LINLI_FAULTS="${1:-quick}" LINLI_FAULTS_REPORT="${LINLI_FAULTS_REPORT:-$PWD/faults-report.md}" \
	go test ./internal/faulttest -count=1 -v -timeout 30m
