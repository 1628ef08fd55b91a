//! `export`: one table into a CSV file with a header line, streamed (`COPY … TO STDOUT (FORMAT csv,
//! HEADER)`). The file appears under its name only when complete: it is written next to it under a
//! temporary name and renamed at the end.

use std::path::Path;
use std::time::Instant;

use futures::{pin_mut, StreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::sql::{begin_source, copy_out, Format};
use super::tables;
use crate::connect::{connect, execute};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::QualifiedName;
use crate::progress::Progress;

/// What an export or import moved.
#[derive(Debug, Clone, Serialize)]
pub struct CsvSummary {
    pub table: QualifiedName,
    pub file: std::path::PathBuf,
    pub columns: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Writes every row of `table` (its non-generated columns) to `output` as CSV with a header line.
pub async fn export_csv(
    source: &ConnInfo,
    table: &QualifiedName,
    output: &Path,
    progress: &dyn Progress,
) -> Result<CsvSummary> {
    let started = Instant::now();
    let client = connect(source).await?;
    let facts = tables::read(&client, Side::Source, std::slice::from_ref(table))
        .await?
        .remove(0);
    let columns: Vec<String> = facts
        .columns
        .iter()
        .filter(|(_, g)| !g)
        .map(|(c, _)| c.clone())
        .collect();
    let sql = copy_out(table, facts.plain, &columns, &[], None, Format::CsvHeader);
    execute(
        &client,
        Side::Source,
        "starting the export transaction",
        &begin_source(None),
    )
    .await?;

    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".citus-migrate-export-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    let (std_file, tmp_path) = tmp.into_parts();
    let mut file =
        tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(std_file));

    progress.table_started(table, facts.table_bytes, facts.rows_estimate);
    let stream = client
        .copy_out(&sql)
        .await
        .map_err(|e| Error::db(Side::Source, format!("exporting {table}"), e))?;
    pin_mut!(stream);
    let (mut rows, mut bytes, mut header) = (0u64, 0u64, true);
    while let Some(data) = stream.next().await {
        let data = data.map_err(|e| Error::db(Side::Source, format!("exporting {table}"), e))?;
        file.write_all(&data)
            .await
            .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
        bytes += data.len() as u64;
        // One CopyData message per row; the first is the header.
        if header {
            header = false;
        } else {
            rows += 1;
            if rows % 10_000 == 0 {
                progress.advance(table, bytes, 10_000);
                bytes = 0;
            }
        }
    }
    progress.advance(table, bytes, rows % 10_000);
    file.flush()
        .await
        .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
    file.into_inner()
        .sync_all()
        .await
        .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
    tmp_path.persist(output).map_err(|e| {
        Error::io(
            format!("moving the finished export to {}", output.display()),
            e.error,
        )
    })?;
    execute(
        &client,
        Side::Source,
        "ending the export transaction",
        "COMMIT",
    )
    .await?;
    progress.table_finished(table);
    let total = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(CsvSummary {
        table: table.clone(),
        file: output.to_path_buf(),
        columns,
        rows,
        bytes: total,
        seconds: started.elapsed().as_secs_f64(),
    })
}
