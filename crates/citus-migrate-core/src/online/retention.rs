//! When the WAL the slot retains on the source becomes a threat: a warning before the source's disk
//! fills (`max_slot_wal_keep_size` unlimited) or before the source invalidates the slot (set), each
//! level once. The WAL grows when the catch-up falls behind or a long transaction on the source holds
//! the slot's restart point back.

use super::state::OnlineStatus;
use crate::util::human_bytes;

const GIB: u64 = 1 << 30;

/// The levels already warned about during this run.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// Percent of the allowed size (set), or GiB retained (unlimited), last warned at.
    warned: u64,
    unreserved: bool,
}

impl Watch {
    /// The warning the figures call for, once per level: at 50, 75 and 90 % of what
    /// `max_slot_wal_keep_size` allows, and when the slot's WAL is no longer reserved; with no limit,
    /// at 1 GiB retained and each doubling after it.
    pub fn check(&mut self, s: &OnlineStatus) -> Option<String> {
        let retained = s.retained_wal_bytes;
        let behind = format!(
            "A long transaction on the source holds it back, or the catch-up is behind (lag {}).",
            human_bytes(s.lag_bytes as i64)
        );
        if s.wal_status == "unreserved" && !self.unreserved {
            self.unreserved = true;
            return Some(format!(
                "warning: the replication slot retains {} of WAL on the source, more than \
                 max_slot_wal_keep_size allows (wal_status unreserved): the source's next checkpoint can \
                 invalidate the slot, and the migration must then start over. {behind}",
                human_bytes(retained as i64)
            ));
        }
        match s.safe_wal_bytes {
            Some(safe) => {
                let allowed = retained + safe;
                if allowed == 0 {
                    return None;
                }
                let percent = retained * 100 / allowed;
                let level = [90, 75, 50].into_iter().find(|l| percent >= *l)?;
                if level <= self.warned {
                    return None;
                }
                self.warned = level;
                Some(format!(
                    "warning: the replication slot retains {} of WAL on the source, {percent}% of what \
                     max_slot_wal_keep_size allows; {} more and the source invalidates the slot, and \
                     the migration must then start over. {behind}",
                    human_bytes(retained as i64),
                    human_bytes(safe as i64)
                ))
            }
            None => {
                if retained < GIB {
                    return None;
                }
                // 1, 2, 4, 8 … GiB.
                let level = 1u64 << (63 - (retained / GIB).leading_zeros());
                if level <= self.warned {
                    return None;
                }
                self.warned = level;
                Some(format!(
                    "warning: the replication slot retains {} of WAL on the source, and \
                     max_slot_wal_keep_size is unlimited: it keeps growing until the catch-up gets past \
                     it; watch the source's free disk, or abort the migration. {behind}",
                    human_bytes(retained as i64)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(retained: u64, safe: Option<u64>, wal_status: &str) -> OnlineStatus {
        OnlineStatus {
            retained_wal_bytes: retained,
            safe_wal_bytes: safe,
            wal_status: wal_status.into(),
            ..OnlineStatus::default()
        }
    }

    #[test]
    fn warns_once_per_level_of_the_allowed_size() {
        let mut w = Watch::default();
        let mb = 1 << 20;
        assert_eq!(w.check(&status(10 * mb, Some(90 * mb), "reserved")), None);
        let first = w
            .check(&status(55 * mb, Some(45 * mb), "reserved"))
            .unwrap();
        assert!(
            first.contains("55% of what max_slot_wal_keep_size allows"),
            "{first}"
        );
        assert_eq!(w.check(&status(60 * mb, Some(40 * mb), "reserved")), None);
        assert!(w
            .check(&status(80 * mb, Some(20 * mb), "extended"))
            .is_some());
        assert!(w
            .check(&status(95 * mb, Some(5 * mb), "extended"))
            .is_some());
        assert_eq!(w.check(&status(96 * mb, Some(4 * mb), "extended")), None);
        let gone = w.check(&status(120 * mb, Some(0), "unreserved")).unwrap();
        assert!(gone.contains("wal_status unreserved"), "{gone}");
        assert_eq!(w.check(&status(130 * mb, Some(0), "unreserved")), None);
    }

    #[test]
    fn warns_at_each_doubling_when_unlimited() {
        let mut w = Watch::default();
        assert_eq!(w.check(&status(GIB - 1, None, "reserved")), None);
        assert!(w
            .check(&status(GIB + 5, None, "extended"))
            .unwrap()
            .contains("unlimited"));
        assert_eq!(w.check(&status(GIB + GIB / 2, None, "extended")), None);
        assert!(w.check(&status(2 * GIB, None, "extended")).is_some());
        assert_eq!(w.check(&status(3 * GIB, None, "extended")), None);
        assert!(w.check(&status(5 * GIB, None, "extended")).is_some());
    }
}
