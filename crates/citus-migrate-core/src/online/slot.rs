//! The source's side of an online migration: the up-front checks (each with the exact fix), the
//! publication and the logical replication slot (created through PostgreSQL's SQL functions, the
//! publication first so that the slot's decoding can see it), and removing both.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::state::TableColumns;
use crate::connect::{execute, query};
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, quote_literal, QualifiedName};
use crate::progress::Progress;

const SQL_SOURCE: &str = include_str!("../sql/online_source.sql");
const SQL_TABLES: &str = include_str!("../sql/online_tables.sql");
const SQL_NEW_PARTITIONS: &str = include_str!("../sql/online_new_partitions.sql");

fn refused(message: String) -> Error {
    Error::Precondition {
        side: Side::Source,
        message,
        remedy: None,
    }
}

/// Checks what the source needs for an online migration of `tables` and returns their columns as
/// pgoutput will describe them. Warns (through `progress`) when slots may retain WAL without bound.
pub(super) async fn check(
    client: &Client,
    tables: &[QualifiedName],
    progress: &dyn Progress,
) -> Result<Vec<TableColumns>> {
    let rows = query(
        client,
        Side::Source,
        "checking the source for an online migration",
        SQL_SOURCE,
        &[],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| refused("the current role is not in pg_roles".into()))?;
    let wal_level: String = row.get("wal_level");
    let role: String = row.get("role");
    let database: String = row.get("database");
    let mut problems = Vec::new();
    if wal_level != "logical" {
        problems.push(format!(
            "wal_level is {wal_level}, logical decoding needs logical: run ALTER SYSTEM SET wal_level = logical; \
             and restart the source server"
        ));
    }
    let max: i32 = row.get("max_slots");
    let used: i32 = row.get("used_slots");
    if used >= max {
        problems.push(format!(
            "all {max} replication slots are in use (max_replication_slots): drop an unused one \
             (SELECT pg_drop_replication_slot(name)) or run ALTER SYSTEM SET max_replication_slots = {} \
             and restart the source server",
            max + 1
        ));
    }
    if !row.get::<_, bool>("can_replicate") {
        problems.push(format!(
            "role {role} may not create a replication slot: run ALTER ROLE {} REPLICATION (on a managed \
             service, grant the role its replication role, e.g. rds_replication or azure_pg_admin)",
            quote_ident(&role)
        ));
    }
    if !row.get::<_, bool>("can_create") {
        problems.push(format!(
            "role {role} may not create a publication in database {database}: run GRANT CREATE ON DATABASE {} TO {}",
            quote_ident(&database),
            quote_ident(&role)
        ));
    }
    let keep: String = row.get("max_slot_wal_keep_size");
    if keep == "-1" {
        progress.message(
            "warning: the source's max_slot_wal_keep_size is unlimited: the replication slot keeps every WAL \
             file until the catch-up applies it, so a stalled catch-up can fill the source's disk; watch the \
             retained WAL in `status`",
        );
    } else {
        progress.message(&format!(
            "note: the source's max_slot_wal_keep_size is {keep}: if the catch-up falls that far behind, the \
             source invalidates the slot and the online migration must start over"
        ));
    }

    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = query(
        client,
        Side::Source,
        "reading the tables' replica identities",
        SQL_TABLES,
        &[(&schemas, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
    )
    .await?;
    let mut columns = Vec::new();
    for r in rows {
        let table = QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name"));
        let identity: String = r.get("replica_identity");
        let has_pk: bool = r.get("has_pk");
        if identity == "n" || (identity == "d" && !has_pk) {
            problems.push(format!(
                "{table} has no primary key and no replica identity, so its updates and deletes cannot be \
                 applied: run ALTER TABLE {} REPLICA IDENTITY FULL; (or add a primary key)",
                table.quoted()
            ));
        }
        let types: Vec<i64> = r.get("types");
        columns.push(TableColumns {
            table,
            columns: r.get("columns"),
            types: types.into_iter().map(|t| t as u32).collect(),
        });
    }
    if !problems.is_empty() {
        return Err(refused(format!(
            "the source is not ready for an online migration:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    Ok(columns)
}

/// Creates the publication for `tables`, then the slot. Returns the slot's consistent point.
pub(super) async fn create(
    client: &Client,
    slot: &str,
    publication: &str,
    tables: &[QualifiedName],
) -> Result<()> {
    let list: Vec<String> = tables.iter().map(|t| t.quoted()).collect();
    execute(
        client,
        Side::Source,
        "creating the publication",
        &format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            quote_ident(publication),
            list.join(", ")
        ),
    )
    .await?;
    execute(
        client,
        Side::Source,
        "creating the logical replication slot",
        &format!(
            "SELECT pg_catalog.pg_create_logical_replication_slot({}, 'pgoutput')",
            quote_literal(slot)
        ),
    )
    .await
}

/// Refuses to go on when a partition joined one of the publication's partition trees since it was
/// made: the new partition's rows are not published, so the catch-up would miss them.
pub(super) async fn check_no_new_partitions(client: &Client, publication: &str) -> Result<()> {
    let rows = query(
        client,
        Side::Source,
        "looking for partitions added during the online migration",
        SQL_NEW_PARTITIONS,
        &[(&publication, Type::TEXT)],
    )
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = rows
        .iter()
        .map(|r| format!("{} (of {})", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    Err(Error::Precondition {
        side: Side::Source,
        message: format!(
            "a partition was added on the source during the online migration (DDL): {}. Its rows are not \
             in the publication, so the catch-up stopped here; everything before is applied on the target. \
             Abort the online migration and start over with the partition in place (create the partitions \
             the migration's time needs before it starts)",
            found.join(", ")
        ),
        remedy: None,
    })
}

/// Whether the slot exists on the source.
pub(super) async fn exists(client: &Client, slot: &str) -> Result<bool> {
    Ok(!query(
        client,
        Side::Source,
        "looking for the replication slot",
        "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        &[(&slot, Type::TEXT)],
    )
    .await?
    .is_empty())
}

/// Drops the slot and the publication where they exist. Returns what was dropped.
pub(super) async fn drop_both(
    client: &Client,
    slot: &str,
    publication: &str,
) -> Result<(bool, bool)> {
    let slot_dropped = !query(
        client,
        Side::Source,
        "dropping the replication slot",
        "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots \
         WHERE slot_name = $1",
        &[(&slot, Type::TEXT)],
    )
    .await?
    .is_empty();
    let publication_existed = !query(
        client,
        Side::Source,
        "looking for the publication",
        "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
        &[(&publication, Type::TEXT)],
    )
    .await?
    .is_empty();
    execute(
        client,
        Side::Source,
        "dropping the publication",
        &format!("DROP PUBLICATION IF EXISTS {}", quote_ident(publication)),
    )
    .await?;
    Ok((slot_dropped, publication_existed))
}
