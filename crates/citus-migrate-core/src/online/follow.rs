//! The catch-up: reads the slot's changes through `pg_logical_slot_peek_binary_changes` (a cursor, so
//! a transaction of any size streams through in pieces), applies them on the target in commit order,
//! several source transactions per target transaction, each target transaction also upserting the
//! position it applied up to; only after the target's commit is the slot advanced. A run that stops
//! anywhere continues after the last position the target recorded: exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::apply::{self, Expect, Statement, Target, UpdatePlan};
use super::pgoutput::{self, Message, Relation, Value};
use super::snapshot::{format_lsn, parse_lsn, CopySnapshot};
use super::state::{Files, OnlineState, OnlineStatus, TableColumns};
use crate::connect::{connect, execute, execute_counted, execute_script, query};
use crate::conninfo::ConnInfo;
use crate::copy::sql::{begin_source, begin_target, DURABLE_COMMIT};
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, quote_literal, QualifiedName};

/// The bookkeeping table on the target.
pub(crate) const PROGRESS_TABLE: &str = "citus_migrate.online_progress";
const SQL_PROGRESS_TABLE: &str = include_str!("../sql/online_progress.sql");

/// Rows fetched from the cursor at a time.
const FETCH: i64 = 2000;
/// A target transaction is committed at the first source commit after this many changes…
const BATCH_CHANGES: u64 = 5000;
/// …or after this long.
const BATCH_TIME: Duration = Duration::from_millis(500);
/// Statements sent to the target in one round trip.
const SEND_STATEMENTS: usize = 500;
/// Changes decoded per round at most (checked by PostgreSQL at transaction ends).
const ROUND_CHANGES: i64 = 100_000;
/// A round stops reading at the first commit after this long, so that the figures (and the checks
/// for a stop request) come at least this often even while a large backlog is applied.
const ROUND_TIME: Duration = Duration::from_secs(2);

/// Test hook: abort the process right after the n-th target commit, before the slot is advanced.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Hooks {
    pub crash_after_commits: Option<u64>,
}

/// One decoded transaction while it is read.
struct Txn {
    skip: bool,
}

/// What one round did.
pub(super) struct Round {
    pub transactions: u64,
    pub changes: u64,
    /// Every change up to the round's end position is applied (the budget did not cut it short).
    pub exhausted: bool,
}

pub(super) struct Follower {
    files: Files,
    pub state: OnlineState,
    snapshot: CopySnapshot,
    expected: HashMap<QualifiedName, TableColumns>,
    distribution: HashMap<QualifiedName, String>,
    citus: bool,
    src: Client,
    control: Client,
    tgt: Client,
    /// The position the target has applied up to.
    pub applied: u64,
    pub status: OnlineStatus,
    hooks: Hooks,
    commits: u64,
    // The target transaction being built.
    open: bool,
    pending: Vec<Statement>,
    batch_changes: u64,
    batch_transactions: u64,
    batch_started: Instant,
    last_end: u64,
    last_commit_time: Option<i64>,
}

/// Creates the bookkeeping table when missing.
pub(super) async fn ensure_progress_table(client: &Client) -> Result<()> {
    execute_script(
        client,
        Side::Target,
        "creating the online bookkeeping table",
        SQL_PROGRESS_TABLE,
    )
    .await
}

