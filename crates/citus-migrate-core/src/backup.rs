//! `pg_dump -Fc` of the source into the work directory (`migrate --backup`). The connection is handed to
//! pg_dump through libpq's environment variables (the same as `generate` uses), so the password never
//! appears on a command line, where `ps` would show it. The dump holds every row of the source, so it
//! is readable by its owner only: the directory is made 0700 and pg_dump creates the file 0600,
//! whatever the umask. pg_dump ends with citus-migrate ([`crate::child`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::conninfo::ConnInfo;
use crate::error::{Error, Result};
use crate::sqlgen::pg_dump;

/// Where pg_dump writes until it is complete.
fn partial(path: &Path) -> PathBuf {
    path.with_extension("dump.tmp")
}

/// Removes what an interrupted dump into `path` left behind (nothing when there is nothing).
pub fn remove_partial(path: &Path) -> Result<()> {
    let tmp = partial(path);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("cannot remove {}", tmp.display()), e))
        }
        _ => Ok(()),
    }
}

/// Runs `pg_dump -Fc` of the whole source database into `path` (written to `path.tmp` first, renamed
/// when complete). Returns the size of the dump.
pub async fn dump(source: &ConnInfo, path: &Path) -> Result<u64> {
    let program = pg_dump::program(None);
    if let Some(dir) = path.parent() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("cannot restrict {} to its owner", dir.display()), e))?;
    }
    // A partial file of an older run would keep its mode: pg_dump must create the file itself.
    remove_partial(path)?;
    let tmp = partial(path);
    let mut cmd = tokio::process::Command::new(&program);
    for (k, _) in
        std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("PG")))
    {
        cmd.env_remove(k);
    }
    cmd.envs(pg_dump::environment(source));
    cmd.args(["--format=custom", "--no-password", "--file"])
        .arg(&tmp);
    // SAFETY: umask is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let out = crate::child::output(cmd).await.map_err(|e| Error::Tool {
        program: "pg_dump".into(),
        message: format!(
            "cannot run {}: {e} (install the PostgreSQL client programs)",
            program.display()
        ),
    })?;
    if !out.status.success() {
        let _ = remove_partial(path);
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
