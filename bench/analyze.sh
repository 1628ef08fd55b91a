#!/usr/bin/env bash
# Benchmark: `citus-migrate analyze --format json` against `pg_dump --schema-only` (the baseline) on
# the same throwaway server holding N tables (default 5,000), each with a primary key and a foreign
# key. Prints both times (best of R runs, default 3) and their ratio; the goal is a ratio <= 1.0.
#
#   bench/analyze.sh [N_TABLES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n_tables=${1:-5000}
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

# The schema: t0 is referenced by t1, t1 by t2, … each table has a bigint primary key, a foreign key
# to the previous table, an index on the foreign key column and a few ordinary columns.
cat > "$work/schema.sql" <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.t0 (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());
DO \$\$
BEGIN
  FOR i IN 1..${n_tables} - 1 LOOP
    EXECUTE format('CREATE TABLE bench.t%s (id bigint PRIMARY KEY, parent_id bigint REFERENCES bench.t%s (id),'
                   ' name text NOT NULL, amount numeric(12,2), created_at timestamptz DEFAULT now())', i, i - 1);
    EXECUTE format('CREATE INDEX ON bench.t%s (parent_id)', i);
  END LOOP;
END
\$\$;
ANALYZE;
SQL

# A throwaway server (the test harness's LocalServer), kept alive while the fifo stays open.
target/release/examples/local_server --db bench "$work/schema.sql" < "$fifo" > "$work/url" &
exec 3> "$fifo"
for _ in $(seq 1 600); do [ -s "$work/url" ] && break; sleep 0.5; done
url=$(cat "$work/url")
[ -n "$url" ] || { echo "the server did not start" >&2; exit 1; }
tables=$(psql -X -At "$url" -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'bench'::regnamespace")
fks=$(psql -X -At "$url" -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
echo "schema: $tables tables, $fks foreign keys (PostgreSQL $(psql -X -At "$url" -c 'SHOW server_version'))"

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

"$bin" analyze --format json --source "$url" > "$work/analyze.json"
reported=$(grep -c '"table_kind"' "$work/analyze.json")
[ "$reported" -eq "$tables" ] || { echo "analyze reported $reported tables, expected $tables" >&2; exit 1; }

dump_s=$(best "$pg_dump" --schema-only -d "$url" -f /dev/null)
analyze_s=$(best "$bin" analyze --format json --source "$url" --output /dev/null)
ratio=$(echo "$analyze_s / $dump_s" | bc -l)
printf 'pg_dump --schema-only (baseline): %ss\n' "$dump_s"
printf 'citus-migrate analyze --format json: %ss\n' "$analyze_s"
printf 'ratio analyze / pg_dump: %.2f (goal <= 1.00)\n' "$ratio"
