#!/usr/bin/env bash
# Runs linli's benchmarks against MySQL/MariaDB and Redis (started with
# scripts/start-services.sh when LINLI_TEST_MYSQL_DSN / LINLI_TEST_REDIS_ADDR
# are not set) and keeps the output in bench-results/.
#
#   scripts/bench.sh                       # every benchmark, every package
#   BENCH=GetMe PKGS=./api/ scripts/bench.sh
#   BENCHTIME=5s COUNT=3 scripts/bench.sh  # longer runs, for benchstat
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LINLI_TEST_MYSQL_DSN:-}" ] || [ -z "${LINLI_TEST_REDIS_ADDR:-}" ]; then
	eval "$(scripts/start-services.sh)"
fi
export LINLI_TEST_MYSQL_DSN LINLI_TEST_REDIS_ADDR

mkdir -p bench-results
out="bench-results/$(date +%Y%m%d-%H%M%S)-mysql-redis.txt"
echo "benchmarks on MySQL ($LINLI_TEST_MYSQL_DSN) and Redis ($LINLI_TEST_REDIS_ADDR) → $out" >&2
# shellcheck disable=SC2086
go test -run '^$' -bench "${BENCH:-.}" -benchmem -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" ${PKGS:-./...} 2>&1 | tee "$out"
