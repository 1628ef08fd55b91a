#!/usr/bin/env bash
# Benchmark: `citus-migrate analyze --format json` against `pg_dump --schema-only` (the baseline) of the
# same throwaway database holding N tables (default 5,000), each with a primary key, a foreign key and an
# index on it. Prints both times (best of RUNS, default 3), their ratio (goal: <= 1.00), and, to show
# where the time goes, the catalog read + JSON report alone (analyze without the advice).
#
#   bench/analyze.sh [N_TABLES] [RUNS]
#   BENCH_SHAPE=tree  (default) table i references table (i-1)/10: hubs with many referencing tables,
#                     foreign key chains about 4 deep, like a real schema;
#   BENCH_SHAPE=chain table i references table i-1: one foreign key chain N tables deep (worst case
#                     for anything that walks the foreign key graph).
set -euo pipefail
cd "$(dirname "$0")/.."
n_tables=${1:-5000}
runs=${2:-3}
shape=${BENCH_SHAPE:-tree}
case "$shape" in
  tree) parent='(i - 1) / 10' ;;
  chain) parent='i - 1' ;;
  *) echo "BENCH_SHAPE must be tree or chain" >&2; exit 2 ;;
esac

cargo build --release --quiet -p citus-migrate-cli
cargo build --release --quiet -p citus-migrate-core --example local_server --example catalog_json
bin=target/release/citus-migrate
pg_dump=$(pg_config --bindir 2>/dev/null)/pg_dump
[ -x "$pg_dump" ] || pg_dump=$(command -v pg_dump)

. bench/lib.sh
work=$(mktemp -d)
cleanup() { exec 3>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

bench_schema "$n_tables" "$parent" > "$work/schema.sql"

bench_server "$work" "$work/schema.sql"
tables=$(psql -X -At "$url" -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'bench'::regnamespace")
fks=$(psql -X -At "$url" -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
echo "schema ($shape): $tables tables, $fks foreign keys, PostgreSQL $(psql -X -At "$url" -c 'SHOW server_version')"

# Check that the output is complete before timing it.
target/release/examples/catalog_json "$url" --output "$work/catalog.json"
reported=$(grep -c '"table_kind"' "$work/catalog.json")
[ "$reported" -eq "$tables" ] || { echo "the catalog read reported $reported tables, expected $tables" >&2; exit 1; }

# The runs are interleaved (pg_dump, catalog, analyze, pg_dump, …) so that all three see the same
# machine load; the best of each is reported. A full analyze over 60 s is not repeated.
dump_s=""; catalog_s=""; analyze_s=""
for _ in $(seq 1 "$runs"); do
  dump_s=$(min "$dump_s" "$(secs "$pg_dump" --schema-only -d "$url" -f /dev/null)")
  catalog_s=$(min "$catalog_s" "$(secs target/release/examples/catalog_json "$url" --output /dev/null)")
  if [ -z "$analyze_s" ] || [ "$(echo "$analyze_s < 60" | bc -l)" = 1 ]; then
    analyze_s=$(min "$analyze_s" "$(secs "$bin" analyze --format json --source "$url" --output "$work/analyze.json")")
  fi
done
dump_s=$(printf '%.3f' "$dump_s"); catalog_s=$(printf '%.3f' "$catalog_s"); analyze_s=$(printf '%.3f' "$analyze_s")
reported=$(grep -c '"table_kind"' "$work/analyze.json")
[ "$reported" -eq "$tables" ] || { echo "analyze reported $reported tables, expected $tables" >&2; exit 1; }
printf 'pg_dump --schema-only (baseline):          %8ss\n' "$dump_s"
printf 'citus-migrate analyze --format json:       %8ss   ratio %.2f (goal <= 1.00)\n' "$analyze_s" "$(echo "$analyze_s / $dump_s" | bc -l)"
printf '  of which catalog read + JSON (no advice): %8ss   ratio %.2f\n' "$catalog_s" "$(echo "$catalog_s / $dump_s" | bc -l)"
