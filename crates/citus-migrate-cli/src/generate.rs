//! `citus-migrate generate`: advise (or read an edited plan), check it, and write plan.json and the
//! SQL files 01–03 plus rollback.sql.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use citus_migrate_core::advice::{advise, AdviceOptions, Kind};
use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::plan::{Plan, PlanChoice};
use citus_migrate_core::sqlgen::{self, Prepared};
use citus_migrate_core::Error;

use crate::args::{print_warnings, write_output, FilterArgs, SourceArgs, SummaryFormat};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Directory to write plan.json, 01-pre-data.sql, 02-distribute.sql, 03-post-data.sql and rollback.sql into.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Use this (edited) plan instead of advising again.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Shards per co-location group (overrides the advice, or the plan's shard_count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub shard_count: Option<u32>,
    /// The pg_dump program to use (must be at least the source's major version).
    #[arg(long, value_name = "PATH")]
    pub pg_dump: Option<PathBuf>,
    /// Format of the summary on stdout.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// The application's queries: `pg_stat_statements` (read from the source) or a file (SQL with
    /// `-- calls: N` weights, or a CSV export of pg_stat_statements). They weigh in the advice, and the
    /// summary predicts how Citus routes each one under the plan; with --plan, a what-if of the edited
    /// plan next to the advised one.
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Option<String>,
}

pub async fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    print_warnings(&source);
    let filters = args.filters.selection()?;
    let opts = ReadOptions {
        filters: filters.clone(),
        exact_counts: false,
        jobs: 1,
    };
    let catalog = catalog::analyze(&source, &opts).await?;
    let workload = match &args.workload {
        Some(w) => Some(crate::workload::load(w, &source, &catalog).await?),
        None => None,
    };
    let weights = workload.as_ref().map(|w| w.weights()).unwrap_or_default();
    let choice = PlanChoice {
        file: args.plan.clone(),
        shard_count: args.shard_count,
        workload: weights.clone(),
    };
    let pg_dump = args.pg_dump.as_deref();
    let prepared = sqlgen::prepare(&source, &catalog, &filters, &choice, pg_dump).await;
    for b in sqlgen::warnings(&prepared) {
        eprintln!("warning: {b}");
    }
    let Prepared {
        plan, generated, ..
    } = match prepared {
        Err(Error::PlanBlocked { plan, blockers }) if args.plan.is_none() => {
            std::fs::create_dir_all(&args.out_dir)
                .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
            let path = args.out_dir.join(sqlgen::FILE_PLAN);
            plan.save(&path)?;
            eprintln!(
                "The advised plan is in {}: apply the fixes on the source and run generate again, or edit the plan and pass --plan {}.",
                path.display(),
                path.display()
            );
            return Err(Error::PlanBlocked { plan, blockers }.into());
        }
        prepared => prepared?,
    };

    let written = generated.write(&args.out_dir, &plan)?;
    let count = |k: Kind| plan.count(&catalog, k);
    let routed = workload.as_ref().map(|w| w.route(&plan, &catalog));
    // What-if: an edited plan's routing next to the advised plan's.
    let advised = match (&workload, &args.plan) {
        (Some(w), Some(_)) => {
            let advice = advise(
                &catalog,
                &AdviceOptions {
                    shard_count: args.shard_count,
                    workload: weights,
                    ..Default::default()
                },
            );
            Some(w.route(&Plan::from_advice(&advice), &catalog))
        }
        _ => None,
    };
    if args.format == SummaryFormat::Json {
        let mut summary = serde_json::json!({
            "distributed": count(Kind::Distributed),
            "colocation_groups": plan.groups().len(),
            "reference": count(Kind::Reference),
            "local": count(Kind::Local),
            "schema": count(Kind::Schema),
            "verdict": plan.verdict,
            "distributed_schemas": plan.distributed_schemas(),
            "shard_count": plan.shard_count,
            "plan_origin": generated.plan_origin,
            "files": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        if let Some(r) = &routed {
            summary["workload"] = serde_json::to_value(r)?;
        }
        if let Some(a) = &advised {
            summary["workload_advised"] = serde_json::json!({
                "single_shard_share": a.single_shard_share,
                "colocated_share": a.colocated_share,
            });
        }
        return write_output(None, &serde_json::to_string_pretty(&summary)?);
    }
    let mut text = crate::render::verdict_line(plan.verdict, plan.distributed_schemas().len());
    let schemas = match plan.distributed_schemas().len() {
        0 => String::new(),
        n => format!(", {} in {n} distributed schema(s)", count(Kind::Schema)),
    };
    text.push_str(&format!(
        "Plan: {} distributed table(s) in {} co-location group(s), {} reference table(s), {} local{schemas}; {} shards.\n",
        count(Kind::Distributed),
        plan.groups().len(),
        count(Kind::Reference),
        count(Kind::Local),
        plan.shard_count
    ));
    for p in written {
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    text.push_str("Run on the Citus coordinator with psql, in order: 01-pre-data.sql, 02-distribute.sql, (copy the data), 03-post-data.sql. rollback.sql undoes 02.\n");
    if let Some(r) = &routed {
        text.push_str(&crate::render::workload_text(r));
    }
    if let (Some(r), Some(a)) = (&routed, &advised) {
        text.push_str(&format!(
            "What-if: this plan routes {:.1}% of the workload's weight to one shard and {:.1}% co-located; the advised plan {:.1}% and {:.1}%.\n",
            100.0 * r.single_shard_share,
            100.0 * r.colocated_share,
            100.0 * a.single_shard_share,
            100.0 * a.colocated_share
        ));
    }
    write_output(None, &text)
}
