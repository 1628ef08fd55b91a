#!/usr/bin/env bash
# Benchmark of `migrate --online` under a steady pgbench write load: a plain PostgreSQL source
# (wal_level = logical, pgbench -i -s SCALE, default 10) into a local Citus cluster (coordinator + 2
# workers, built like the test harness). pgbench runs rate-limited (RATE transactions/s, default 200;
# each is 3 updates and an insert) through the whole migration and DURATION seconds (default 60) of
# catch-up; then `cutover --block-writes`. Prints changes/s written on the source vs applied on the
# target while following, the lag's p50/p99 (seconds and bytes, sampled every second from `status`),
# the write-blocked time of the cutover, and verify's verdict; also how fast the backlog written
# during the copy drains (catch-up after the copy) and, for the apply's headroom, how long a burst of
# BURST unthrottled transactions takes to be caught up. With pgcopydb on PATH and wal2json
# installed (postgresql-15-wal2json), pgcopydb's `clone --follow` into a second database of the same
# Citus coordinator under the same load is the baseline, measured the same way (pgcopydb 0.10 decodes
# with wal2json; it is not Citus-aware, so its tables stay local on the coordinator).
#
# Usage: bench/online.sh [SCALE] [RATE] [DURATION]
#   BENCH_PROFILE=dev  use the debug build (target/debug) instead of building the release one.
#   BENCH_BIN=PATH     measure this citus-migrate binary instead (an earlier build, for an A/B run).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
rate=${2:-200}
duration=${3:-60}
profile=${BENCH_PROFILE:-release}
out=${CARGO_TARGET_DIR:-$PWD/target}/$([ "$profile" = dev ] && echo debug || echo "$profile")

cargo build --profile "$profile" -q -p citus-migrate-cli
cargo build --profile "$profile" -q -p citus-migrate-core --example local_citus
bin=${BENCH_BIN:-$out/citus-migrate}
echo "build: $profile"

