//! `citus-migrate demo` runs to the end and leaves nothing running, also when interrupted.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::*;

/// The data directories the demo printed (`data in /tmp/citus-migrate-pg-…`).
fn data_dirs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split("(data in ").nth(1))
        .map(|rest| rest.trim_end_matches(')').to_string())
        .collect()
}

/// Fails when a process still runs from one of `dirs` or a directory is left behind.
fn assert_nothing_left(dirs: &[String]) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for d in dirs {
            assert!(
                !cmdline.contains(d.as_str()),
                "still running from {d}: {cmdline}"
            );
        }
    }
    for d in dirs {
        assert!(!std::path::Path::new(d).exists(), "{d} left behind");
    }
}

#[test]
fn demo_runs_to_the_end_and_stops_everything() {
    let out = bin().args(["demo", "--scale", "0.01"]).output().unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    for part in [
        "1. Servers",
        "3. analyze",
        "4. The distribution plan",
        "because",
        "5. generate",
        "6. migrate",
        "7. verify",
        "Demo finished",
    ] {
        assert!(text.contains(part), "missing {part:?}:\n{text}");
    }
    assert!(text.contains("exactly the source's data"), "{text}");
    if citus_migrate_core::local::citus_available().is_ok() {
        assert!(text.contains("create_distributed_table"), "{text}");
        assert!(text.contains("shards on 2 workers"), "{text}");
        assert_eq!(data_dirs(&text).len(), 4, "{text}");
    } else {
        assert!(text.contains("SHOWN, NOT RUN"), "{text}");
        assert_eq!(data_dirs(&text).len(), 2, "{text}");
    }
    assert!(
        text.contains("nothing the demo started is left running"),
        "{text}"
    );
    assert_nothing_left(&data_dirs(&text));
}

#[test]
fn demo_interrupted_by_ctrl_c_stops_everything() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args(["demo", "--scale", "0.2"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        text.push_str(&line);
        if line.contains("2. Loading") {
            break;
        }
    }
    assert!(text.contains("2. Loading"), "{text}");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    text.push_str(&rest);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{text}{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        text.contains("nothing the demo started is left running"),
        "{text}"
    );
    assert_nothing_left(&data_dirs(&text));
}
