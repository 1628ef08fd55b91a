#!/usr/bin/env bash
# Benchmark: `citus-migrate verify` (row counts and 128-bit checksums of every table, both sides) against
# `pg_dump --data-only` of both databases (the baseline: reading every row of both sides once) on the
# same throwaway server holding the demo database twice (fixtures/demo at scale S, default 0.5: about
# 770,000 rows per side). Prints both times (best of R runs, default 3) and their ratio; the goal is a
# ratio <= 1.0.
#
#   bench/verify.sh [SCALE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-0.5}
runs=${2:-3}

cargo build --release --quiet -p citus-migrate-cli
cargo build --release --quiet -p citus-migrate-core --example local_server
bin=target/release/citus-migrate
pg_dump=$(pg_config --bindir 2>/dev/null)/pg_dump
[ -x "$pg_dump" ] || pg_dump=$(command -v pg_dump)

work=$(mktemp -d)
fifo=$work/keepalive
mkfifo "$fifo"
cleanup() { exec 3>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A throwaway server (the test harness's LocalServer), kept alive while the fifo stays open.
target/release/examples/local_server < "$fifo" > "$work/url" &
exec 3> "$fifo"
for _ in $(seq 1 600); do [ -s "$work/url" ] && break; sleep 0.5; done
url=$(cat "$work/url")
[ -n "$url" ] || { echo "the server did not start" >&2; exit 1; }
for db in src dst; do
  psql -X -q "$url" -c "CREATE DATABASE $db"
  dburl=${url/\/postgres\?//$db?}
  PGOPTIONS="-c demo.scale=$scale" psql -X -q -v ON_ERROR_STOP=1 "$dburl" -f fixtures/demo/schema.sql -f fixtures/demo/data.sql
done
src=${url/\/postgres\?//src?}
dst=${url/\/postgres\?//dst?}
rows=$(psql -X -At "$src" -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
size=$(psql -X -At "$src" -c "SELECT pg_size_pretty(pg_database_size('src'))")
echo "data: $rows rows, $size per side (demo scale $scale, PostgreSQL $(psql -X -At "$src" -c 'SHOW server_version'))"

best() { # best wall-clock seconds of $runs runs of the command
  local best_s=""
  for _ in $(seq 1 "$runs"); do
    local t0 t1 s
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best_s" ] || [ "$(echo "$s < $best_s" | bc -l)" = 1 ]; then best_s=$s; fi
  done
  printf '%.3f' "$best_s"
}

"$bin" verify --source "$src" --target "$dst" > "$work/verify.txt" || { cat "$work/verify.txt"; echo "verify found differences" >&2; exit 1; }

dump_both() { "$pg_dump" --data-only -d "$src" -f /dev/null && "$pg_dump" --data-only -d "$dst" -f /dev/null; }
dump_s=$(best dump_both)
verify_s=$(best "$bin" verify --jobs 4 --source "$src" --target "$dst" --output /dev/null)
ratio=$(echo "$verify_s / $dump_s" | bc -l)
printf 'pg_dump --data-only of both sides (baseline): %ss\n' "$dump_s"
printf 'citus-migrate verify --jobs 4: %ss\n' "$verify_s"
printf 'ratio verify / pg_dump: %.2f (goal <= 1.00)\n' "$ratio"
