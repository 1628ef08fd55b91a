//! `sqlgen::prepare`, the one way from a plan choice to a checked plan and its SQL (generate, migrate
//! and demo all go through it): a plan with errors is the typed `Error::PlanBlocked`, holding the plan
//! and every blocker; a plan without is generated, with its warnings.

use std::path::PathBuf;

use citus_migrate_core::advice::{advise, AdviceOptions};
use citus_migrate_core::catalog::{self, Catalog, ReadOptions};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::filter::Selection;
use citus_migrate_core::local::{LocalServer, ServerOptions};
use citus_migrate_core::plan::checks::{Code, Severity};
use citus_migrate_core::plan::{Plan, PlanChoice};
use citus_migrate_core::sqlgen::prepare;
use citus_migrate_core::{Error, Side};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

async fn read(source: &ConnInfo) -> Catalog {
    catalog::analyze(source, &ReadOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_plan_is_a_typed_error_and_a_fixed_one_is_generated() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    server.create_database("legacy").unwrap();
    server.psql("legacy", &fixture("blockers.sql")).unwrap();
    let source = ConnInfo::parse(Side::Source, &server.url("legacy")).unwrap();
    let filters = Selection::default();

    let catalog = read(&source).await;
    let advised = PlanChoice::default();
    let err = prepare(&source, &catalog, &filters, &advised, None)
        .await
        .unwrap_err();
    assert_eq!(err.side(), Some(Side::Source));
    assert!(!err.is_usage());
    let text = err.to_string();
    assert!(
        text.starts_with("source: the plan cannot be applied on Citus: 4 blocker(s)\n  - "),
        "{text}"
    );
    let Error::PlanBlocked { plan, blockers } = err else {
        panic!("not PlanBlocked: {text}");
    };
    // The plan checked is the advisor's with the changes that need no decision, and the error keeps
    // it (generate saves it for editing); what is left needs a person.
    assert_eq!(
        *plan,
        Plan::from_advice(&advise(&catalog, &AdviceOptions::default()))
            .with_required_changes(&catalog)
    );
    let mut errors: Vec<&str> = blockers
        .iter()
        .filter(|b| b.severity == Severity::Error)
        .map(|b| b.code.as_str())
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            "exclusion_missing_distribution_column",
            "nulls_in_distribution_column",
            "rule_on_distributed_table",
            "trigger_on_distributed_table"
        ]
    );
    // The NULLs were counted in the data: an error with the count, in place of the estimate.
    let nulls: Vec<_> = blockers
        .iter()
        .filter(|b| b.code == Code::NullsInDistributionColumn)
        .collect();
    assert_eq!(nulls.len(), 1, "{nulls:?}");
    assert_eq!(nulls[0].severity, Severity::Error);
    assert!(nulls[0].message.contains("NULL in 60 row(s)"), "{nulls:?}");
    // Every error is in the message, each with its table and code; the warnings are kept too.
    for b in &blockers {
        let line = format!("  - {} [{}]: ", b.table, b.code);
        assert_eq!(
            text.contains(&line),
            b.severity == Severity::Error,
            "{line} in {text}"
        );
    }
    assert!(blockers.iter().any(|b| b.severity == Severity::Warning));

    // Fixed on the source, the same plan, now from a file and with another shard count, passes and
    // is generated.
    server
        .psql("legacy", &fixture("blockers-fixes.sql"))
        .unwrap();
    let catalog = read(&source).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    plan.save(&file).unwrap();
    let choice = PlanChoice {
        file: Some(file.clone()),
        shard_count: Some(8),
        ..Default::default()
    };
    let prepared = prepare(&source, &catalog, &filters, &choice, None)
        .await
        .unwrap();
    assert_eq!(prepared.plan.shard_count, 8);
    assert_eq!(prepared.plan.tables, plan.tables);
    assert!(prepared
        .warnings
        .iter()
        .all(|b| b.severity == Severity::Warning));
    assert_eq!(prepared.generated.plan_origin, file.display().to_string());
    assert!(prepared
        .generated
        .pre_data
        .contains("CREATE TABLE \"legacy\".\"orders\" ("));
}
