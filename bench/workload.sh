#!/usr/bin/env bash
# Benchmark: `citus-migrate analyze --format json --workload FILE` with a 10,000-query workload against
# the same analyze without it (the baseline, same run, same throwaway database): N tables (default
# 1,000), each with a primary key, a foreign key to its parent (table i references (i-1)/10) and an
# index on it. The workload mixes what an application sends: lookups by key, lookups of a parent's
# children, joins of a table with its parent, aggregates, inserts, updates and deletes, each with
# pg_stat_statements-style $n parameters and a -- calls: weight. Prints both times (best of RUNS,
# default 3, interleaved) and their ratio (goal: <= 2.00).
#
#   bench/workload.sh [N_TABLES] [N_QUERIES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n_tables=${1:-1000}
n_queries=${2:-10000}
runs=${3:-3}

cargo build --release --quiet -p citus-migrate-cli
cargo build --release --quiet -p citus-migrate-core --example local_server
bin=target/release/citus-migrate

. bench/lib.sh
work=$(mktemp -d)
cleanup() { exec 3>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

bench_schema "$n_tables" '(i - 1) / 10' > "$work/schema.sql"

# The workload: query k touches table 1 + k mod (N-1) (and its parent), in one of eight shapes.
awk -v n="$n_tables" -v q="$n_queries" 'BEGIN {
  for (k = 0; k < q; k++) {
    i = 1 + k % (n - 1); p = int((i - 1) / 10); calls = 1 + (k * 7919) % 5000;
    printf "-- calls: %d\n", calls;
    s = k % 8;
    if (s == 0) printf "SELECT id, name, amount FROM bench.t%d WHERE id = $1;\n", i;
    else if (s == 1) printf "SELECT c.id, c.name FROM bench.t%d c WHERE c.parent_id = $1 ORDER BY c.created_at DESC LIMIT 20;\n", i;
    else if (s == 2) printf "SELECT p.name, count(*), sum(c.amount) FROM bench.t%d c JOIN bench.t%d p ON p.id = c.parent_id WHERE c.parent_id = $1 GROUP BY p.name;\n", i, p;
    else if (s == 3) printf "SELECT parent_id, count(*) FROM bench.t%d WHERE created_at > $1 GROUP BY parent_id ORDER BY 2 DESC LIMIT %d;\n", i, 10 + k % 50;
    else if (s == 4) printf "INSERT INTO bench.t%d (id, parent_id, name, amount) VALUES ($1, $2, $3, $4);\n", i;
    else if (s == 5) printf "UPDATE bench.t%d SET amount = amount + $1 WHERE id = $2 AND parent_id = $3;\n", i;
    else if (s == 6) printf "WITH recent AS (SELECT id, parent_id FROM bench.t%d WHERE created_at > $1) SELECT p.id, count(*) FROM recent r JOIN bench.t%d p ON p.id = r.parent_id WHERE p.id IN (SELECT parent_id FROM bench.t%d WHERE amount > $2) GROUP BY p.id;\n", i, p, i;
    else printf "DELETE FROM bench.t%d WHERE id = $1 AND created_at < $2;\n", i;
  }
}' > "$work/workload.sql"

bench_server "$work" "$work/schema.sql"
tables=$(psql -X -At "$url" -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'bench'::regnamespace")
echo "schema: $tables tables; workload: $(grep -c '^-- calls' "$work/workload.sql") queries ($(du -h "$work/workload.sql" | cut -f1)), PostgreSQL $(psql -X -At "$url" -c 'SHOW server_version')"

# Check that the workload was read whole before timing it.
"$bin" analyze --format json --source "$url" --workload "$work/workload.sql" --output "$work/with.json"
routed=$(python3 -c "import json,sys; w=json.load(open(sys.argv[1]))['workload']; print(len(w['queries']), len(w['unparsed']))" "$work/with.json")
[ "$routed" = "$n_queries 0" ] || { echo "analyze routed/left out $routed of $n_queries queries" >&2; exit 1; }

plain_s=""; with_s=""
for _ in $(seq 1 "$runs"); do
  plain_s=$(min "$plain_s" "$(secs "$bin" analyze --format json --source "$url" --output /dev/null)")
  with_s=$(min "$with_s" "$(secs "$bin" analyze --format json --source "$url" --workload "$work/workload.sql" --output /dev/null)")
done
plain_s=$(printf '%.3f' "$plain_s"); with_s=$(printf '%.3f' "$with_s")
printf 'analyze --format json (baseline):                  %8ss\n' "$plain_s"
printf 'analyze --format json --workload (%s queries): %8ss   ratio %.2f (goal <= 2.00)\n' "$n_queries" "$with_s" "$(echo "$with_s / $plain_s" | bc -l)"
