# Shared by the benchmark scripts (sourced): a throwaway server and timing helpers.

# bench_server DIR SCHEMA.sql: starts a throwaway PostgreSQL (the test harness's LocalServer) with the
# database `bench` loaded from SCHEMA.sql, kept alive while file descriptor 3 stays open; sets $url.
# The caller's EXIT trap closes descriptor 3 and waits for it.
bench_server() {
  local dir=$1 schema=$2
  mkfifo "$dir/keepalive"
  target/release/examples/local_server --db bench "$schema" < "$dir/keepalive" > "$dir/url" &
  exec 3> "$dir/keepalive"
  for _ in $(seq 1 1200); do [ -s "$dir/url" ] && break; sleep 0.5; done
  url=$(cat "$dir/url")
  [ -n "$url" ] || { echo "the server did not start" >&2; exit 1; }
}

secs() { # wall-clock seconds of one run of the command
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# bench_schema N PARENT: the SQL of N tables bench.t0 … bench.t(N-1), each with a primary key and
# (past t0) a foreign key to table PARENT (an SQL expression of i, e.g. '(i - 1) / 10') with an index.
bench_schema() {
  cat <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.t0 (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());
DO \$\$
BEGIN
  FOR i IN 1..$1 - 1 LOOP
    EXECUTE format('CREATE TABLE bench.t%s (id bigint PRIMARY KEY, parent_id bigint REFERENCES bench.t%s (id),'
                   ' name text NOT NULL, amount numeric(12,2), created_at timestamptz DEFAULT now())', i, $2);
    EXECUTE format('CREATE INDEX ON bench.t%s (parent_id)', i);
  END LOOP;
END
\$\$;
ANALYZE;
SQL
}
