//! One consistent view of the source for the whole run: a transaction on one source connection exports
//! its snapshot (`pg_export_snapshot`) and stays open until the last chunk is read; every reading
//! connection imports it (`SET TRANSACTION SNAPSHOT`) inside `REPEATABLE READ READ ONLY`.

use std::path::Path;

use tokio_postgres::Client;

use super::sql::begin_source;
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::online::CopySnapshot;

/// The exporting transaction. Keep it alive until every chunk has been read.
pub(super) struct Snapshot {
    client: Client,
    id: String,
}

impl Snapshot {
    /// Opens the exporting connection and transaction. With `record`, writes the snapshot as
    /// `pg_current_snapshot()` shows it and the WAL insert position read right after it to that file
    /// (JSON, [`crate::online::CopySnapshot`]), for the online catch-up to start exactly there.
    pub async fn export(info: &ConnInfo, record: Option<&Path>) -> Result<Self> {
        let client = connect(info).await?;
        execute(
            &client,
            Side::Source,
            "starting the snapshot transaction",
            &begin_source(None),
        )
        .await?;
        // Only an online copy records where its snapshot stands in the WAL; a plain copy may read a
        // hot standby, where the WAL position functions cannot run.
        let sql = if record.is_some() {
            "SELECT pg_export_snapshot(), pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text"
        } else {
            "SELECT pg_export_snapshot()"
        };
        let rows = query(&client, Side::Source, "exporting a snapshot", sql, &[]).await?;
        let id: String = rows[0].get(0);
        if let Some(path) = record {
            let snapshot = CopySnapshot::parse(rows[0].get(1), rows[0].get(2))?;
            let text =
                serde_json::to_vec_pretty(&snapshot).map_err(|e| Error::Other(e.to_string()))?;
            crate::workdir::write_atomic(path, &text)?;
        }
        Ok(Snapshot { client, id })
    }

    /// The exporting connection: its queries see the snapshot (used for planning).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A new source connection inside a transaction that sees exactly the exported snapshot.
    pub async fn reader(&self, info: &ConnInfo) -> Result<Client> {
        if self.client.is_closed() {
            return Err(Error::Precondition {
                side: Side::Source,
                message: "the connection holding the source snapshot was lost, so the copy can no longer be \
                          consistent"
                    .into(),
                remedy: Some(crate::error::Remedy::ResumeCopy),
            });
        }
        let client = connect(info).await?;
        execute(
            &client,
            Side::Source,
            "importing the source snapshot",
            &begin_source(Some(&self.id)),
        )
        .await?;
        Ok(client)
    }

    /// Ends the exporting transaction.
    pub async fn release(&self) -> Result<()> {
        execute(
            &self.client,
            Side::Source,
            "ending the snapshot transaction",
            "COMMIT",
        )
        .await
    }
}
