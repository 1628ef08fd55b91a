//! Benchmark of `citus-migrate copy` (see bench/copy.sh): builds a local Citus cluster (coordinator +
//! 2 workers, as the test harness does) and a source server with `pgbench -i -s SCALE`, then times in
//! the same run the baseline `psql \copy … to stdout | psql \copy … from stdin` pipe and
//! `citus-migrate copy` into a distributed pgbench_accounts, with peak memory from `/usr/bin/time -v`.
//!
//! Usage: copy_bench CITUS_MIGRATE_BINARY [SCALE] [JOBS,JOBS,…]

use std::process::{Command, Stdio};
use std::time::Instant;

use citus_migrate_core::local::{LocalCitus, LocalServer, ServerOptions};

const ACCOUNTS_DDL: &str = "CREATE TABLE pgbench_accounts (aid int NOT NULL PRIMARY KEY, bid int, abalance int, filler char(84));";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn sh(script: &str) -> Result<(f64, String), String> {
    let start = Instant::now();
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{script}\nfailed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((secs, String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// A field of `/usr/bin/time -v` output.
fn time_field(time_output: &str, field: &str) -> f64 {
    time_output
        .lines()
        .find_map(|l| l.trim().strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches('%').parse().ok())
        .unwrap_or(0.0)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .ok_or("usage: copy_bench CITUS_MIGRATE_BINARY [SCALE] [JOBS,…]")?;
    let scale: u32 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let jobs_arg = args.get(3).map_or("2,4".to_string(), |s| s.clone());
    let jobs: Vec<u32> = if jobs_arg == "hold" {
        Vec::new()
    } else {
        jobs_arg
            .split(',')
            .map(|j| j.parse())
            .collect::<Result<_, _>>()?
    };

    eprintln!("starting a Citus cluster (coordinator + 2 workers) and a source server…");
    let cluster = LocalCitus::start(2)?;
    cluster.create_database("bench")?;
    let source = LocalServer::start(&ServerOptions::default())?;
    source.create_database("bench")?;
    eprintln!("loading pgbench -i -s {scale} into the source…");
    let pgbench = source.bindir().join("pgbench");
    sh(&format!(
        "{} -i -q -s {scale} -I dtgvp '{}' >/dev/null",
        pgbench.display(),
        source.url("bench")
    ))?;
    let rows = source.psql("bench", "SELECT count(*) FROM pgbench_accounts")?;
    let size = source.psql(
        "bench",
        "SELECT pg_size_pretty(pg_table_size('pgbench_accounts'))",
    )?;
    cluster.coordinator.psql(
        "bench",
        &format!("{ACCOUNTS_DDL} SELECT create_distributed_table('pgbench_accounts', 'aid');"),
    )?;
    let shards = cluster
        .coordinator
        .psql("bench", "SHOW citus.shard_count")?;
    println!("pgbench_accounts: {rows} rows, {size} on the source; target distributed on aid, {shards} shards over 2 workers");

    if jobs_arg == "hold" {
        // For experiments: keep the servers until stdin closes.
        println!(
            "source {}\ntarget {}",
            source.url("bench"),
            cluster.url("bench")
        );
        let mut sink = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
        return Ok(());
    }
    let psql = source.bindir().join("psql");
    let (src, dst) = (source.url("bench"), cluster.url("bench"));
    let truncate = || {
        cluster
            .coordinator
            .psql("bench", "TRUNCATE pgbench_accounts")
    };
    let check = || -> Result<(), Box<dyn std::error::Error>> {
        let got = cluster
            .coordinator
            .psql("bench", "SELECT count(*) FROM pgbench_accounts")?;
        if got != rows {
            return Err(format!("the target has {got} rows, expected {rows}").into());
        }
        Ok(())
    };

    let pipe = format!(
        "/usr/bin/time -v {psql} -X -q '{src}' -c '\\copy pgbench_accounts to stdout' | {psql} -X -q '{dst}' -c '\\copy pgbench_accounts from stdin'",
        psql = psql.display()
    );
    let (baseline, _) = sh(&pipe)?;
    check()?;
    println!(
        "{:<52} {baseline:6.2} s",
        "baseline: psql \\copy … to stdout | psql \\copy … from stdin"
    );

    let runs = jobs
        .iter()
        .map(|j| (*j, ""))
        .chain(jobs.iter().max().map(|j| (*j, " --via-coordinator")));
    for (j, extra) in runs {
        truncate()?;
        let cmd = format!(
            "CITUS_MIGRATE_PLAIN_PROGRESS=1 /usr/bin/time -v {binary} copy --source '{src}' --target '{dst}' --table pgbench_accounts --jobs {j}{extra} --truncate > /dev/null"
        );
        let (secs, err) = sh(&cmd)?;
        check()?;
        let rss = time_field(&err, "Maximum resident set size (kbytes):");
        let cpu =
            time_field(&err, "User time (seconds):") + time_field(&err, "System time (seconds):");
        let label = format!("citus-migrate copy --jobs {j}{extra}:");
        println!(
            "{label:<52} {secs:6.2} s  ratio {:.2}  peak RSS {:.1} MiB  own CPU {cpu:.1} s",
            secs / baseline,
            rss / 1024.0
        );
    }
    Ok(())
}
