//! Memory of a copy stream with one very large value: the value is held about once, not three times
//! (the bound is for the whole process, read from its peak resident set while it runs).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// The process's peak resident set so far (VmHWM), in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_50_mb_value_is_not_held_three_times() {
    let table = "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL);";
    let source = server_with(
        "src",
        &format!("{table} INSERT INTO big SELECT i, repeat(md5(i::text), 1600000) FROM generate_series(1, 1) i;"),
    );
    let target = server_with("dst", table);
    let child = Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args([
            "copy",
            "--source",
            &source.url("src"),
            "--target",
            &target.url("dst"),
        ])
        .args(["--table", "big", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = waiter.join().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let check = "SELECT count(*), sum(length(v)), md5(string_agg(v, '' ORDER BY id)) FROM big";
    assert_eq!(
        target.psql("dst", check).unwrap(),
        source.psql("src", check).unwrap()
    );
    // One row of 51.2 MB: the driver's read buffer holds it (up to 64 MiB), the rest is small. It
    // peaked at about 150 MiB when the value was copied into a batch and then whole into the
    // connection's write buffer.
    let mib = peak / 1024;
    citus_migrate_core::local::say_uncaptured(&format!(
        "a_50_mb_value_is_not_held_three_times: peak {mib} MiB"
    ));
    assert!(mib < 100, "peak resident set {mib} MiB");
}
