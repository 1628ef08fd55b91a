//! One consistent view of the source for the whole run: a transaction on one source connection exports
//! its snapshot (`pg_export_snapshot`) and stays open until the last chunk is read; every reading
//! connection imports it (`SET TRANSACTION SNAPSHOT`) inside `REPEATABLE READ READ ONLY`.

use tokio_postgres::Client;

use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::quote_literal;

/// Settings that make COPY's text output independent of the server's and the role's defaults (dates,
/// intervals, floats, money, bytea), set for the transaction only so they never leak through a pooler.
pub const SOURCE_SETTINGS: &str =
    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'; SET LOCAL TimeZone = 'UTC'; \
     SET LOCAL lc_monetary = 'C'";

/// The exporting transaction. Keep it alive until every chunk has been read.
pub struct Snapshot {
    client: Client,
    id: String,
}

impl Snapshot {
    /// Opens the exporting connection and transaction.
    pub async fn export(info: &ConnInfo) -> Result<Self> {
        let client = connect(info).await?;
        execute(
            &client,
            Side::Source,
            "starting the snapshot transaction",
            &format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {SOURCE_SETTINGS}"),
        )
        .await?;
        let rows = query(
            &client,
            Side::Source,
            "exporting a snapshot",
            "SELECT pg_export_snapshot()",
            &[],
        )
        .await?;
        let id: String = rows[0].get(0);
        Ok(Snapshot { client, id })
    }

    /// The exporting connection: its queries see the snapshot (used for planning).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A new source connection inside a transaction that sees exactly the exported snapshot.
    pub async fn reader(&self, info: &ConnInfo) -> Result<Client> {
        if self.client.is_closed() {
            return Err(Error::Precondition {
                side: Side::Source,
                message: "the connection holding the source snapshot was lost, so the copy can no longer be \
                          consistent; run the copy again with --resume"
                    .into(),
            });
        }
        let client = connect(info).await?;
        let sql = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; {SOURCE_SETTINGS}",
            quote_literal(&self.id)
        );
        execute(&client, Side::Source, "importing the source snapshot", &sql).await?;
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
