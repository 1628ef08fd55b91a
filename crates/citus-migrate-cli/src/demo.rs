//! `citus-migrate demo`: a newcomer's first run. Starts throwaway servers, loads a sample multi-tenant
//! database, and runs analyze → plan → generate → migrate → verify on it, printing each stage; stops
//! and removes everything it started at the end, on an error and on Ctrl-C.

use std::io::Write as _;

use clap::Args;
use tokio::signal::unix::{signal, SignalKind};

use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::demo::{self, DemoServers, DemoTarget};
use citus_migrate_core::filter::Selection;
use citus_migrate_core::migrate::{self, MigrateOptions};
use citus_migrate_core::plan::checks::Severity;
use citus_migrate_core::plan::{Plan, PlanChoice};
use citus_migrate_core::report::AnalyzeReport;
use citus_migrate_core::sqlgen::{prepare, Prepared};
use citus_migrate_core::util::thousands;
use citus_migrate_core::Error;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the sample database: 1 is about 1.5 million rows (~180 MB); 0.1 loads in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Parallel connections for the copy and the verification.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn heading(text: &str) {
    say(&format!("\n== {text} =="));
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !(args.scale > 0.0 && args.scale <= 100.0) {
        return Err(
            Error::Usage(citus_migrate_core::error::UsageProblem::ScaleOutOfRange {
                scale: args.scale,
            })
            .into(),
        );
    }
    // Registered before anything starts, so a Ctrl-C at any moment is seen.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut servers: Option<DemoServers> = None;
    let result = tokio::select! {
        biased;
        _ = interrupt.recv() => Err(anyhow::anyhow!("demo interrupted (Ctrl-C)")),
        _ = terminate.recv() => Err(anyhow::anyhow!("demo interrupted (SIGTERM)")),
        r = demo(&args, &mut servers) => r,
    };
    if let Some(s) = servers.take() {
        let n = s.servers().len();
        say(&format!(
            "\nStopping the {n} servers the demo started and removing their files…"
        ));
        drop(s);
        say("Done: nothing the demo started is left running.");
    }
    result
}

