//! `generate`: from the catalog and a plan, the SQL that builds the Citus layout — `01-pre-data.sql`
//! (pg_dump's pre-data section: tables without indexes and constraints), `02-distribute.sql`
//! (re-runnable `create_reference_table` / `create_distributed_table` calls), `03-post-data.sql`
//! (pg_dump's post-data section: indexes, keys, foreign keys, triggers) and `rollback.sql` — as
//! structured statement lists that `migrate` executes, and as files a person runs with psql.
//! [`prepare`] is the way there from a plan choice that `generate`, `migrate` and `demo` share.

mod distribute;
pub(crate) mod pg_dump;
mod plan_changes;
mod post_data;

use std::path::{Path, PathBuf};

use crate::advice::Verdict;
use crate::catalog::Catalog;
use crate::connect::connect;
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result};
use crate::filter::Selection;
use crate::ident::{comment_text, quote_ident, quote_literal, QualifiedName};
use crate::plan::checks::{self, Blocker, Severity};
use crate::plan::{Plan, PlanChoice};

use distribute::{distribute, rollback};
pub use post_data::{PostDataItem, PostDataKind};

/// The names of the files [`Generated::write`] writes.
pub const FILE_PLAN: &str = "plan.json";
pub const FILE_PRE_DATA: &str = "01-pre-data.sql";
pub const FILE_DISTRIBUTE: &str = "02-distribute.sql";
pub const FILE_POST_DATA: &str = "03-post-data.sql";
pub const FILE_ROLLBACK: &str = "rollback.sql";

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The source, for pg_dump.
    pub source: ConnInfo,
    /// The table selection the catalog was read with (pg_dump gets the same).
    pub filters: Selection,
    /// The pg_dump program; found next to the installed server or on `PATH` when `None`.
    pub pg_dump: Option<PathBuf>,
    /// Where the plan came from, for the file headers (`advised by citus-migrate`, a file name…).
    pub plan_origin: String,
}

/// A plan that passed its checks, with its SQL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Prepared {
    pub plan: Plan,
    /// The checks' findings: warnings only (errors are [`Error::PlanBlocked`]).
    pub warnings: Vec<Blocker>,
    pub generated: Generated,
}

/// The plan chosen (read from its file, or advised for `catalog`), checked against the source (the
/// catalog rules and the NULLs of the distribution columns), and its SQL. A plan with errors is
/// [`Error::PlanBlocked`], which holds the plan and every finding. `catalog` is the source's, read
/// with `filters`.
pub async fn prepare(
    source: &ConnInfo,
    catalog: &Catalog,
    filters: &Selection,
    choice: &PlanChoice,
    pg_dump: Option<&Path>,
) -> Result<Prepared> {
    let (plan, origin) = choice.plan(catalog)?;
    let client = connect(source).await?;
    let found = checks::check_source(&client, catalog, &plan).await?;
    drop(client);
    let warnings = checks::applicable(&plan, found)?;
    let opts = GenerateOptions {
        source: source.clone(),
        filters: filters.clone(),
        pg_dump: pg_dump.map(Path::to_path_buf),
        plan_origin: origin,
    };
    let generated = generate(catalog, &plan, &opts).await?;
    Ok(Prepared {
        plan,
        warnings,
        generated,
    })
}

/// The checks' warnings, whether the plan passed them or is blocked.
pub fn warnings(prepared: &Result<Prepared>) -> impl Iterator<Item = &Blocker> {
    let found = match prepared {
        Ok(p) => &p.warnings[..],
        Err(Error::PlanBlocked { blockers, .. }) => blockers,
        Err(_) => &[],
    };
    found.iter().filter(|b| b.severity == Severity::Warning)
}

#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Generated {
    /// pg_dump's pre-data section, as one script (after the `CREATE SCHEMA`s pg_dump leaves out of
    /// a `--table` selection).
    pub pre_data: String,
    /// One statement per table, in an order Citus accepts; each safe to run again.
    pub distribute: Vec<String>,
    /// pg_dump's `SET` preamble for the post-data section (each item also runs without it).
    pub post_data_preamble: String,
    /// Indexes, constraints, foreign keys, triggers…, in pg_dump's dependency-safe order.
    pub post_data: Vec<PostDataItem>,
    /// One statement per moved table, last moved first; each safe to run again.
    pub rollback: Vec<String>,
    /// How many post-data statements the plan changed (`extend_keys`; each starts with a
    /// `-- changed by the plan (…)` comment) or left out (foreign keys it drops).
    pub plan_changes: usize,
    /// The foreign keys of the source that the plan leaves out (Citus cannot keep them), one line
    /// each with the reason; listed at the top of `03-post-data.sql`.
    pub dropped_foreign_keys: Vec<String>,
    /// `pg_dump --version`'s version.
    pub pg_dump_version: String,
    pub plan_origin: String,
    pub plan_fingerprint: String,
    pub database: String,
    /// The plan's verdict: `single_node` distributes nothing, `schema_based` distributes schemas.
    pub verdict: Verdict,
}

