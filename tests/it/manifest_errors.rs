//! Manifest diagnostics: every error at once, with file:line:column, caret and alternatives.

use crate::util::recdata;

fn render(files: &[(&str, &str)], main: &str) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let out = recdata(&["validate", main], tmp.path());
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn many_errors_reported_at_once() {
    let (code, err) = render(
        &[(
            "m.toml",
            r#"[dataset]
name = "demo"
version = 3

[source]
corpus = "lastfm1k"
path = "raw"

[stages.filter]
dedupe = "exact"
min_user_interactions = "five"

[stages.split]
method = "leave_one_ot"
"#,
        )],
        "m.toml",
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn errors_point_into_included_presets() {
    let (code, err) = render(
        &[
            (
                "pipelines/p.toml",
                "[stages.split]\nmethod = \"temporal\"\ntest_quantile = 1.5\n",
            ),
            (
                "manifests/m.toml",
                "include = [\"../pipelines/p.toml\"]\n[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"lastfm-1k\"\npath = \"x\"\n",
            ),
        ],
        "manifests/m.toml",
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn syntax_error_has_location() {
    let (code, err) = render(&[("m.toml", "[dataset\nname = 1\n")], "m.toml");
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn missing_sections() {
    let (code, err) = render(&[("m.toml", "[stages]\n")], "m.toml");
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn shipped_manifests_are_valid_toml_and_schema() {
    // The shipped manifests must parse; their data may be absent here, so use the library.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("manifests")).unwrap() {
        let p = entry.unwrap().path();
        if let Err(e) = recdata::stages::manifest::load(&p) {
            panic!("{}: {}", p.display(), e.render(false));
        }
    }
}