async fn demo(args: &DemoArgs, slot: &mut Option<DemoServers>) -> anyhow::Result<()> {
    say("citus-migrate demo: moves a sample multi-tenant SaaS database (ad analytics: companies,");
    say("campaigns, ads, impressions, clicks) from a single PostgreSQL server into a Citus cluster.");
    say("Everything runs on throwaway local servers that are removed at the end.");

    heading("1. Servers");
    let started =
        tokio::task::block_in_place(|| DemoServers::start(&|what| say(&format!("  {what}…"))))?;
    let servers = slot.insert(started);
    for (role, s) in servers.servers() {
        say(&format!(
            "  {role:<11} 127.0.0.1:{}  (data in {})",
            s.port,
            s.dir().display()
        ));
    }
    if let DemoTarget::Plain { why, .. } = &servers.target {
        say(&format!(
            "  NOTE: {why}. The target is a plain PostgreSQL server: the distribution steps are"
        ));
        say("  SHOWN, NOT RUN, and the tables stay plain tables. Install Citus to see them run.");
    }
    let source = servers.source_info()?;
    let target = servers.target_info()?;

    heading("2. Loading the sample database into the source");
    let t0 = std::time::Instant::now();
    demo::load(&source, args.scale).await?;
    say(&format!("  loaded in {:.1}s", t0.elapsed().as_secs_f64()));

    heading("3. analyze: what the source holds");
    let catalog = catalog::analyze(
        &source,
        &ReadOptions {
            filters: Default::default(),
            exact_counts: true,
            jobs: args.jobs as usize,
        },
    )
    .await?;
    say(crate::render::analyze_text(&AnalyzeReport::new(&catalog)).trim_end());

    heading("4. The distribution plan, with the advisor's reasons");
    let plan_path = servers.scratch.path().join("plan.json");
    let filters = Selection::default();
    let advised = prepare(&source, &catalog, &filters, &PlanChoice::default(), None).await;
    let Prepared {
        plan, generated, ..
    } = match advised {
        Err(Error::PlanBlocked { plan, blockers }) => {
            print_plan(&plan);
            say("  The advisor's plan has blockers:");
            for b in blockers.iter().filter(|b| b.severity == Severity::Error) {
                say(&format!("    {b}"));
            }
            say("  This is where you would edit plan.json. The demo continues with the plan a person who knows");
            say("  the application wrote (fixtures/demo/plan.json): companies are the tenants.");
            Plan::parse(demo::DEMO_PLAN)?.save(&plan_path)?;
            let edited = PlanChoice {
                file: Some(plan_path.clone()),
                shard_count: None,
                ..Default::default()
            };
            prepare(&source, &catalog, &filters, &edited, None).await?
        }
        advised => advised?,
    };
    print_plan(&plan);
    plan.save(&plan_path)?;
    say(&format!(
        "  (saved as {}: a real migration would let you edit it first)",
        plan_path.display()
    ));

    heading("5. generate: the SQL the plan becomes");
    let sql_dir = servers.scratch.path().join("sql");
    generated.write(&sql_dir, &plan)?;
    for s in &generated.distribute {
        // The first line is the call; the second makes it safe to run again.
        say(&format!("  {}", s.lines().next().unwrap_or(s)));
    }
    say(&format!(
        "  + schema (pre-data), {} index/constraint statements (post-data) and a rollback script in {}",
        generated.post_data.len(),
        sql_dir.display()
    ));

    heading("6. migrate: schema, distribution, parallel copy, indexes, sequences, ANALYZE, verify");
    let opts = MigrateOptions {
        work_dir: servers.scratch.path().join("work"),
        plan_file: Some(plan_path),
        jobs: args.jobs as usize,
        distribute: servers.is_citus(),
        ..MigrateOptions::default()
    };
    let progress = crate::progress::CliProgress::new();
    let summary = migrate::migrate(&source, &target, &opts, &progress).await;
    progress.finish();
    let summary = summary?;
    say(crate::render::migrate_text(&summary).trim_end());

    heading("7. verify: the target against the source");
    if let Some(v) = &summary.verify {
        say(crate::render::verify_text(v).trim_end());
    }
    if servers.is_citus() {
        let shards = servers.target_server().psql(
            demo::DEMO_DB,
            "SELECT count(*) || ' shards on ' || count(DISTINCT nodeport) || ' workers' FROM citus_shards WHERE citus_table_type = 'distributed'",
        )?;
        say(&format!("  The distributed tables now live in {shards}."));
    } else {
        say("  (plain PostgreSQL target: the data was copied and verified; distribution was shown, not run)");
    }
    let total: i64 = catalog.tables.iter().map(|t| t.rows()).sum();
    say(&format!(
        "\nDemo finished: {} rows migrated and verified.",
        thousands(total)
    ));
    say("Next: `citus-migrate analyze --source URL` on your own database; see README.md for the walk-through.");
    if !summary.equal {
        anyhow::bail!("demo: the verification found differences (listed above)");
    }
    Ok(())
}

fn print_plan(plan: &Plan) {
    let w = plan
        .tables
        .iter()
        .map(|t| t.qualified().to_string().len())
        .max()
        .unwrap_or(5)
        .max(5);
    say(&format!(
        "  {:<w$}  {:<12}  {:<14}  GROUP",
        "TABLE", "KIND", "COLUMN"
    ));
    for t in &plan.tables {
        let kind = t.kind.to_string();
        say(&format!(
            "  {:<w$}  {:<12}  {:<14}  {}",
            t.qualified().to_string(),
            kind,
            t.distribution_column.as_deref().unwrap_or("-"),
            t.colocation_group.as_deref().unwrap_or("-")
        ));
        for r in &t.reasons {
            say(&format!("  {:<w$}    because {r}", ""));
        }
    }
}
