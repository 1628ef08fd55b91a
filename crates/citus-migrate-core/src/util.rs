//! Numbers as the reports print them, for front ends that print next to them.
//!
//! ```
//! use citus_migrate_core::util::{human_bytes, thousands};
//!
//! assert_eq!(human_bytes(3 << 29), "1.5 GB");
//! assert_eq!(thousands(1234567), "1,234,567");
//! ```

/// Bytes as PostgreSQL's `pg_size_pretty` shows them (`8192 bytes`, `16 kB`, `1.5 GB`).
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if v.abs() < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_counts() {
        assert_eq!(human_bytes(8192), "8.0 kB");
        assert_eq!(human_bytes(100), "100 bytes");
        assert_eq!(human_bytes(160 * 1024), "160 kB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(12), "12");
    }
}
