//! `citus-migrate cluster …`: the Citus cluster after the migration — status, rebalance, add-node,
//! drain, remove-node, check. Thin glue over `citus_migrate_core::cluster`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use citus_migrate_core::cluster::check::{self, CheckOptions};
use citus_migrate_core::cluster::nodes;
use citus_migrate_core::cluster::rebalance::{self, RebalanceOptions};
use citus_migrate_core::cluster::status;
use citus_migrate_core::cluster::{NodeAddress, TransferMode};
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::util::human_bytes;
use citus_migrate_core::{ConnInfo, Progress};

use crate::args::{print_warnings, write_output, SummaryFormat, TargetArgs};
use crate::copy::parse_size;
use crate::render;

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Nodes with their shards and bytes, each table's spread, the imbalance, co-location groups,
    /// reference tables and the latest rebalance.
    Status(StatusArgs),
    /// Plan, check and run Citus's rebalancer, following it until done (Ctrl-C leaves a background
    /// rebalance running).
    Rebalance(RebalanceArgs),
    /// Add a worker (citus_add_node), and rebalance onto it with --rebalance.
    AddNode(AddNodeArgs),
    /// Move every shard off a worker (citus_drain_node), before removing it.
    Drain(DrainArgs),
    /// Remove a drained worker (citus_remove_node); refused while it still holds shards.
    RemoveNode(RemoveNodeArgs),
    /// Health checks: workers active and reachable, metadata synced, reference tables everywhere,
    /// co-location, prepared transactions, shard sizes, skew. Exit 1 when one fails.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Refresh every SECONDS (default 2) in place until Ctrl-C (JSON: one document a line).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<u64>,
}

/// Citus's `citus.shard_transfer_mode`, spelled as Citus spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ShardTransferMode {
    Auto,
    ForceLogical,
    BlockWrites,
}

impl From<ShardTransferMode> for TransferMode {
    fn from(m: ShardTransferMode) -> Self {
        match m {
            ShardTransferMode::Auto => TransferMode::Auto,
            ShardTransferMode::ForceLogical => TransferMode::ForceLogical,
            ShardTransferMode::BlockWrites => TransferMode::BlockWrites,
        }
    }
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// How Citus copies the shards: auto (logical replication, refused up front for a table without a
    /// replica identity), force_logical (UPDATE/DELETE on such tables fail while they move),
    /// block_writes (writes to a moving shard wait).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ShardTransferMode::Auto)]
    pub shard_transfer_mode: ShardTransferMode,
    /// A rebalance strategy of pg_dist_rebalance_strategy (default: Citus's default one).
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<String>,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub moves: MoveArgs,
    /// Only this table and the tables co-located with it (schema.table); runs in this session
    /// (rebalance_table_shards) instead of in the background.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Show the plan and run the checks; move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of the final summary.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct AddNodeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The worker, as the coordinator (and the other workers) reach it.
    #[arg(value_name = "HOST:PORT")]
    pub node: String,
    /// Then rebalance the cluster onto it (in the background, followed until done).
    #[arg(long)]
    pub rebalance: bool,
    #[command(flatten)]
    pub moves: MoveArgs,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(value_name = "HOST:PORT")]
    pub node: String,
    #[command(flatten)]
    pub moves: MoveArgs,
}

#[derive(Debug, Args)]
pub struct RemoveNodeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(value_name = "HOST:PORT")]
    pub node: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Fail for a shard larger than this (e.g. 50GB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "50GB")]
    pub max_shard_size: u64,
    /// Fail for a table whose fullest node holds this many times the mean bytes…
    #[arg(long, value_name = "RATIO", default_value_t = 2.0)]
    pub max_skew: f64,
    /// …when the table is at least this large.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1GB")]
    pub skew_min_size: u64,
    /// Fail for a Citus prepared transaction older than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub prepared_age: u64,
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Status(a) => run_status(a).await,
        ClusterCommand::Rebalance(a) => {
            let target = coordinator(&a.target)?;
            let opts = RebalanceOptions {
                table: a.table,
                strategy: a.moves.strategy,
                transfer_mode: a.moves.shard_transfer_mode.into(),
                dry_run: a.dry_run,
                ..Default::default()
            };
            run_rebalance(&target, opts, a.format).await
        }
        ClusterCommand::AddNode(a) => {
            let target = coordinator(&a.target)?;
            let node = NodeAddress::parse(&a.node)?;
            let added = nodes::add_node(&target, &node).await?;
            eprintln!("added {} as node {}", added.address, added.node_id);
            if !a.rebalance {
                eprintln!(
                    "it holds no shards yet: run `citus-migrate cluster rebalance` to move some there"
                );
                return Ok(());
            }
            let opts = RebalanceOptions {
                strategy: a.moves.strategy,
                transfer_mode: a.moves.shard_transfer_mode.into(),
                ..Default::default()
            };
            run_rebalance(&target, opts, SummaryFormat::Text).await
        }
        ClusterCommand::Drain(a) => {
            let target = coordinator(&a.target)?;
            let node = NodeAddress::parse(&a.node)?;
            let opts = RebalanceOptions {
                strategy: a.moves.strategy,
                transfer_mode: a.moves.shard_transfer_mode.into(),
                ..Default::default()
            };
            let progress = MoveProgress::new(0);
            let drained = tokio::select! {
                r = nodes::drain_node(&target, &node, &opts, &progress) => r?,
                _ = tokio::signal::ctrl_c() => anyhow::bail!(render::interrupted_text(false)),
            };
            progress.finish();
            println!(
                "Drained {}: {} shard placement(s) moved off it; it is marked to hold no shards. Remove it with `citus-migrate cluster remove-node {}`.",
                drained.address, drained.shards_moved, drained.address
            );
            Ok(())
        }
        ClusterCommand::RemoveNode(a) => {
            let target = coordinator(&a.target)?;
            let node = NodeAddress::parse(&a.node)?;
            nodes::remove_node(&target, &node).await?;
            println!("Removed {node} from the cluster.");
            Ok(())
        }
        ClusterCommand::Check(a) => {
            let target = coordinator(&a.target)?;
            let opts = CheckOptions {
                max_shard_bytes: i64::try_from(a.max_shard_size).unwrap_or(i64::MAX),
                max_skew: a.max_skew,
                skew_min_bytes: i64::try_from(a.skew_min_size).unwrap_or(i64::MAX),
                prepared_age: Duration::from_secs(a.prepared_age),
            };
            let report = check::check(&target, &opts).await?;
            let text = match a.format {
                SummaryFormat::Text => render::check_text(&report),
                SummaryFormat::Json => report.to_json()?,
            };
            write_output(None, &text)?;
            if report.passed {
                Ok(())
            } else {
                let names: Vec<&str> = report.failed().map(|c| c.name.as_str()).collect();
                anyhow::bail!("cluster check failed: {}", names.join(", "))
            }
        }
    }
}

