//! README's main command, `scripts/quickstart`, run as a user runs it (with this test's
//! target directory, so its cargo build is the one `cargo test` just made): it must
//! print the five sample records as each example handler received them, and stop
//! everything with status 0.

use std::path::Path;
use std::process::Command;

fn quickstart(args: &[&str]) -> String {
    // This test runs as TARGET/debug/deps/quickstart-HASH.
    let exe = std::env::current_exe().unwrap();
    let target_dir = exe.ancestors().nth(3).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/quickstart"))
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO", env!("CARGO"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scripts/quickstart {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_received_all(stdout: &str) {
    let mut received: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("kafka_handler: received "))
        .collect();
    received.sort_unstable_by_key(|l| l.split_once(" key=").map(|(_, rest)| rest.to_owned()));
    assert_eq!(received.len(), 5, "{stdout}");
    for (i, line) in received.iter().enumerate() {
        let n = i + 1;
        assert!(
            line.starts_with("quickstart-")
                && line.ends_with(&format!(
                    " key=order-{n} value={{\"order\": {n}, \"item\": \"widget\"}}"
                )),
            "{line}"
        );
    }
}

#[test]
fn the_quick_start_runs_the_rust_example() {
    assert_received_all(&quickstart(&[]));
}

#[test]
fn the_quick_start_runs_the_python_example() {
    assert_received_all(&quickstart(&["--python"]));
}
