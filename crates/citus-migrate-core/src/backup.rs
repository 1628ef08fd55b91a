//! `pg_dump -Fc` of the source into the work directory (`migrate --backup`). The connection is handed to
//! pg_dump through libpq's environment variables (the same as `generate` uses), so the password never
//! appears on a command line, where `ps` would show it. pg_dump ends with citus-migrate
//! ([`crate::child`]).

use std::path::Path;

use crate::conninfo::ConnInfo;
use crate::error::{Error, Result};
use crate::sqlgen::pg_dump;

/// Runs `pg_dump -Fc` of the whole source database into `path` (written to `path.tmp` first, renamed
/// when complete). Returns the size of the dump.
pub async fn dump(source: &ConnInfo, path: &Path) -> Result<u64> {
    let program = pg_dump::program(None);
    let tmp = path.with_extension("dump.tmp");
    let mut cmd = tokio::process::Command::new(&program);
    for (k, _) in
        std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("PG")))
    {
        cmd.env_remove(k);
    }
    cmd.envs(pg_dump::environment(source));
    cmd.args(["--format=custom", "--no-password", "--file"])
        .arg(&tmp);
    let out = crate::child::output(cmd).await.map_err(|e| Error::Tool {
        program: "pg_dump".into(),
        message: format!(
            "cannot run {}: {e} (install the PostgreSQL client programs)",
            program.display()
        ),
    })?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Tool {
            program: "pg_dump".into(),
            message: format!(
                "backup of the source ({source}) failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot rename {}", tmp.display()), e))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}
