//! A build killed with SIGKILL at any moment re-runs to the same bytes as a clean build.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{bin, manifest, recdata, synth, tree};

#[test]
fn killed_builds_resume_to_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 30, 4000, 5);
    let stages = "[stages.filter]\ndedup = \"keep_last\"\nmin_user_interactions = 5\nmin_item_interactions = 3\n[stages.split]\nmethod = \"temporal\"\ntest_quantile = 0.9\n";
    let m = manifest(tmp.path(), "k", "1", "raw", stages);
    let clean = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "clean", "-q"],
        tmp.path(),
    );
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );

    for delay_ms in [30u64, 120, 250, 400, 700] {
        let mut child = Command::new(bin())
            .args(["build", m.to_str().unwrap(), "--data-dir", "killed", "-q"])
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "killed", "-q"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tree(&tmp.path().join("clean/k/1")),
        tree(&tmp.path().join("killed/k/1"))
    );
    // No partial directories survive a completed build.
    for e in std::fs::read_dir(tmp.path().join("killed/k")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".staging-") && !name.contains(".tmp-"),
            "{name}"
        );
    }
}
