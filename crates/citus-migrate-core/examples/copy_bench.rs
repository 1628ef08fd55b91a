//! Benchmark of `citus-migrate copy` (see bench/copy.sh): builds a local Citus cluster (coordinator +
//! 2 workers, as the test harness does) and a source server with `pgbench -i -s SCALE`, then times in
//! the same run the baseline `psql \copy … to stdout | psql \copy … from stdin` pipe and
//! `citus-migrate copy` into a distributed pgbench_accounts, with peak memory from `/usr/bin/time -v`.
//!
//! Usage: copy_bench CITUS_MIGRATE_BINARY [SCALE] [JOBS,JOBS,…] [ROUNDS] [tls]
//!
//! With `tls`, every server has TLS on (a self-signed certificate made with the `openssl` command),
//! both the pipe's psql and citus-migrate connect with `sslmode=require`, and Citus's own connections
//! between the nodes use TLS too (as with Citus's default `citus.node_conninfo`).

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
        .ok_or("usage: copy_bench CITUS_MIGRATE_BINARY [SCALE] [JOBS,…] [ROUNDS]")?;
    let scale: u32 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let jobs_arg = args.get(3).map_or("2,4".to_string(), |s| s.clone());
    let rounds: u32 = args.get(4).map_or(Ok(3), |s| s.parse())?;
    if rounds == 0 {
        return Err("ROUNDS must be at least 1".into());
    }
    let tls = match args.get(5).map(String::as_str) {
        None => false,
        Some("tls") => true,
        Some(other) => return Err(format!("unknown option {other:?} (expected: tls)").into()),
    };
    let certs = tempfile::tempdir()?;
    let mut opts = ServerOptions::default();
    if tls {
        let (crt, key) = (
            certs.path().join("server.crt"),
            certs.path().join("server.key"),
        );
        sh(&format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout '{}' -out '{}' 2>&1",
            key.display(),
            crt.display()
        ))?;
        opts.tls = Some((crt, key));
    }
    let jobs: Vec<u32> = if jobs_arg == "hold" {
        Vec::new()
    } else {
        jobs_arg
            .split(',')
            .map(|j| j.parse())
            .collect::<Result<_, _>>()?
    };

    eprintln!("starting a Citus cluster (coordinator + 2 workers) and a source server…");
    let cluster = LocalCitus::start_with(2, &opts)?;
    cluster.create_database("bench")?;
    let source = LocalServer::start(&opts)?;
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
    let (mut src, mut dst) = (source.url("bench"), cluster.url("bench"));
    if tls {
        src = src.replace("sslmode=disable", "sslmode=require");
        dst = dst.replace("sslmode=disable", "sslmode=require");
        let over = cluster.coordinator.psql(
            "bench",
            "SELECT string_agg(result, ',') FROM run_command_on_workers('SELECT count(*) FROM pg_stat_ssl WHERE ssl')",
        )?;
        println!("over TLS: sslmode=require for psql and citus-migrate; Citus's node connections using TLS on the workers: {over}");
    }
    let truncate = || {
        cluster
            .coordinator
            .psql("bench", "TRUNCATE pgbench_accounts; CHECKPOINT")
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
        "{psql} -X -q '{src}' -c '\\copy pgbench_accounts to stdout' | {psql} -X -q '{dst}' -c '\\copy pgbench_accounts from stdin'",
        psql = psql.display()
    );
    let mut runs: Vec<(String, String)> = vec![(
        "baseline: psql \\copy … to stdout | psql \\copy … from stdin".into(),
        pipe,
    )];
    let ours = |j: u32, extra: &str| {
        format!(
            "CITUS_MIGRATE_PLAIN_PROGRESS=1 /usr/bin/time -v {binary} copy --source '{src}' --target '{dst}' --table pgbench_accounts --jobs {j}{extra} --truncate > /dev/null"
        )
    };
    for j in &jobs {
        runs.push((format!("citus-migrate copy --jobs {j}"), ours(*j, "")));
    }
    if let Some(j) = jobs.iter().max() {
        runs.push((
            format!("citus-migrate copy --jobs {j} --via-coordinator"),
            ours(*j, " --via-coordinator"),
        ));
    }

    // The machine's load drifts: every configuration runs once per round, rounds interleaved, and
    // the median of each is compared. Both target shapes: with the primary key (a table as the user
    // made it) and without indexes (as `migrate` loads it: indexes come after the data).
    for (shape, ddl) in [
        ("target with its primary key", None),
        (
            "target without indexes (as migrate loads it)",
            Some("ALTER TABLE pgbench_accounts DROP CONSTRAINT pgbench_accounts_pkey"),
        ),
    ] {
        if let Some(ddl) = ddl {
            cluster.coordinator.psql("bench", ddl)?;
        }
        println!("\n{shape}, {rounds} rounds (seconds per round; median):");
        let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); runs.len()];
        for _ in 0..rounds {
            for (i, (_, cmd)) in runs.iter().enumerate() {
                truncate()?;
                let (secs, err) = sh(cmd)?;
                check()?;
                let rss = time_field(&err, "Maximum resident set size (kbytes):") / 1024.0;
                let cpu = time_field(&err, "User time (seconds):")
                    + time_field(&err, "System time (seconds):");
                results[i].push((secs, rss, cpu));
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let mut base = 0.0;
        for (i, (label, _)) in runs.iter().enumerate() {
            let mut secs: Vec<f64> = results[i].iter().map(|r| r.0).collect();
            let each = secs
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(" ");
            let m = median(&mut secs);
            if i == 0 {
                base = m;
                println!("  {label:<58} {m:6.2} s  ({each})");
                continue;
            }
            let rss = results[i].iter().map(|r| r.1).fold(0.0, f64::max);
            let mut cpu: Vec<f64> = results[i].iter().map(|r| r.2).collect();
            println!(
                "  {label:<58} {m:6.2} s  ratio {:.2}  peak RSS {rss:.1} MiB  own CPU {:.1} s  ({each})",
                m / base,
                median(&mut cpu)
            );
        }
    }
    Ok(())
}