impl Follower {
    pub async fn start(
        source: &ConnInfo,
        target: &ConnInfo,
        files: Files,
        hooks: Hooks,
    ) -> Result<Follower> {
        let state = files.load()?;
        let snapshot = files.snapshot()?;
        let src = connect(source).await?;
        let control = connect(source).await?;
        let tgt = connect(target).await?;
        ensure_progress_table(&tgt).await?;
        let citus = !query(
            &tgt,
            Side::Target,
            "looking for the citus extension",
            "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'",
            &[],
        )
        .await?
        .is_empty();
        let mut distribution = HashMap::new();
        if citus {
            for r in query(
                &tgt,
                Side::Target,
                "reading the distribution columns",
                "SELECT n.nspname::text, c.relname::text, \
                        pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)::text \
                 FROM pg_catalog.pg_dist_partition p \
                 JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE p.partmethod = 'h'",
                &[],
            )
            .await?
            {
                distribution.insert(
                    QualifiedName::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                    r.get::<_, String>(2),
                );
            }
        }
        let rows = query(
            &tgt,
            Side::Target,
            "reading the applied position",
            &format!("SELECT applied_lsn::text FROM {PROGRESS_TABLE} WHERE slot_name = $1"),
            &[(&state.slot, Type::TEXT)],
        )
        .await?;
        let applied = match rows.first() {
            Some(r) => parse_lsn(r.get(0))?,
            None => 0,
        };
        let expected = state
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.clone()))
            .collect();
        Ok(Follower {
            files,
            state,
            snapshot,
            expected,
            distribution,
            citus,
            src,
            control,
            tgt,
            applied,
            status: OnlineStatus {
                applied_lsn: format_lsn(applied),
                ..OnlineStatus::default()
            },
            hooks,
            commits: 0,
            open: false,
            pending: Vec::new(),
            batch_changes: 0,
            batch_transactions: 0,
            batch_started: Instant::now(),
            last_end: applied,
            last_commit_time: None,
        })
    }

    /// Stops when a partition joined a published partition tree (its rows are not published).
    pub async fn check_no_new_partitions(&self) -> Result<()> {
        super::slot::check_no_new_partitions(&self.control, &self.state.publication).await
    }

    /// The source's WAL position flushed to disk: logical decoding reads no further, so a round up
    /// to it has seen every commit before it.
    pub async fn flushed_lsn(&self) -> Result<u64> {
        let rows = query(
            &self.control,
            Side::Source,
            "reading the WAL position",
            "SELECT pg_catalog.pg_current_wal_flush_lsn()::text",
            &[],
        )
        .await?;
        parse_lsn(rows[0].get(0))
    }

    /// The position past every record written so far, once it is flushed (with asynchronous commit
    /// the last commits can be visible before their WAL is on disk, and decoding cannot see them
    /// before). For the cutover, after the writes stopped.
    pub async fn written_and_flushed_lsn(&self) -> Result<u64> {
        let rows = query(
            &self.control,
            Side::Source,
            "reading the WAL position",
            "SELECT pg_catalog.pg_current_wal_insert_lsn()::text",
            &[],
        )
        .await?;
        let written = parse_lsn(rows[0].get(0))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let flushed = self.flushed_lsn().await?;
            if flushed >= written {
                return Ok(written);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    side: Side::Source,
                    what: "waiting for the source to flush its WAL".into(),
                    after: Duration::from_secs(60),
                    kind: crate::error::TimeoutKind::NoProgress,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Applies every transaction that committed before `upto` (at most about [`ROUND_CHANGES`]
    /// changes' worth of transactions unless `unbounded`).
    pub async fn round(&mut self, upto: u64, unbounded: bool) -> Result<Round> {
        let started = Instant::now();
        let limit = if unbounded { None } else { Some(ROUND_CHANGES) };
        let result = self.read_and_apply(upto, limit).await;
        if result.is_err() {
            let _ = self.tgt.batch_execute("ROLLBACK").await;
            let _ = self.src.batch_execute("ROLLBACK").await;
            self.open = false;
            self.pending.clear();
        }
        let (round, rows, cut_short) = result?;
        let exhausted = !cut_short && limit.is_none_or(|l| rows < l as u64);
        // Everything that committed before `upto` is applied: the target may say so, and the slot
        // may move there, even when none of it was for the selected tables.
        if exhausted && upto > self.last_end {
            self.last_end = upto;
        }
        if self.last_end > self.applied {
            self.commit_batch().await?;
        }
        self.refresh_status(started, exhausted, &round).await?;
        Ok(Round { exhausted, ..round })
    }

    /// Returns the round's figures, the rows read, and whether it stopped early (at a transaction's
    /// end, after [`ROUND_TIME`]).
    async fn read_and_apply(
        &mut self,
        upto: u64,
        limit: Option<i64>,
    ) -> Result<(Round, u64, bool)> {
        let started = Instant::now();
        let mut round = Round {
            transactions: 0,
            changes: 0,
            exhausted: false,
        };
        execute(
            &self.src,
            Side::Source,
            "starting to read the slot",
            &format!(
                "{}; DECLARE citus_migrate_changes NO SCROLL CURSOR FOR \
                 SELECT data FROM pg_catalog.pg_logical_slot_peek_binary_changes({}, {}::pg_catalog.pg_lsn, {}, \
                 'proto_version', '1', 'publication_names', {})",
                begin_source(None),
                quote_literal(&self.state.slot),
                quote_literal(&format_lsn(upto)),
                limit.map_or("NULL".to_string(), |l| l.to_string()),
                quote_literal(&self.state.publication),
            ),
        )
        .await?;
        let mut relations: HashMap<u32, Target> = HashMap::new();
        let mut txn: Option<Txn> = None;
        let mut rows_read = 0u64;
        let mut cut_short = false;
        'fetch: loop {
            let rows = query(
                &self.src,
                Side::Source,
                "reading the slot's changes",
                &format!("FETCH {FETCH} FROM citus_migrate_changes"),
                &[],
            )
            .await?;
            if rows.is_empty() {
                break;
            }
            rows_read += rows.len() as u64;
            for row in rows {
                let data: &[u8] = row.get(0);
                let msg = pgoutput::parse(data).map_err(|e| Error::Precondition {
                    side: Side::Source,
                    message: format!("cannot read the slot's changes: {e}"),
                    remedy: None,
                })?;
                let commit = matches!(msg, Message::Commit { .. });
                self.handle(msg, &mut relations, &mut txn, &mut round)
                    .await?;
                if commit && started.elapsed() >= ROUND_TIME {
                    // Safe at a transaction's end: the next round peeks again from the slot.
                    cut_short = true;
                    break 'fetch;
                }
            }
        }
        // Closing the cursor early leaves the rest in the slot for the next round.
        execute(&self.src, Side::Source, "ending the slot read", "COMMIT").await?;
        Ok((round, rows_read, cut_short))
    }

    async fn handle(
        &mut self,
        msg: Message,
        relations: &mut HashMap<u32, Target>,
        txn: &mut Option<Txn>,
        round: &mut Round,
    ) -> Result<()> {
        let skip = txn.as_ref().is_none_or(|t| t.skip);
        match msg {
            Message::Begin { final_lsn, xid, .. } => {
                let skip = final_lsn < self.applied || self.snapshot.saw(xid, final_lsn);
                *txn = Some(Txn { skip });
            }
            Message::Commit {
                end_lsn,
                commit_time,
                ..
            } => {
                *txn = None;
                if !skip {
                    round.transactions += 1;
                    self.batch_transactions += 1;
                    self.last_commit_time = Some(commit_time);
                }
                self.last_end = self.last_end.max(end_lsn);
                if self.open
                    && (self.batch_changes >= BATCH_CHANGES
                        || self.batch_started.elapsed() >= BATCH_TIME)
                {
                    self.commit_batch().await?;
                }
            }
            Message::Relation(rel) => {
                let target = self.target_of(rel)?;
                relations.insert(target.relation.oid, target);
            }
            Message::Insert { relation, new } if !skip => {
                let t = known(relations, relation)?.clone();
                let s = if t.added.is_empty() {
                    t.insert(&new)
                } else {
                    let added = self.added_values(&t, &new).await?;
                    t.insert_with(&new, &added)
                };
                self.push(vec![s]).await?;
                round.changes += 1;
            }
            Message::Update { relation, old, new } if !skip => {
                let t = known(relations, relation)?.clone();
                if let Some(s) = self.relocation(&t, old.as_deref(), &new).await? {
                    self.push(s).await?;
                    round.changes += 1;
                    return Ok(());
                }
                let statements = match t.update(old.as_deref(), &new) {
                    UpdatePlan::Statements(s) => s,
                    UpdatePlan::NeedsValues { select, missing } => {
                        let values = self.read_target_values(&t, &select).await?;
                        let mut filled = new.clone();
                        for (i, v) in missing.iter().zip(values) {
                            filled[*i] = v;
                        }
                        match t.update(old.as_deref(), &filled) {
                            UpdatePlan::Statements(s) => s,
                            UpdatePlan::NeedsValues { .. } => unreachable!("every value filled"),
                        }
                    }
                };
                self.push(statements).await?;
                round.changes += 1;
            }
            Message::Delete { relation, old } if !skip => {
                let t = known(relations, relation)?;
                let s = t.delete(&old);
                self.push(vec![s]).await?;
                round.changes += 1;
            }
            Message::Truncate {
                relations: oids, ..
            } if !skip => {
                let tables = oids
                    .iter()
                    .map(|o| known(relations, *o).map(|t| &t.table))
                    .collect::<Result<Vec<_>>>()?;
                let s = apply::truncate(&tables);
                self.push(vec![s]).await?;
                round.changes += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks a decoded relation against the columns recorded when the slot was made: a difference
    /// means DDL ran on the source, and nothing of the transaction that carries it is applied.
    fn target_of(&self, rel: Relation) -> Result<Target> {
        let table = QualifiedName::new(&rel.schema, &rel.name);
        let Some(expected) = self.expected.get(&table) else {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "the publication {} sent changes of {table}, which is not a table of this migration",
                    self.state.publication
                ),
                remedy: None,
            });
        };
        let names: Vec<&str> = rel.columns.iter().map(|c| c.name.as_str()).collect();
        let types: Vec<u32> = rel.columns.iter().map(|c| c.type_oid).collect();
        if names
            != expected
                .columns
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
            || types != expected.types
        {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "the structure of {table} changed on the source during the online migration (DDL): \
                     its columns were ({}) and are now ({}). The catch-up stopped before that change; \
                     everything before it is applied on the target. Apply the same change to the target \
                     table and to the recorded columns, or abort the online migration and start over",
                    expected.columns.join(", "),
                    names.join(", ")
                ),
                remedy: None,
            });
        }
        let distribution = self
            .distribution
            .get(&table)
            .and_then(|d| rel.columns.iter().position(|c| &c.name == d));
        if matches!(rel.replica_identity, b'n')
            || (rel.replica_identity == b'd' && !rel.columns.iter().any(|c| c.key))
        {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "{table} has no replica identity, so its updates and deletes cannot be applied; run \
                     ALTER TABLE {} REPLICA IDENTITY FULL on the source (or give it a primary key)",
                    table.quoted()
                ),
                remedy: None,
            });
        }
        let mut added = Vec::new();
        for a in self.state.added.iter().filter(|a| a.table == table) {
            let columns = a
                .columns
                .iter()
                .map(|c| rel.columns.iter().position(|r| &r.name == c))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| Error::Precondition {
                    side: Side::Source,
                    message: format!(
                        "{table} no longer has the columns ({}) its added column {} is found through",
                        a.columns.join(", "),
                        a.column
                    ),
                    remedy: None,
                })?;
            added.push(apply::Added {
                column: a.column.clone(),
                columns,
                hops: a.hops.clone(),
            });
        }
        Ok(Target {
            table,
            relation: rel,
            distribution,
            added,
        })
    }

    /// The values of `t`'s added columns for a row with the values `row`, looked up on the target
    /// (inside the open transaction: a parent inserted by an earlier change is seen), hop by hop.
    async fn added_values(&mut self, t: &Target, row: &[Value]) -> Result<Vec<Value>> {
        self.send().await?;
        self.begin_target().await?;
        let mut out = Vec::with_capacity(t.added.len());
        for a in &t.added {
            let mut values: Vec<Value> = a.columns.iter().map(|&i| row[i].clone()).collect();
            for hop in &a.hops {
                let Some(select) = apply::hop_select(hop, &values) else {
                    values = vec![Value::Null];
                    break;
                };
                let rows = query(
                    &self.tgt,
                    Side::Target,
                    &format!("looking up {}.{} in {}", t.table, a.column, hop.table),
                    &select,
                    &[],
                )
                .await?;
                if rows.len() != 1 {
                    return Err(Error::Precondition {
                        side: Side::Target,
                        message: format!(
                            "a row of {} needs the value of its added column {} from {}, but the target has \
                             {} rows there for {select}: the foreign key's parent row is missing (inserted \
                             later in the transaction, by a deferred constraint?) or not unique. Nothing of \
                             the source transaction is applied; migrate without the online option",
                            t.table,
                            a.column,
                            hop.table,
                            rows.len()
                        ),
                        remedy: None,
                    });
                }
                values = (0..rows[0].len())
                    .map(|i| match rows[0].get::<_, Option<String>>(i) {
                        Some(s) => Value::Text(s),
                        None => Value::Null,
                    })
                    .collect();
            }
            out.push(values.swap_remove(0));
        }
        Ok(out)
    }

    /// An UPDATE of a row with added columns whose values change with it (its foreign key now names
    /// another parent): the row is deleted and inserted again with the new values (with the values the
    /// source did not send read from the target's row first). None when they stay (or no value of the
    /// foreign key was sent): then it is an ordinary UPDATE.
    async fn relocation(
        &mut self,
        t: &Target,
        old: Option<&[Value]>,
        new: &[Value],
    ) -> Result<Option<Vec<Statement>>> {
        if t.added.is_empty()
            || t.added
                .iter()
                .flat_map(|a| &a.columns)
                .any(|&i| new[i] == Value::Unchanged)
        {
            return Ok(None);
        }
        let added = self.added_values(t, new).await?;
        let names: Vec<String> = t.added.iter().map(|a| quote_ident(&a.column)).collect();
        let current = self
            .read_target_values(t, &t.select_row(old, new, &names))
            .await?;
        if current == added {
            return Ok(None);
        }
        let missing: Vec<usize> = (0..new.len())
            .filter(|&i| new[i] == Value::Unchanged)
            .collect();
        let mut filled = new.to_vec();
        if !missing.is_empty() {
            let values = self
                .read_target_values(t, &t.select_row(old, new, &t.columns(&missing)))
                .await?;
            for (i, v) in missing.iter().zip(values) {
                filled[*i] = v;
            }
        }
        Ok(Some(t.relocate(old, &filled, &added)))
    }

    async fn read_target_values(&mut self, t: &Target, select: &str) -> Result<Vec<Value>> {
        self.send().await?;
        self.begin_target().await?;
        let rows = query(
            &self.tgt,
            Side::Target,
            &format!(
                "reading the unchanged values of a row of {} that moves",
                t.table
            ),
            select,
            &[],
        )
        .await?;
        if rows.len() != 1 {
            return Err(diverged(&t.table, select, rows.len() as u64));
        }
        Ok((0..rows[0].len())
            .map(|i| match rows[0].get::<_, Option<String>>(i) {
                Some(s) => Value::Text(s),
                None => Value::Null,
            })
            .collect())
    }

    async fn begin_target(&mut self) -> Result<()> {
        if !self.open {
            execute(
                &self.tgt,
                Side::Target,
                "starting to apply changes",
                &format!("{}; {DURABLE_COMMIT}", begin_target(self.citus)),
            )
            .await?;
            self.open = true;
            self.batch_started = Instant::now();
        }
        Ok(())
    }

    async fn push(&mut self, statements: Vec<Statement>) -> Result<()> {
        self.begin_target().await?;
        self.batch_changes += 1;
        self.pending.extend(statements);
        if self.pending.len() >= SEND_STATEMENTS {
            self.send().await?;
        }
        Ok(())
    }

    /// Sends the pending statements (inside the open target transaction) and checks each one's row
    /// count: a mismatch means the target no longer holds what the source held, and stops the run.
    async fn send(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let sql: String = self
            .pending
            .iter()
            .map(|s| s.sql.as_str())
            .collect::<Vec<_>>()
            .join(";\n");
        let counts = execute_counted(
            &self.tgt,
            Side::Target,
            "applying the source's changes",
            &sql,
        )
        .await?;
        for (s, n) in self.pending.iter().zip(counts) {
            let ok = match s.expect {
                Expect::One => n == 1,
                Expect::AtMostOne => n <= 1,
                Expect::Any => true,
            };
            if !ok {
                let table = s.sql.clone();
                return Err(diverged_statement(&table, n));
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Commits the open target transaction (opening one when only the position moved) with the
    /// position it reaches, then advances the slot there.
    async fn commit_batch(&mut self) -> Result<()> {
        self.send().await?;
        self.begin_target().await?;
        let lsn = format_lsn(self.last_end);
        let sql = format!(
            "INSERT INTO {PROGRESS_TABLE} (slot_name, applied_lsn, applied_at, transactions, changes) \
             VALUES ({slot}, {lsn}::pg_catalog.pg_lsn, now(), {t}, {c}) \
             ON CONFLICT (slot_name) DO UPDATE SET applied_lsn = EXCLUDED.applied_lsn, applied_at = now(), \
             transactions = {PROGRESS_TABLE}.transactions + EXCLUDED.transactions, \
             changes = {PROGRESS_TABLE}.changes + EXCLUDED.changes; COMMIT",
            slot = quote_literal(&self.state.slot),
            lsn = quote_literal(&lsn),
            t = self.batch_transactions,
            c = self.batch_changes,
        );
        execute(&self.tgt, Side::Target, "committing applied changes", &sql).await?;
        self.open = false;
        self.applied = self.last_end;
        self.status.transactions += self.batch_transactions;
        self.status.changes += self.batch_changes;
        self.batch_transactions = 0;
        self.batch_changes = 0;
        self.commits += 1;
        if self.hooks.crash_after_commits == Some(self.commits) {
            std::process::abort();
        }
        advance_slot(&self.control, &self.state.slot, self.applied).await
    }

    async fn refresh_status(
        &mut self,
        started: Instant,
        exhausted: bool,
        round: &Round,
    ) -> Result<()> {
        let rows = query(
            &self.control,
            Side::Source,
            "reading the slot's position",
            "SELECT pg_catalog.pg_current_wal_lsn()::text, \
                    COALESCE(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn), 0)::int8, \
                    COALESCE(s.wal_status, '')::text, s.safe_wal_size::int8 \
             FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1",
            &[(&self.state.slot, Type::TEXT)],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "the replication slot {} is gone from the source, so the changes since the last applied \
                     position ({}) are lost to this migration; abort it and start over",
                    self.state.slot,
                    format_lsn(self.applied)
                ),
                remedy: None,
            });
        };
        let current = parse_lsn(row.get(0))?;
        let elapsed = started.elapsed().as_secs_f64();
        self.status.applied_lsn = format_lsn(self.applied);
        self.status.lag_bytes = current.saturating_sub(self.applied);
        self.status.retained_wal_bytes = row.get::<_, i64>(1).max(0) as u64;
        self.status.wal_status = row.get(2);
        self.status.safe_wal_bytes = row.get::<_, Option<i64>>(3).map(|b| b.max(0) as u64);
        self.status.lag_seconds = if exhausted {
            elapsed
        } else {
            self.last_commit_time
                .map(|t| (pg_now_micros() - t).max(0) as f64 / 1e6)
                .unwrap_or(elapsed)
        };
        self.status.changes_per_second = if elapsed > 0.0 {
            round.changes as f64 / elapsed
        } else {
            0.0
        };
        self.status.updated_at = crate::workdir::now_utc();
        self.files.save_status(&self.status)
    }
}

