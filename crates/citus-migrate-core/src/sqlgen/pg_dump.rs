//! Running the real `pg_dump` for the pre-data and post-data sections of the selected tables. The
//! connection goes through the environment (`PGHOST`, `PGPASSWORD`, …), never the command line, where
//! `ps` would show it.

use std::path::PathBuf;

use tokio::process::Command;

use crate::conninfo::ConnInfo;
use crate::error::{Error, Remedy, Result};
use crate::filter::Selection;
use crate::ident::QualifiedName;

/// The `pg_dump` to run: the given one, else the one next to the installed server, else from `PATH`.
pub fn program(given: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = given {
        return p.clone();
    }
    if let Ok(dir) = crate::child::pg_bindir() {
        let p = dir.join("pg_dump");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("pg_dump")
}

/// `pg_dump --version` as (major, full version text).
pub async fn version(program: &PathBuf) -> Result<(u32, String)> {
    let mut cmd = Command::new(program);
    cmd.arg("--version");
    let out = crate::child::output(cmd)
        .await
        .map_err(|e| Error::ToolUnusable {
            program: "pg_dump".into(),
            message: format!("cannot run {}: {e}", program.display()),
            remedy: Remedy::InstallPgDump,
        })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    parse_version(&text).ok_or_else(|| Error::Tool {
        program: "pg_dump".into(),
        message: format!(
            "cannot read the version of {} from {text:?}",
            program.display()
        ),
    })
}

/// Reads `pg_dump (PostgreSQL) 15.20 (Debian …)`.
pub fn parse_version(text: &str) -> Option<(u32, String)> {
    let v = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let major: u32 = v
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, v.to_string()))
}

/// Fails unless pg_dump's major version is at least the source server's.
pub fn check_version(
    pg_dump_major: u32,
    pg_dump_version: &str,
    server_version_num: i32,
    server_version: &str,
) -> Result<()> {
    let source_major = (server_version_num / 10000) as u32;
    if pg_dump_major < source_major {
        return Err(Error::ToolUnusable {
            program: "pg_dump".into(),
            message: format!(
                "pg_dump {pg_dump_version} is older than the source server (PostgreSQL {server_version}): pg_dump must be at least the source's major version ({source_major})"
            ),
            remedy: Remedy::NewerPgDump,
        });
    }
    Ok(())
}

/// The libpq environment for `info`: set on the child only, never on a command line.
pub fn environment(info: &ConnInfo) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGHOST", info.hosts.join(",")),
        (
            "PGPORT",
            info.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("PGDATABASE", info.dbname.clone()),
        ("PGUSER", info.user.clone()),
        ("PGSSLMODE", info.sslmode.as_str().to_string()),
        ("PGAPPNAME", format!("{} pg_dump", info.application_name)),
    ];
    if !info.hostaddrs.is_empty() {
        env.push(("PGHOSTADDR", info.hostaddrs.join(",")));
    }
    if let Some(p) = &info.password {
        env.push(("PGPASSWORD", p.clone()));
    } else if let Some(f) = &info.passfile {
        env.push(("PGPASSFILE", f.display().to_string()));
    }
    if let Some(v) = &info.sslrootcert {
        env.push(("PGSSLROOTCERT", v.clone()));
    }
    if let Some(v) = &info.sslcert {
        env.push(("PGSSLCERT", v.display().to_string()));
    }
    if let Some(v) = &info.sslkey {
        env.push(("PGSSLKEY", v.display().to_string()));
    }
    if let Some(t) = info.connect_timeout {
        env.push(("PGCONNECT_TIMEOUT", t.as_secs().max(1).to_string()));
    }
    if let Some(o) = &info.options {
        env.push(("PGOPTIONS", o.clone()));
    }
    env
}

/// A pg_dump pattern that matches exactly this table.
fn exact(t: &QualifiedName) -> String {
    format!(
        "\"{}\".\"{}\"",
        t.schema.replace('"', "\"\""),
        t.name.replace('"', "\"\"")
    )
}

/// The selection arguments: with `--table` patterns, every selected table by its exact name (pg_dump
/// would ignore `--schema` next to `--table`); otherwise the schema and exclude patterns as given.
pub fn selection_args(filters: &Selection, selected: &[QualifiedName]) -> Vec<String> {
    let mut args = Vec::new();
    if !filters.tables.is_empty() {
        for t in selected {
            args.push("--table".to_string());
            args.push(exact(t));
        }
        return args;
    }
    for p in &filters.schemas {
        args.extend(["--schema".to_string(), p.as_str().to_string()]);
    }
    for p in &filters.exclude_schemas {
        args.extend(["--exclude-schema".to_string(), p.as_str().to_string()]);
    }
    for p in &filters.exclude_tables {
        args.extend(["--exclude-table".to_string(), p.as_str().to_string()]);
    }
    args
}

/// Runs `pg_dump --schema-only --section=SECTION` and returns its SQL.
pub async fn dump(
    program: &PathBuf,
    info: &ConnInfo,
    section: &str,
    selection: &[String],
) -> Result<String> {
    let mut cmd = Command::new(program);
    for (k, _) in
        std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("PG")))
    {
        cmd.env_remove(k);
    }
    cmd.envs(environment(info));
    cmd.args([
        &format!("--section={section}"),
        "--no-owner",
        "--no-privileges",
        "--no-tablespaces",
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--quote-all-identifiers",
    ]);
    cmd.args(selection);
    let out = crate::child::output(cmd).await.map_err(|e| Error::Tool {
        program: "pg_dump".into(),
        message: format!("cannot run {}: {e}", program.display()),
    })?;
    if !out.status.success() {
        return Err(Error::Tool {
            program: "pg_dump".into(),
            message: format!(
                "--section={section} of the source ({info}) failed: {}",
                // pg_dump prefixes its own lines with "pg_dump: "; keep one paragraph.
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .map(|l| l
                        .trim()
                        .trim_start_matches("pg_dump: ")
                        .trim_start_matches("error: "))
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| Error::Tool {
        program: "pg_dump".into(),
        message: format!("output is not UTF-8: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_and_refuses_older_pg_dump() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some((15, "15.20".into()))
        );
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 17devel"),
            Some((17, "17devel".into()))
        );
        assert!(check_version(15, "15.20", 150004, "15.4").is_ok());
        assert!(check_version(16, "16.1", 150004, "15.4").is_ok());
        let e = check_version(15, "15.20", 160001, "16.1").unwrap_err();
        assert!(
            matches!(
                e,
                Error::ToolUnusable {
                    remedy: Remedy::NewerPgDump,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.contains("pg_dump 15.20 is older than the source server (PostgreSQL 16.1)"),
            "{e}"
        );
        assert!(!e.contains("--"), "{e}");
    }

    #[test]
    fn exact_patterns_quote_everything() {
        let f = Selection::new(&[], &["x*".into()], &[], &[]).unwrap();
        let args = selection_args(&f, &[QualifiedName::new("my schema", "we\"ird*")]);
        assert_eq!(
            args,
            vec![
                "--table".to_string(),
                "\"my schema\".\"we\"\"ird*\"".to_string()
            ]
        );
        let f = Selection::new(&["shop".into()], &[], &[], &["shop.tmp*".into()]).unwrap();
        assert_eq!(
            selection_args(&f, &[]),
            vec!["--schema", "shop", "--exclude-table", "shop.tmp*"]
        );
    }
}
