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

/// Regression (adversary, 2026-12-05): cross-section errors (a caption's missing media, a
/// repeated caption name) pointed at the first `stages` key, which can be in an included
/// preset the user did not write, instead of the entry at fault.
#[test]
fn cross_section_errors_point_at_the_entry_at_fault() {
    let (code, err) = render(
        &[
            ("p.toml", "[stages.filter]\nmin_user_interactions = 1\n"),
            (
                "m.toml",
                "include = [\"p.toml\"]\n[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n\n[[stages.media]]\nmodality = \"image\"\nurl = \"https://example.org/{item_id}.jpg\"\n\n[[stages.caption]]\nname = \"c\"\nmedia = \"image\"\nendpoint = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nprompt = \"p\"\n\n[[stages.caption]]\nname = \"c\"\nmedia = \"video\"\nendpoint = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nprompt = \"p\"\n",
            ),
        ],
        "m.toml",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("two [[stages.caption]] entries are named `c`"),
        "{err}"
    );
    assert!(
        err.contains("no [[stages.media]] entry has modality = \"video\""),
        "{err}"
    );
    assert!(
        !err.contains("p.toml"),
        "an error points into the preset:\n{err}"
    );
    // Both point at the second caption entry (line 20 of m.toml).
    assert_eq!(err.matches("m.toml:20:").count(), 2, "{err}");
}

/// Regression (adversary, 2026-12-05): `[stages.diagnostics] embedding` naming no encoder
/// passed `validate` and failed after normalize, filter and split had run, naming an internal
/// staging path.
#[test]
fn diagnostics_embedding_must_name_an_encoder() {
    let (code, err) = render(
        &[(
            "m.toml",
            "[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"lastfm-1k\"\npath = \"raw\"\n[stages.split]\nmethod = \"leave_one_out\"\n[stages.diagnostics]\nembedding = \"nosuch\"\n",
        )],
        "m.toml",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("[stages.diagnostics] uses embedding `nosuch`, but no [[stages.encode]] entry has that name"),
        "{err}"
    );
    assert!(err.contains("m.toml:9:"), "{err}");
}

/// Regression (adversary, 2026-12-05): two `[[stages.media]]` entries of one modality gave two
/// rows per item in media.parquet (one of them failed) and two coverage entries; the same
/// embeddings listed twice in `[stages.semantic_ids]` concatenated the vectors with themselves.
#[test]
fn duplicate_media_modalities_and_semantic_id_embeddings_are_errors() {
    let (code, err) = render(
        &[(
            "m.toml",
            "[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n\n[[stages.media]]\nmodality = \"image\"\nurl = \"https://example.org/{item_id}.jpg\"\n\n[[stages.media]]\nmodality = \"image\"\nurl = \"https://example.org/{item_id}.png\"\n\n[[stages.encode]]\nname = \"t\"\nmodel = \"all-minilm-l6-v2\"\nfields = [\"title\"]\n\n[stages.semantic_ids]\nembeddings = [\"t\", \"t\"]\n",
        )],
        "m.toml",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("two [[stages.media]] entries have modality = \"image\""),
        "{err}"
    );
    assert!(err.contains("m.toml:12:"), "the second media entry:\n{err}");
    assert!(
        err.contains("[stages.semantic_ids] lists embeddings `t` twice"),
        "{err}"
    );
}

/// Regression (adversary, 2026-12-05): a temporal split or a time window on a corpus without
/// event times (FINN.no, MicroLens' TSV sequences) passed `validate` and was refused only after
/// the build had parsed the corpus, without a location.
#[test]
fn timeless_corpus_time_options_are_manifest_errors() {
    let (code, err) = render(
        &[(
            "m.toml",
            "[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\ninteractions = \"tsv\"\n[stages.filter]\nstart = \"2020-01-01\"\n[stages.split]\nmethod = \"temporal\"\nvalid_quantile = 0.8\ntest_quantile = 0.9\n",
        )],
        "m.toml",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("so it has no time window"), "{err}");
    assert!(err.contains("m.toml:8:"), "at [stages.filter]:\n{err}");
    assert!(err.contains("so it cannot be split by time"), "{err}");
    assert!(err.contains("m.toml:10:"), "at [stages.split]:\n{err}");
    // The same options on the CSV pairs (with times) are fine.
    let (code, err) = render(
        &[(
            "m.toml",
            "[dataset]\nname = \"d\"\nversion = \"1\"\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n[stages.filter]\nstart = \"2020-01-01\"\n[stages.split]\nmethod = \"temporal\"\nvalid_quantile = 0.8\ntest_quantile = 0.9\n",
        )],
        "m.toml",
    );
    assert!(!err.contains("no event times"), "{err}");
    assert_ne!(code, 1, "{err}");
}
