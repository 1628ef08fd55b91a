//! The copy's snapshot as `pg_current_snapshot()` showed it, and which decoded transactions it already
//! saw: those the copy holds, so catch-up skips them (no overlap); every other one is applied (no gap).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `xmin:xmax:xip,…` of the copy's snapshot, and the WAL insert position read right after it was
/// taken (in the same statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySnapshot {
    pub xmin: u64,
    pub xmax: u64,
    pub xip: Vec<u64>,
    /// A commit record at or past this position was written after the snapshot: not visible in it.
    pub wal_lsn: u64,
}

impl CopySnapshot {
    /// From `pg_current_snapshot()::text` and `pg_current_wal_insert_lsn()::text`.
    pub fn parse(snapshot: &str, wal_lsn: &str) -> Result<Self> {
        let bad = || Error::Other(format!("unexpected snapshot text {snapshot:?}"));
        let mut parts = snapshot.split(':');
        let xmin = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let xmax = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let xip = match parts.next() {
            Some("") | None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|x| x.parse().map_err(|_| bad()))
                .collect::<Result<_>>()?,
        };
        Ok(CopySnapshot {
            xmin,
            xmax,
            xip,
            wal_lsn: parse_lsn(wal_lsn)?,
        })
    }

    /// Whether the committed transaction `xid` (32 bits, as pgoutput sends it), whose commit record is
    /// at `commit_lsn`, was visible in the snapshot. The 32-bit xid is placed next to `xmax` in modular
    /// arithmetic, which is exact for every transaction PostgreSQL's wraparound protection lets live;
    /// commits written after the snapshot are decided by their position alone.
    pub fn saw(&self, xid: u32, commit_lsn: u64) -> bool {
        if commit_lsn >= self.wal_lsn {
            return false;
        }
        let before_xmax = (self.xmax as u32).wrapping_sub(xid) as i32;
        if before_xmax <= 0 {
            return false; // xid >= xmax: started after the snapshot
        }
        let full = self.xmax - before_xmax as u64;
        full < self.xmin || !self.xip.contains(&full)
    }
}

/// `X/Y` → a 64-bit position.
pub fn parse_lsn(text: &str) -> Result<u64> {
    let (hi, lo) = text
        .split_once('/')
        .ok_or_else(|| Error::Other(format!("unexpected LSN {text:?}")))?;
    let hi = u64::from_str_radix(hi, 16)
        .map_err(|_| Error::Other(format!("unexpected LSN {text:?}")))?;
    let lo = u64::from_str_radix(lo, 16)
        .map_err(|_| Error::Other(format!("unexpected LSN {text:?}")))?;
    Ok(hi << 32 | lo)
}

/// A 64-bit position → `X/Y`.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decides_visibility() {
        let s = CopySnapshot::parse("100:105:100,103", "0/5000").unwrap();
        assert_eq!(s.xip, vec![100, 103]);
        assert_eq!(s.wal_lsn, 0x5000);
        assert!(s.saw(99, 0x10)); // committed before xmin
        assert!(!s.saw(100, 0x10)); // in progress at the snapshot
        assert!(s.saw(101, 0x10));
        assert!(!s.saw(103, 0x10));
        assert!(s.saw(104, 0x10));
        assert!(!s.saw(105, 0x10)); // xmax: not yet started
        assert!(!s.saw(2000, 0x10));
        assert!(!s.saw(99, 0x5000)); // committed after the snapshot, whatever its xid says
        assert!(CopySnapshot::parse("7:7:", "0/1").unwrap().xip.is_empty());
        assert!(CopySnapshot::parse("x", "0/1").is_err());
    }

    #[test]
    fn xids_across_an_epoch_boundary() {
        // xmax just past 2^32 (epoch 1): a 32-bit xid near u32::MAX is from epoch 0, before xmax.
        let xmax = (1u64 << 32) + 5;
        let s = CopySnapshot {
            xmin: (1u64 << 32) - 10,
            xmax,
            xip: vec![(1u64 << 32) - 2],
            wal_lsn: u64::MAX,
        };
        assert!(s.saw(u32::MAX - 20, 1)); // below xmin
        assert!(!s.saw(u32::MAX - 1, 1)); // in xip
        assert!(s.saw(u32::MAX, 1));
        assert!(s.saw(3, 1)); // epoch 1, below xmax, not in xip
        assert!(!s.saw(5, 1));
    }

    #[test]
    fn lsn_round_trip() {
        assert_eq!(parse_lsn("16/B374D848").unwrap(), 0x16_B374_D848);
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert!(parse_lsn("nope").is_err());
    }
}