work=$(mktemp -d)
fifo=$work/keepalive
mkfifo "$fifo"
cleanup() {
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "${mig_pid:-}" ] && kill "$mig_pid" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$out/examples/local_citus" 2 --logical < "$fifo" > "$work/urls" &
exec 3> "$fifo"
for _ in $(seq 1 1200); do [ "$(wc -l < "$work/urls" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.5; done
coord=$(awk '/^coordinator/ {print $2}' "$work/urls")
src=$(awk '/^source/ {print $2}' "$work/urls")
[ -n "$coord" ] && [ -n "$src" ] || { echo "the servers did not start" >&2; exit 1; }
dst=$coord

pgbench -q -i -s "$scale" "$src" > /dev/null 2>&1
# pgbench_history has no key: the catch-up needs its whole old row.
psql -X -q "$src" -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
rows=$(psql -X -At "$src" -c "SELECT count(*) FROM pgbench_accounts")
echo "source: pgbench scale $scale ($rows accounts), load $rate tx/s (4 changes each), $duration s of catch-up"

changes_written() {
  psql -X -At "$src" -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE 'pgbench%'"
}

pgbench -n -c 4 -j 2 -R "$rate" -T $((duration + 600)) "$src" > "$work/pgbench.log" 2>&1 &
load_pid=$!
dir=$work/mig
CITUS_MIGRATE_PLAIN_PROGRESS=1 "$bin" migrate --online --source "$src" --target "$dst" --work-dir "$dir" \
  > "$work/migrate.out" 2> "$work/migrate.err" &
mig_pid=$!
t0=$(date +%s.%N)
until [ -s "$dir/online/status.json" ]; do
  kill -0 "$mig_pid" 2>/dev/null || { cat "$work/migrate.err" >&2; exit 1; }
  sleep 0.5
done
t1=$(date +%s.%N)
echo "bulk phase (plan, schema, copy, indexes) done in $(echo "$t1 - $t0" | bc) s; following"
# Catch-up after the copy: the changes written during the bulk phase are the backlog; how fast it
# drains (the apply's headroom over the write rate) and when the lag first falls under 64 kB.
lag0=$(jq .lag_bytes "$dir/online/status.json")
c0=$(jq .changes "$dir/online/status.json")
converged=
for _ in $(seq 1 1200); do
  [ "$(jq .lag_bytes "$dir/online/status.json")" -lt 65536 ] && { converged=1; break; }
  sleep 0.1
done
t2=$(date +%s.%N)
c2=$(jq .changes "$dir/online/status.json")
if [ -n "$converged" ]; then
  printf 'catch-up after the copy: %s bytes of backlog, converged in %.1f s (%s changes applied, %.0f changes/s)\n' \
    "$lag0" "$(echo "$t2 - $t1" | bc -l)" "$((c2 - c0))" "$(echo "($c2 - $c0) / ($t2 - $t1)" | bc -l)"
else
  echo "catch-up after the copy: did NOT converge within 120 s (lag $(jq .lag_bytes "$dir/online/status.json") bytes)"
fi

w0=$(changes_written)
a0=$(jq .changes "$dir/online/status.json")
s0=$(date +%s.%N)
: > "$work/lag"
for _ in $(seq 1 "$duration"); do
  sleep 1
  jq -r '"\(.lag_seconds) \(.lag_bytes)"' "$dir/online/status.json" >> "$work/lag"
done
w1=$(changes_written)
a1=$(jq .changes "$dir/online/status.json")
s1=$(date +%s.%N)
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=

elapsed=$(echo "$s1 - $s0" | bc -l)
printf 'changes/s written on the source:  %8.0f\n' "$(echo "($w1 - $w0) / $elapsed" | bc -l)"
printf 'changes/s applied on the target:  %8.0f\n' "$(echo "($a1 - $a0) / $elapsed" | bc -l)"
pct() { sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; print v[i]}'; }
echo "lag p50 / p99: $(cut -d' ' -f1 "$work/lag" | pct 50) s / $(cut -d' ' -f1 "$work/lag" | pct 99) s," \
     "$(cut -d' ' -f2 "$work/lag" | pct 50) / $(cut -d' ' -f2 "$work/lag" | pct 99) bytes"

# The apply's headroom: a burst of unthrottled writes (BURST transactions, default 3000, 4 changes
# each), then how long the catch-up takes to get within 64 kB of the source again.
burst=${BURST:-3000}
c3=$(jq .changes "$dir/online/status.json")
b0=$(date +%s.%N)
pgbench -n -c 4 -j 2 -t $((burst / 4)) "$src" > "$work/burst.log" 2>&1
b1=$(date +%s.%N)
for _ in $(seq 1 3000); do
  [ "$(jq .lag_bytes "$dir/online/status.json")" -lt 65536 ] && [ "$(jq .changes "$dir/online/status.json")" -ge $((c3 + burst * 4)) ] && break
  sleep 0.1
done
b2=$(date +%s.%N)
c4=$(jq .changes "$dir/online/status.json")
printf 'burst: %d changes written in %.1f s (%.0f changes/s); caught up %.1f s after the burst began (%.0f changes/s applied)\n' \
  "$((burst * 4))" "$(echo "$b1 - $b0" | bc -l)" "$(echo "$burst * 4 / ($b1 - $b0)" | bc -l)" \
  "$(echo "$b2 - $b0" | bc -l)" "$(echo "($c4 - $c3) / ($b2 - $b0)" | bc -l)"

out=$("$bin" cutover --block-writes --source "$src" --target "$dst" --work-dir "$dir" 2> "$work/cutover.err") || {
  echo "$out"; cat "$work/cutover.err" >&2; exit 1; }
wait "$mig_pid"; mig_pid=
echo "$out" | grep -E '^cutover:|replication slot'
echo "$out" | grep -q 'writes blocked on the source for' || { echo "no write-blocked time" >&2; exit 1; }

# The baseline: pgcopydb `clone --follow` under the same load, into a second database of the same
# coordinator, measured the same way: changes/s it applied on the target (the target's tuple counters)
# vs written on the source, and its lag in bytes behind the source's WAL (its sentinel's replay_lsn),
# sampled every second for DURATION seconds once its initial copy is done.
if ! command -v pgcopydb > /dev/null; then
  echo "baseline: pgcopydb is not installed here, no baseline measured"
  exit 0
fi
if [ ! -e "$(pg_config --pkglibdir)/wal2json.so" ]; then
  echo "baseline: pgcopydb $(pgcopydb --version 2>&1 | grep -o 'version [^ ]*' | head -1) needs the wal2json plugin" \
       "(postgresql-15-wal2json), which is not installed here: no baseline measured"
  exit 0
fi
echo "baseline: pgcopydb $(pgcopydb --version 2>&1 | grep -o 'version [^ ]*' | head -1) clone --follow under the same load"
# Debian's PostgreSQL lets only listed libraries decode (output_plugin_libraries); wal2json is not listed.
if psql -X -At "$src" -c "SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries'" | grep -q 1; then
  psql -X -q "$src" -c "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'" \
    -c "SELECT pg_reload_conf()" > /dev/null
fi
psql -X -q "$coord" -c "CREATE DATABASE pgcopydb_target" 2> /dev/null
base=$(echo "$coord" | sed 's#/[^/?]*\([?]\|$\)#/pgcopydb_target\1#')
psql -X -q "$base" -c "CREATE EXTENSION citus"
psql -X -q "$src" -c "ALTER DATABASE $(psql -X -At "$src" -c 'SELECT current_database()') RESET default_transaction_read_only"
pgbench -n -c 4 -j 2 -R "$rate" -T $((duration + 900)) "$src" > "$work/pgbench2.log" 2>&1 &
load_pid=$!
timeout $((duration + 600)) pgcopydb clone --follow --source "$src" --target "$base" --dir "$work/pgcopydb" \
  > "$work/pgcopydb.log" 2>&1 &
pc_pid=$!
until grep -q 'enabled applying changes' "$work/pgcopydb.log"; do
  kill -0 "$pc_pid" 2>/dev/null || { echo "pgcopydb stopped:"; tail -5 "$work/pgcopydb.log"; exit 0; }
  sleep 0.5
done
changes_applied_pgcopydb() {
  psql -X -At "$base" -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE 'pgbench%'"
}
w0=$(changes_written); a0=$(changes_applied_pgcopydb); s0=$(date +%s.%N)
: > "$work/lag2"
for _ in $(seq 1 "$duration"); do
  sleep 1
  psql -X -At "$src" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CASE WHEN replay_lsn = '0/0' THEN startpos ELSE replay_lsn END) FROM pgcopydb.sentinel" >> "$work/lag2"
done
w1=$(changes_written); a1=$(changes_applied_pgcopydb); s1=$(date +%s.%N)
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=
kill "$pc_pid" 2>/dev/null || true; wait "$pc_pid" 2>/dev/null || true
elapsed=$(echo "$s1 - $s0" | bc -l)
# The copy's own rows are counted before s0: only the catch-up's changes are in the difference.
printf 'pgcopydb: changes/s written on the source: %8.0f\n' "$(echo "($w1 - $w0) / $elapsed" | bc -l)"
printf 'pgcopydb: changes/s applied on the target: %8.0f\n' "$(echo "($a1 - $a0) / $elapsed" | bc -l)"
echo "pgcopydb: lag p50 / p99: $(pct 50 < "$work/lag2") / $(pct 99 < "$work/lag2") bytes"
echo "pgcopydb: last lines of its log:"
grep -v DEBUG "$work/pgcopydb.log" | tail -3 | cut -c1-200