fn coordinator(target: &TargetArgs) -> anyhow::Result<ConnInfo> {
    let info = target.conninfo()?;
    print_warnings(&info);
    Ok(info)
}

async fn run_status(a: StatusArgs) -> anyhow::Result<()> {
    let target = coordinator(&a.target)?;
    let render = |s: &status::ClusterStatus, compact: bool| -> anyhow::Result<String> {
        Ok(match a.format {
            SummaryFormat::Text => render::cluster_status_text(s),
            SummaryFormat::Json if compact => serde_json::to_string(s)?,
            SummaryFormat::Json => s.to_json()?,
        })
    };
    let Some(every) = a.watch else {
        let s = status::status(&target).await?;
        return write_output(None, &render(&s, false)?);
    };
    let in_place = a.format == SummaryFormat::Text && std::io::stdout().is_terminal();
    // One Ctrl-C listener for the whole watch: a signal while a status is read is not lost.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let s = tokio::select! {
            s = status::status(&target) => s?,
            _ = &mut interrupted => return Ok(()),
        };
        let text = render(&s, true)?;
        if in_place {
            // Home and clear, then the new status: refreshed in place.
            print!("\x1b[H\x1b[2J");
        }
        write_output(None, &text)?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(every.max(1))) => {}
            _ = &mut interrupted => return Ok(()),
        }
    }
}

async fn run_rebalance(
    target: &ConnInfo,
    opts: RebalanceOptions,
    format: SummaryFormat,
) -> anyhow::Result<()> {
    // The plan and the checks first, shown before anything moves.
    let planned = rebalance::rebalance(
        target,
        &RebalanceOptions {
            dry_run: true,
            ..opts.clone()
        },
        &citus_migrate_core::NoProgress,
    )
    .await?;
    if opts.dry_run || planned.plan.moves.is_empty() {
        let text = match format {
            SummaryFormat::Text => render::rebalance_text(&planned),
            SummaryFormat::Json => planned.to_json()?,
        };
        return write_output(None, &text);
    }
    eprint!("{}", render::rebalance_plan_text(&planned.plan));
    let progress = MoveProgress::new(planned.plan.bytes.max(0) as u64);
    let background = opts.table.is_none();
    let summary = tokio::select! {
        r = rebalance::rebalance(target, &opts, &progress) => r?,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            anyhow::bail!(render::interrupted_text(background))
        }
    };
    progress.finish();
    let text = match format {
        SummaryFormat::Text => render::rebalance_text(&summary),
        SummaryFormat::Json => summary.to_json()?,
    };
    write_output(None, &text)
}

/// Shard moves as one bar (bytes moved of the plan's, shards moved, ETA) on a terminal, plain lines
/// on stderr otherwise.
struct MoveProgress {
    bar: Option<ProgressBar>,
    shards: Mutex<u64>,
}

impl MoveProgress {
    fn new(total_bytes: u64) -> Self {
        let bars = std::io::stderr().is_terminal()
            && std::env::var_os("CITUS_MIGRATE_PLAIN_PROGRESS").is_none();
        let bar = bars.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total_bytes),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "moving [{bar:30}] {bytes}/{total_bytes}  {msg}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        MoveProgress {
            bar,
            shards: Mutex::new(0),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for MoveProgress {
    fn step(&self, name: &str) {
        self.line(&format!("== {name}"));
    }

    fn table_started(&self, table: &QualifiedName, expected_bytes: u64, _rows: u64) {
        match &self.bar {
            Some(b) => {
                if b.position() + expected_bytes > b.length().unwrap_or(0) {
                    b.set_length(b.position() + expected_bytes);
                }
            }
            None => eprintln!(
                "moving a shard of {table} ({})",
                human_bytes(expected_bytes as i64)
            ),
        }
    }

    fn advance(&self, _table: &QualifiedName, bytes: u64, _rows: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn table_finished(&self, table: &QualifiedName) {
        let mut n = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        match &self.bar {
            Some(b) => b.set_message(format!("{n} shard(s) moved")),
            None => eprintln!("moved a shard of {table} ({n} so far)"),
        }
    }

    fn message(&self, text: &str) {
        self.line(text);
    }
}
