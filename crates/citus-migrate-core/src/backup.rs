//! `pg_dump -Fc` of the source into the work directory (`migrate --backup`). The connection is handed to
//! pg_dump through libpq's environment variables, so the password never appears on a command line
//! (where `ps` would show it).

use std::path::Path;

use crate::conninfo::{ConnInfo, SslMode};
use crate::error::{Error, Result};

/// The libpq environment that makes a libpq program (pg_dump, psql) connect as `info` describes.
pub fn libpq_env(info: &ConnInfo) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGUSER", info.user.clone()),
        ("PGDATABASE", info.dbname.clone()),
        ("PGAPPNAME", info.application_name.clone()),
        (
            "PGSSLMODE",
            match info.sslmode {
                SslMode::Disable => "disable",
                SslMode::Allow => "allow",
                SslMode::Prefer => "prefer",
                SslMode::Require => "require",
                SslMode::VerifyCa => "verify-ca",
                SslMode::VerifyFull => "verify-full",
            }
            .to_string(),
        ),
    ];
    let join = |v: Vec<String>| v.join(",");
    if !info.hosts.is_empty() {
        env.push(("PGHOST", join(info.hosts.clone())));
    }
    if !info.hostaddrs.is_empty() {
        env.push(("PGHOSTADDR", join(info.hostaddrs.clone())));
    }
    if !info.ports.is_empty() {
        env.push((
            "PGPORT",
            join(info.ports.iter().map(|p| p.to_string()).collect()),
        ));
    }
    if let Some(p) = &info.password {
        env.push(("PGPASSWORD", p.clone()));
    }
    if let Some(c) = &info.sslrootcert {
        env.push(("PGSSLROOTCERT", c.clone()));
    }
    if let Some(c) = &info.sslcert {
        env.push(("PGSSLCERT", c.display().to_string()));
    }
    if let Some(k) = &info.sslkey {
        env.push(("PGSSLKEY", k.display().to_string()));
    }
    if let Some(t) = info.connect_timeout {
        env.push(("PGCONNECT_TIMEOUT", t.as_secs().max(1).to_string()));
    }
    if let Some(o) = &info.options {
        env.push(("PGOPTIONS", o.clone()));
    }
    env
}

/// The libpq variables cleared before setting ours, so nothing of the caller's environment mixes in.
const CLEARED: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
    "PGOPTIONS",
    "PGSERVICE",
];

/// Runs `pg_dump -Fc` of the source into `path` (written to `path.tmp` first, renamed when complete).
/// Returns the size of the dump.
pub async fn dump(source: &ConnInfo, path: &Path) -> Result<u64> {
    let pg_dump = crate::local::pg_bindir()
        .map(|d| d.join("pg_dump"))
        .ok()
        .filter(|p| p.exists());
    let program = pg_dump.unwrap_or_else(|| "pg_dump".into());
    let tmp = path.with_extension("dump.tmp");
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(["--format=custom", "--no-password", "--file"])
        .arg(&tmp);
    for v in CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in libpq_env(source) {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = cmd.output().await.map_err(|e| Error::Tool {
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
                "backup of the source failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot rename {}", tmp.display()), e))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}
