#!/usr/bin/env bash
# Benchmark of `citus-migrate copy` against the psql \copy pipe, measured in the same run:
# pgbench_accounts (pgbench -i -s SCALE, default 20 = 2,000,000 rows) from a plain PostgreSQL server
# into a distributed table on a local Citus cluster (coordinator + 2 workers, built like the test
# harness). Every configuration runs once per round, rounds interleaved (the machine's load drifts);
# prints the median seconds, the ratio to the pipe's median, peak RSS and our own CPU, for a target
# table with its primary key and one without indexes (as `migrate` loads it).
# Goal: ratio <= 0.55, RSS <= 64 MiB.
#
# With a fourth argument `tls`, every server runs TLS and every connection (the pipe's psql, ours,
# Citus's own between the nodes) uses it.
#
# Usage: bench/copy.sh [SCALE] [JOBS,JOBS,...] [ROUNDS] [tls]    e.g. bench/copy.sh 20 2,4 5 tls
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p citus-migrate-cli
cargo build --release -q -p citus-migrate-core --example copy_bench
exec target/release/examples/copy_bench "$PWD/target/release/citus-migrate" "${1:-20}" "${2:-2,4}" "${3:-3}" ${4:+"$4"}