/// Moves the slot's confirmed position to `lsn` (never backwards), freeing the WAL before it.
pub(super) async fn advance_slot(control: &Client, slot: &str, lsn: u64) -> Result<()> {
    let lsn = format_lsn(lsn);
    query(
        control,
        Side::Source,
        "advancing the replication slot",
        "SELECT pg_catalog.pg_replication_slot_advance(slot_name, $2::text::pg_catalog.pg_lsn) \
         FROM pg_catalog.pg_replication_slots \
         WHERE slot_name = $1 AND confirmed_flush_lsn < $2::text::pg_catalog.pg_lsn",
        &[(&slot, Type::TEXT), (&lsn, Type::TEXT)],
    )
    .await?;
    Ok(())
}

/// Microseconds since 2000-01-01 UTC, as pgoutput sends commit times.
fn pg_now_micros() -> i64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    unix - 946_684_800_000_000
}

fn known(relations: &HashMap<u32, Target>, oid: u32) -> Result<&Target> {
    relations.get(&oid).ok_or_else(|| Error::Precondition {
        side: Side::Source,
        message: format!("the slot sent a change of relation {oid} before describing it"),
        remedy: None,
    })
}

fn diverged(table: &QualifiedName, what: &str, n: u64) -> Error {
    Error::Precondition {
        side: Side::Target,
        message: format!(
            "{table} no longer matches the source: {what} found {n} rows where the source had exactly one; \
             the changes after the last applied position were not applied (was the target table changed \
             by something else?)"
        ),
        remedy: None,
    }
}

fn diverged_statement(sql: &str, n: u64) -> Error {
    let shown: String = sql.chars().take(300).collect();
    Error::Precondition {
        side: Side::Target,
        message: format!(
            "the target no longer matches the source: `{shown}` touched {n} rows where the source changed \
             exactly one; the transaction was rolled back and nothing after the last applied position was \
             applied (was the target changed by something else, or does a table without a key hold \
             identical rows?)"
        ),
        remedy: None,
    }
}