/// Dumps the pre-data and post-data sections of the selected tables with pg_dump and writes the
/// distribution statements and their rollback for `plan`. The plan is checked against the catalog
/// first: a plan Citus would reject is [`Error::PlanBlocked`].
pub async fn generate(catalog: &Catalog, plan: &Plan, opts: &GenerateOptions) -> Result<Generated> {
    checks::applicable(plan, checks::check(catalog, plan))?;
    let program = pg_dump::program(opts.pg_dump.as_ref());
    let (major, version) = pg_dump::version(&program).await?;
    pg_dump::check_version(
        major,
        &version,
        catalog.server_version_num,
        &catalog.server_version,
    )?;
    let selected: Vec<QualifiedName> = catalog.tables.iter().map(|t| t.qualified()).collect();
    let selection = pg_dump::selection_args(&opts.filters, &selected);
    let (pre, post) = futures::try_join!(
        pg_dump::dump(&program, &opts.source, "pre-data", &selection),
        pg_dump::dump(&program, &opts.source, "post-data", &selection),
    )?;
    let (post_data_preamble, mut post_data) = post_data::split(&post, catalog);
    let target = crate::plan::changes::target_catalog(catalog, plan);
    let (plan_changes, dropped_foreign_keys) = plan_changes::apply(&target, plan, &mut post_data);
    let mut undo = rollback(plan);
    undo.extend(plan_changes::rollback(catalog, &target, plan));
    Ok(Generated {
        pre_data: format!(
            "{}{pre}{}",
            create_schemas(&opts.filters, catalog),
            plan_changes::pre_data(catalog, plan)
        ),
        distribute: distribute(plan),
        post_data_preamble,
        post_data,
        rollback: undo,
        plan_changes,
        dropped_foreign_keys,
        pg_dump_version: version,
        plan_origin: opts.plan_origin.clone(),
        plan_fingerprint: plan.fingerprint(),
        database: catalog.database.clone(),
        verdict: plan.verdict,
    })
}

impl Generated {
    /// The start of every file: psql's `ON_ERROR_STOP` and the client encoding the file is written in
    /// come first, before any text taken from the source (a name with a multi-byte character read in
    /// another client encoding could otherwise swallow a closing quote), then the comment saying what
    /// the file does. Every comment line passes through [`comment_text`], names in it are quoted.
    fn header(&self, file: &str, what: &str, when: &str) -> String {
        let mut h = String::from("\\set ON_ERROR_STOP on\nSET client_encoding = 'UTF8';\n");
        let mut line = |text: &str| {
            h.push_str("-- ");
            h.push_str(&comment_text(text));
            h.push('\n');
        };
        line(&format!("citus-migrate generate: {file}"));
        for (label, text) in [("What", what), ("When", when)] {
            for (i, l) in wrap(text, 96).iter().enumerate() {
                line(&format!(
                    "{:<6}{l}",
                    if i == 0 {
                        format!("{label}:")
                    } else {
                        String::new()
                    }
                ));
            }
        }
        line(&format!(
            "Plan:  {} (fingerprint {}), for source database {}.",
            self.plan_origin,
            self.plan_fingerprint,
            quote_literal(&self.database)
        ));
        h.push('\n');
        h
    }

    /// What the plan's verdict means for 02 and the rollback, when it is not row-based sharding.
    fn verdict_note(&self) -> String {
        match self.verdict {
            Verdict::SingleNode => "-- Verdict single_node: the database stays on one node. Nothing is distributed: every table\n-- stays a plain local table on the coordinator (01 and 03 create them, the copy fills them).\n\n".into(),
            Verdict::SchemaBased => "-- Verdict schema_based: the shared tables become reference tables first, then every tenant\n-- schema is distributed whole (citus_schema_distribute: single-shard tables, co-located per schema).\n\n".into(),
            Verdict::Distributed => String::new(),
        }
    }

    pub fn pre_data_sql(&self) -> String {
        let mut s = self.header(
            FILE_PRE_DATA,
            &format!("creates the selected schemas, types, sequences, functions, tables and views without indexes, keys, foreign keys or triggers (pg_dump {} --section=pre-data of the source).", self.pg_dump_version),
            "first, once, on the Citus coordinator: psql -f 01-pre-data.sql. Then run 02-distribute.sql.",
        );
        s.push_str(&self.pre_data);
        s
    }

    pub fn distribute_sql(&self) -> String {
        let mut s = self.header(
            FILE_DISTRIBUTE,
            "makes the planned tables reference tables, then distributes each co-location group (leader first). Safe to run again: tables already laid out as planned are skipped; a table laid out differently stops the script with Citus's error naming it.",
            "after 01-pre-data.sql, before copying the data (or after: Citus then moves the rows into shards), on the coordinator. Undo with rollback.sql.",
        );
        s.push_str(&self.verdict_note());
        if self.distribute.is_empty() {
            s.push_str("-- The plan makes no table distributed or reference: nothing to do.\n");
        }
        for st in &self.distribute {
            s.push_str(st);
            s.push_str("\n\n");
        }
        s
    }

