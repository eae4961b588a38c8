//! `recdata plan` / `build --dry-run`: what a build would do and why, without running anything.

use std::path::Path;
use std::process::Output;

use crate::util::recdata_with_models as rd;

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}):\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const MANIFEST: &str = r#"[dataset]
name = "p"
version = "1"

[source]
corpus = "microlens"
path = "raw"

[stages.filter]
min_user_interactions = 2

[stages.split]
method = "leave_one_out"

[[stages.encode]]
name = "title"
model = "all-minilm-l6-v2"
text = "{title}"

[stages.semantic_ids]
embeddings = ["title"]
codebooks = [4, 4]

[stages.diagnostics]
"#;

/// The plan's stages as (stage, state, why) from its JSON.
fn plan(dir: &Path) -> Vec<(String, String, Vec<String>)> {
    let out = ok(&rd(&["plan", "p.toml", "--json"], dir));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
                s["why"]
                    .as_array()
                    .map(|w| w.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn editing_one_encoder_key_invalidates_that_stage_and_its_dependents_only() {
    let t = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &t.path().join("raw"),
        "microlens",
        &["--users", "30", "--seed", "5"],
    );
    std::fs::write(t.path().join("p.toml"), MANIFEST).unwrap();
    // Before any build: everything runs, nothing was built before.
    let p0 = plan(t.path());
    assert!(p0.iter().all(|(_, state, _)| state == "run"), "{p0:?}");
    assert_eq!(p0[0].2, vec!["not built before".to_owned()]);
    let stages: Vec<&str> = p0.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        stages,
        [
            "normalize",
            "filter",
            "split",
            "encode",
            "semantic_ids",
            "diagnostics",
            "publish"
        ]
    );
    // The plan ran nothing.
    assert!(!t.path().join("data/p/1").exists());
    ok(&rd(&["build", "p.toml", "--data-dir", "data"], t.path()));
    // Right after the build: everything cached.
    let p1 = plan(t.path());
    assert!(p1.iter().all(|(_, state, _)| state == "cached"), "{p1:?}");
    // One encoder key edited.
    std::fs::write(
        t.path().join("p.toml"),
        MANIFEST.replace("text = \"{title}\"", "text = \"{title} ({category})\""),
    )
    .unwrap();
    let p2 = plan(t.path());
    let runs: Vec<&str> = p2
        .iter()
        .filter(|s| s.1 == "run")
        .map(|s| s.0.as_str())
        .collect();
    assert_eq!(
        runs,
        ["encode", "semantic_ids", "diagnostics", "publish"],
        "{p2:?}"
    );
    let encode = p2.iter().find(|s| s.0 == "encode").unwrap();
    assert!(
        encode
            .2
            .iter()
            .any(|w| w.contains("config: [0].source.template")),
        "{encode:?}"
    );
    let sid = p2.iter().find(|s| s.0 == "semantic_ids").unwrap();
    assert!(
        sid.2.iter().any(|w| w == "upstream encode changed"),
        "{sid:?}"
    );
    // `build --dry-run` is the same plan, and the table names the changed key.
    let table = ok(&rd(
        &["build", "p.toml", "--dry-run", "--data-dir", "data"],
        t.path(),
    ));
    assert!(table.contains("config: [0].source.template"), "{table}");
    assert!(table.contains("4 of 7 stage(s) will run"), "{table}");
    // Making a plan changed nothing: the same plan again.
    assert_eq!(plan(t.path()), p2);
}
