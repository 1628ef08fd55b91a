//! Embedding citus-migrate-core in other tooling: analyze → plan → migrate of a source into a target,
//! with a progress of its own that prints plain lines. Only the crate's public API is used, as any
//! other program would use it.
//!
//!     cargo run --example embed -- SOURCE_URL TARGET_URL [--dir DIR] [--skip-distribution]
//!
//! The URLs may come from `CITUS_MIGRATE_SOURCE` / `CITUS_MIGRATE_TARGET` instead. `DIR` (a new
//! temporary directory when not given; it is kept) receives `plan.json` and the migration's work
//! directory `work/`. `--skip-distribution` rehearses on a plain PostgreSQL target, as the CLI's
//! `migrate --skip-distribution` does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use citus_migrate_core::advice::{self, AdviceOptions};
use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::filter::Selection;
use citus_migrate_core::migrate::{self, MigrateOptions};
use citus_migrate_core::plan::checks::Severity;
use citus_migrate_core::plan::PlanChoice;
use citus_migrate_core::util::{human_bytes, thousands};
use citus_migrate_core::{sqlgen, ConnInfo, Error, Progress, QualifiedName, Side};

/// Prints a line for each step, each table started and finished (with what the step did to it), and
/// each message; rows and bytes are summed per table and step as they come.
struct Lines {
    started: Instant,
    done: Mutex<HashMap<QualifiedName, (u64, u64)>>,
}

impl Lines {
    fn new() -> Self {
        Lines {
            started: Instant::now(),
            done: Mutex::new(HashMap::new()),
        }
    }

    fn say(&self, line: &str) {
        println!("[{:7.1}s] {line}", self.started.elapsed().as_secs_f64());
    }
}

impl Progress for Lines {
    fn step(&self, name: &str) {
        self.done.lock().unwrap().clear();
        self.say(&format!("step {name}"));
    }

    fn table_started(&self, table: &QualifiedName, expected_bytes: u64, expected_rows: u64) {
        self.say(&format!(
            "  {table}: started (about {} rows, {})",
            thousands(expected_rows as i64),
            human_bytes(expected_bytes as i64)
        ));
    }

    fn advance(&self, table: &QualifiedName, bytes: u64, rows: u64) {
        let mut done = self.done.lock().unwrap();
        let d = done.entry(table.clone()).or_default();
        d.0 += rows;
        d.1 += bytes;
    }

    fn table_finished(&self, table: &QualifiedName) {
        let (rows, bytes) = self
            .done
            .lock()
            .unwrap()
            .get(table)
            .copied()
            .unwrap_or_default();
        self.say(&format!(
            "  {table}: finished ({} rows, {})",
            thousands(rows as i64),
            human_bytes(bytes as i64)
        ));
    }

    fn message(&self, text: &str) {
        self.say(&format!("  note: {text}"));
    }
}

struct Args {
    source: String,
    target: String,
    dir: Option<PathBuf>,
    distribute: bool,
}

fn args() -> Result<Args, String> {
    let mut urls = Vec::new();
    let mut dir = None;
    let mut distribute = true;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(it.next().ok_or("--dir needs a directory")?)),
            "--skip-distribution" => distribute = false,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => urls.push(a),
        }
    }
    let mut urls = urls.into_iter();
    let mut url = |var: &str| {
        urls.next()
            .or_else(|| std::env::var(var).ok())
            .ok_or(format!("give the URL as an argument or in {var}"))
    };
    Ok(Args {
        source: url("CITUS_MIGRATE_SOURCE")?,
        target: url("CITUS_MIGRATE_TARGET")?,
        dir,
        distribute,
    })
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let source = ConnInfo::parse(Side::Source, &args.source)?;
    let target = ConnInfo::parse(Side::Target, &args.target)?;
    let dir = match args.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("citus-migrate-embed-")
            .tempdir()?
            .keep(),
    };
    std::fs::create_dir_all(&dir)?;
    println!(
        "source {source}\ntarget {target}\nfiles in {}",
        dir.display()
    );

    // 1. analyze: the source's catalog, and the advisor's decisions with its reasons.
    let catalog = catalog::analyze(&source, &ReadOptions::default()).await?;
    println!(
        "\n{} tables in {} ({})",
        catalog.tables.len(),
        catalog.database,
        human_bytes(catalog.database_bytes)
    );
    let advice = advice::advise(&catalog, &AdviceOptions::default());
    for t in &advice.tables {
        let column = t.distribution_column.as_deref().unwrap_or("-");
        println!(
            "  {:<30} {:<11} {column}",
            t.qualified().to_string(),
            t.kind
        );
        if let Some(reason) = t.reasons.first() {
            println!("  {:<30} because {reason}", "");
        }
    }

    // 2. plan: the advised plan, checked against the source, and its SQL. A plan Citus would reject
    // is Error::PlanBlocked, with every blocker and the SQL that fixes it where there is one.
    let filters = Selection::default();
    let choice = PlanChoice::default();
    let prepared = match sqlgen::prepare(&source, &catalog, &filters, &choice, None).await {
        Err(Error::PlanBlocked { blockers, .. }) => {
            println!("\nThe plan is blocked:");
            for b in blockers.iter().filter(|b| b.severity == Severity::Error) {
                println!("  {b}");
                if let Some(fix) = &b.fix {
                    // As written: an indentation could land inside a quoted name.
                    println!("  SQL that fixes it, to run on the source:\n{fix}");
                }
            }
            return Ok(false);
        }
        other => other?,
    };
    let plan_path = dir.join(sqlgen::FILE_PLAN);
    prepared.plan.save(&plan_path)?;
    println!(
        "\nplan: {} tables, {} shards, {} distribution statements, {} warnings (migrate lists them); saved as {}",
        prepared.plan.tables.len(),
        prepared.plan.shard_count,
        prepared.generated.distribute.len(),
        prepared.warnings.len(),
        plan_path.display()
    );

    // 3. migrate: that plan, every step recorded in the work directory (the same options with
    // `resume: true` continue a run that stopped).
    let opts = MigrateOptions {
        work_dir: dir.join("work"),
        plan_file: Some(plan_path),
        distribute: args.distribute,
        ..Default::default()
    };
    println!();
    let summary = migrate::migrate(&source, &target, &opts, &Lines::new()).await?;
    println!(
        "\n{} steps; {} rows ({} bytes) in {:.1}s; target {} the source",
        summary.steps.len(),
        summary.rows,
        summary.bytes,
        summary.seconds,
        if summary.equal {
            "equals"
        } else {
            "differs from"
        }
    );
    Ok(summary.equal)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "embed: {e}\nusage: embed SOURCE_URL TARGET_URL [--dir DIR] [--skip-distribution]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::FAILURE
        }
    }
}