    pub fn post_data_sql(&self) -> String {
        let mut s = self.header(
            FILE_POST_DATA,
            &format!(
                "creates the indexes, primary keys, unique constraints, foreign keys, triggers and other post-data objects (pg_dump {} --section=post-data of the source); Citus propagates them to the shards. {}",
                self.pg_dump_version,
                match self.plan_changes {
                    0 => "The plan changes none of them.".to_string(),
                    n => format!("The plan changes {n} of them (marked \"changed by the plan\")."),
                } + &match self.dropped_foreign_keys.len() {
                    0 => String::new(),
                    n => format!(" It leaves out {n} foreign key(s) Citus cannot keep (listed below; rollback.sql creates them again)."),
                }
            ),
            "after 02-distribute.sql and after the data is copied (building indexes and checking keys once is faster than keeping them up to date during the copy).",
        );
        for d in &self.dropped_foreign_keys {
            s.push_str(&format!("-- left out by the plan: {}\n", comment_text(d)));
        }
        if !self.dropped_foreign_keys.is_empty() {
            s.push('\n');
        }
        if !self.post_data_preamble.is_empty() {
            s.push_str(&self.post_data_preamble);
            s.push_str("\n\n");
        }
        for it in &self.post_data {
            s.push_str(&format!("{}\n{}\n\n", item_comment(it), it.sql));
        }
        s
    }

    pub fn rollback_sql(&self) -> String {
        let mut s = self.header(
            FILE_ROLLBACK,
            "turns every table 02-distribute.sql made distributed or reference back into a plain local table on the coordinator, with all its rows (undistribute_table, cascading through foreign keys), then undoes the plan's changes to the tables (keys, foreign keys, added columns, column types back as on the source). Safe to run twice.",
            "on the coordinator, to undo 02-distribute.sql. Needs room on the coordinator for all the rows of the tables it brings back.",
        );
        s.push_str(&self.verdict_note());
        if self.rollback.is_empty() {
            s.push_str("-- The plan makes no table distributed or reference: nothing to undo.\n");
        }
        for st in &self.rollback {
            s.push_str(st);
            s.push_str("\n\n");
        }
        s
    }

    /// Writes `plan.json`, `01-pre-data.sql`, `02-distribute.sql`, `03-post-data.sql` and
    /// `rollback.sql` into `out_dir` (created when missing). Returns the paths written.
    pub fn write(&self, out_dir: &Path, plan: &Plan) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(out_dir)
            .map_err(|e| Error::io(format!("cannot create {}", out_dir.display()), e))?;
        let mut written = Vec::new();
        let plan_path = out_dir.join(FILE_PLAN);
        plan.save(&plan_path)?;
        written.push(plan_path);
        for (name, text) in [
            (FILE_PRE_DATA, self.pre_data_sql()),
            (FILE_DISTRIBUTE, self.distribute_sql()),
            (FILE_POST_DATA, self.post_data_sql()),
            (FILE_ROLLBACK, self.rollback_sql()),
        ] {
            let p = out_dir.join(name);
            std::fs::write(&p, text)
                .map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
            written.push(p);
        }
        Ok(written)
    }
}

/// The schemas of the selected tables, created when missing, for a selection by table patterns: pg_dump
/// then dumps the tables alone, without the `CREATE SCHEMA` of their schemas. Empty otherwise (pg_dump
/// creates the selected schemas itself, and a second `CREATE SCHEMA` would fail).
fn create_schemas(filters: &Selection, catalog: &Catalog) -> String {
    if filters.tables.is_empty() {
        return String::new();
    }
    let schemas: std::collections::BTreeSet<&str> =
        catalog.tables.iter().map(|t| t.schema.as_str()).collect();
    let mut out = String::from(
        "-- citus-migrate: the schemas of the selected tables (pg_dump --table leaves them out)\n",
    );
    for s in schemas {
        out.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {};\n",
            quote_ident(s)
        ));
    }
    out.push('\n');
    out
}

/// `-- index "orders_code" on public.orders`: what the item creates, names quoted, on one line.
fn item_comment(it: &PostDataItem) -> String {
    let what = match &it.table {
        Some(t) => {
            // pg_dump names table-owned objects other than indexes "table object".
            let prefix = format!("{} ", post_data::tag(&t.name));
            let object = match it.kind {
                PostDataKind::Index => &it.name,
                _ => it.name.strip_prefix(&prefix).unwrap_or(&it.name),
            };
            format!("{} on {}", quote_ident(object), t.quoted())
        }
        None => quote_ident(&it.name),
    };
    format!("-- {} {}", kind_word(it.kind), comment_text(&what))
}

fn kind_word(k: PostDataKind) -> &'static str {
    match k {
        PostDataKind::Index => "index",
        PostDataKind::Constraint => "constraint",
        PostDataKind::ForeignKey => "foreign key",
        PostDataKind::Trigger => "trigger",
        PostDataKind::Other => "other:",
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let cur = lines.last_mut().unwrap();
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(w.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
    }
    lines
}
