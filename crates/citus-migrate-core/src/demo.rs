//! The parts of `citus-migrate demo` that are not printing: throwaway servers (a source, and a Citus
//! coordinator with two workers where Citus is installed, else a plain PostgreSQL target) and the
//! sample database of `fixtures/demo/`, embedded so an installed binary needs no checkout.
//!
//! Only with the cargo feature `local-servers`, like [`crate::local`], whose servers it starts.

use crate::connect::{connect, execute};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::local::{citus_available, LocalCitus, LocalServer, ServerOptions};

/// `fixtures/demo/schema.sql`.
pub const DEMO_SCHEMA: &str = include_str!("../../../fixtures/demo/schema.sql");
/// `fixtures/demo/data.sql`: sizes scale with the `demo.scale` setting.
pub const DEMO_DATA: &str = include_str!("../../../fixtures/demo/data.sql");
/// `fixtures/demo/plan.json`: the plan a person who knows the application would write (companies are
/// the tenants). The demo uses it when the advisor's own plan has blockers.
pub const DEMO_PLAN: &str = include_str!("../../../fixtures/demo/plan.json");
/// The database the demo creates on both sides.
pub const DEMO_DB: &str = "demo";

/// The target of the demo.
pub enum DemoTarget {
    Citus(LocalCitus),
    /// Citus is not installed here; the reason is kept to tell the user.
    Plain {
        server: LocalServer,
        why: String,
    },
}

/// Every server the demo started. Dropping it stops them all and removes their directories.
pub struct DemoServers {
    pub source: LocalServer,
    pub target: DemoTarget,
    /// A temporary directory for the plan, the generated SQL and the migration's work directory.
    pub scratch: tempfile::TempDir,
}

impl DemoServers {
    /// Starts the servers (this blocks for a few seconds: initdb and pg_ctl) and creates the demo
    /// database on each. `note` is told what is being started.
    pub fn start(note: &dyn Fn(&str)) -> Result<Self> {
        note("starting a source PostgreSQL server");
        let source = LocalServer::start(&ServerOptions::default())?;
        source.create_database(DEMO_DB)?;
        let target = match citus_available() {
            Ok(()) => {
                note("starting a Citus cluster: a coordinator and 2 workers");
                let cluster = LocalCitus::start(2)?;
                cluster.create_database(DEMO_DB)?;
                DemoTarget::Citus(cluster)
            }
            Err(why) => {
                note("starting a plain PostgreSQL target (Citus is not installed here)");
                let server = LocalServer::start(&ServerOptions::default())?;
                server.create_database(DEMO_DB)?;
                DemoTarget::Plain { server, why }
            }
        };
        let scratch = tempfile::Builder::new()
            .prefix("citus-migrate-demo-")
            .tempdir()
            .map_err(|e| Error::io("creating the demo's temporary directory", e))?;
        Ok(DemoServers {
            source,
            target,
            scratch,
        })
    }

    pub fn is_citus(&self) -> bool {
        matches!(self.target, DemoTarget::Citus(_))
    }

    pub fn source_info(&self) -> Result<ConnInfo> {
        ConnInfo::parse(Side::Source, &self.source.url(DEMO_DB))
    }

    pub fn target_server(&self) -> &LocalServer {
        match &self.target {
            DemoTarget::Citus(c) => &c.coordinator,
            DemoTarget::Plain { server, .. } => server,
        }
    }

    pub fn target_info(&self) -> Result<ConnInfo> {
        ConnInfo::parse(Side::Target, &self.target_server().url(DEMO_DB))
    }

    /// Every server, for listing what runs where.
    pub fn servers(&self) -> Vec<(&'static str, &LocalServer)> {
        let mut v = vec![("source", &self.source)];
        match &self.target {
            DemoTarget::Citus(c) => {
                v.push(("coordinator", &c.coordinator));
                for w in &c.workers {
                    v.push(("worker", w));
                }
            }
            DemoTarget::Plain { server, .. } => v.push(("target", server)),
        }
        v
    }
}

/// Loads the sample database into the source at `scale` (1.0: about 1.5 million rows).
pub async fn load(source: &ConnInfo, scale: f64) -> Result<()> {
    if !(scale > 0.0 && scale <= 100.0) {
        return Err(Error::Usage(crate::error::UsageProblem::ScaleOutOfRange {
            scale,
        }));
    }
    let client = connect(source).await?;
    execute(
        &client,
        Side::Source,
        "creating the demo schema",
        DEMO_SCHEMA,
    )
    .await?;
    execute(
        &client,
        Side::Source,
        "setting the demo scale",
        &format!("SET demo.scale = '{scale}'"),
    )
    .await?;
    execute(&client, Side::Source, "generating the demo data", DEMO_DATA).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fixture_is_the_repository_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo");
        assert_eq!(
            std::fs::read_to_string(dir.join("schema.sql")).unwrap(),
            DEMO_SCHEMA
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("data.sql")).unwrap(),
            DEMO_DATA
        );
        assert!(DEMO_SCHEMA.contains("CREATE TABLE companies"));
        assert_eq!(
            std::fs::read_to_string(dir.join("plan.json")).unwrap(),
            DEMO_PLAN
        );
    }
}
