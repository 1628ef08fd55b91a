//! The online migration's words: the live catch-up line, `status`, and the cutover's and abort's
//! summaries.

use std::fmt::Write as _;

use citus_migrate_core::online::{AbortSummary, CutoverSummary, OnlineStatus, Stage, StatusReport};
use citus_migrate_core::util::{human_bytes, thousands};

fn stage(s: Stage) -> &'static str {
    match s {
        Stage::Following => "following the source",
        Stage::CutOver => "cut over",
        Stage::Aborted => "aborted",
        _ => "unknown",
    }
}

/// `online: lag 1.2 MB / 0.4 s, 850 changes/s, 1,234 transactions applied, slot retains 3 MB`.
pub fn online_line(s: &OnlineStatus) -> String {
    format!(
        "online: lag {} / {:.1} s, {:.0} changes/s, {} transactions ({} changes) applied, slot retains {}",
        human_bytes(s.lag_bytes as i64),
        s.lag_seconds,
        s.changes_per_second,
        thousands(s.transactions as i64),
        thousands(s.changes as i64),
        human_bytes(s.retained_wal_bytes as i64),
    )
}

pub fn status_text(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stage:        {}", stage(r.stage));
    let _ = writeln!(
        out,
        "slot:         {} (publication {})",
        r.slot, r.publication
    );
    match &r.catch_up {
        Some(s) => {
            let _ = writeln!(
                out,
                "applied up to {} (as of {})",
                s.applied_lsn, s.updated_at
            );
            let _ = writeln!(
                out,
                "lag:          {} of WAL, {:.1} s",
                human_bytes(s.lag_bytes as i64),
                s.lag_seconds
            );
            let _ = writeln!(out, "rate:         {:.0} changes/s", s.changes_per_second);
            let _ = writeln!(
                out,
                "applied:      {} transactions, {} changes (by the running catch-up)",
                thousands(s.transactions as i64),
                thousands(s.changes as i64)
            );
            let _ = writeln!(
                out,
                "retained WAL: {} on the source{}",
                human_bytes(s.retained_wal_bytes as i64),
                match s.safe_wal_bytes {
                    Some(safe) => format!(
                        " ({}; {} more before the source invalidates the slot)",
                        s.wal_status,
                        human_bytes(safe as i64)
                    ),
                    None if s.wal_status.is_empty() => String::new(),
                    None => format!(" ({}; max_slot_wal_keep_size unlimited)", s.wal_status),
                }
            );
        }
        None => {
            let _ = writeln!(out, "catch-up:     not started yet");
        }
    }
    out
}

pub fn cutover_text(s: &CutoverSummary) -> String {
    let mut out = super::verify_text(&s.verify);
    let _ = writeln!(
        out,
        "cutover: drained to {} ({} transactions, {} changes), {} sequences set, {:.1} s{}",
        s.drained_to,
        thousands(s.transactions as i64),
        thousands(s.changes as i64),
        s.sequences,
        s.seconds,
        match s.write_blocked_seconds {
            Some(b) => format!(", writes blocked on the source for {b:.2} s"),
            None => String::new(),
        }
    );
    let _ = writeln!(
        out,
        "{}",
        if s.dropped {
            "replication slot and publication dropped: the source retains no WAL for this migration"
        } else {
            "the target differs: replication slot and publication kept (fix the differences and run \
             cutover again, or abort)"
        }
    );
    out
}

pub fn abort_text(s: &AbortSummary) -> String {
    format!(
        "online migration aborted: replication slot {} {}, publication {}\n",
        s.slot,
        if s.slot_dropped {
            "dropped"
        } else {
            "was already gone"
        },
        if s.publication_dropped {
            "dropped"
        } else {
            "was already gone"
        }
    )
}
