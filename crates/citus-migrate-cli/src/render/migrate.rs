//! The summary of a `migrate` run ([`MigrateSummary`]) as readable text.

use std::fmt::Write as _;

use citus_migrate_core::migrate::MigrateSummary;
use citus_migrate_core::migrate::StepStatus;
use citus_migrate_core::util::{human_bytes, thousands};

/// What a run did, step by step, and whether the target was verified equal.
pub fn migrate_text(summary: &MigrateSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12}  {:>9}  {:>14}  {:>10}  RESULT",
        "STEP", "TIME", "ROWS", "BYTES"
    );
    for r in &summary.steps {
        let status = match r.status {
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Running => "not finished",
        };
        let detail = r
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12}  {:>8.1}s  {:>14}  {:>10}  {status}{detail}",
            r.step.name(),
            r.seconds,
            r.rows.map(|n| thousands(n as i64)).unwrap_or_default(),
            r.bytes.map(|n| human_bytes(n as i64)).unwrap_or_default(),
        );
    }
    let earlier_rows = summary.rows.saturating_sub(summary.copied_rows);
    let earlier = if earlier_rows > 0 {
        format!(
            "; {} rows ({}) had been copied by earlier runs",
            thousands(earlier_rows as i64),
            human_bytes(summary.bytes.saturating_sub(summary.copied_bytes) as i64)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{} rows ({}) copied by this run, which took {:.1}s{earlier}; work directory {}",
        thousands(summary.copied_rows as i64),
        human_bytes(summary.copied_bytes as i64),
        summary.seconds,
        summary.work_dir
    );
    match &summary.verify {
        Some(v) if v.equal => {
            let _ = writeln!(
                out,
                "Verification: the target holds exactly the source's data."
            );
        }
        Some(v) => {
            let _ = writeln!(
                out,
                "Verification FAILED: {} difference(s):",
                v.differences.len()
            );
            for d in &v.differences {
                let range = d
                    .range
                    .as_deref()
                    .map(|r| format!(" [range {r}]"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {}: {}{range}", d.object, d.message);
            }
        }
        None if summary.equal => {
            let _ = writeln!(
                out,
                "Verification: the target was verified equal to the source by an earlier run."
            );
        }
        None => {}
    }
    out
}
