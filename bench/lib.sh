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
