//! Bring-your-own encoders: `[models.<id>]` in a manifest and in a file it includes, one tiny
//! generated model per shape users export (decoder-style text with last-token pooling and a
//! prefix, int32 / token_type_ids / fp16 text, a CLIP-style image + text tower pair in one
//! space, an fp16 image model, wav2vec2-style and CLAP-style waveform audio), built outside
//! the repository with no registry at all, and checked against Python's onnxruntime, HF
//! tokenizers, PIL and numpy. Also `recdata models check|list` and the errors users meet.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::py;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny(f: &str) -> PathBuf {
    repo().join("models/tiny").join(f)
}

fn sha(p: &Path) -> String {
    recdata::util::hash::sha256_file(p).unwrap().0
}

/// recdata run from `cwd` (outside the checkout) with no registry: only the runtime library.
fn rd(args: &[&str], cwd: &Path) -> Output {
    Command::new(crate::util::bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RECDATA_MODELS")
        .env(
            "ORT_DYLIB_PATH",
            repo().join("models/runtime/cpu/libonnxruntime.so"),
        )
        .env("RECDATA_CACHE", cwd.join("cache"))
        .env("RECDATA_THREADS", "2")
        .output()
        .expect("run recdata")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

/// A MicroLens-format corpus with covers, plus a 16 kHz tone per item (a different pitch each).
fn corpus(dir: &Path) -> PathBuf {
    let raw = dir.join("raw");
    crate::util::synth_cli(&raw, "microlens", &["--users", "25", "--seed", "3"]);
    std::fs::create_dir_all(raw.join("audio")).unwrap();
    for e in std::fs::read_dir(raw.join("MicroLens-100k_covers")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let id: u32 = name.trim_end_matches(".jpg").parse().unwrap();
        let f = 200.0 + f64::from(id * 37 % 1300);
        let samples: Vec<i16> = (0..16_000)
            .map(|i| {
                let t = f64::from(i) / 16_000.0;
                (9000.0 * (std::f64::consts::TAU * f * t).sin()) as i16
            })
            .collect();
        std::fs::write(
            raw.join(format!("audio/{id}.wav")),
            crate::encode::wav_16k(&samples),
        )
        .unwrap();
    }
    raw
}

/// The user's project: text models defined in the manifest (files in `mine/`), image and audio
/// models in a lab-wide `lab/models.toml` the manifest includes (paths relative to it).
fn project(dir: &Path) -> PathBuf {
    let mine = dir.join("mine");
    let lab = dir.join("lab");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&lab).unwrap();
    for f in [
        "tiny-text-causal.onnx",
        "tiny-text-fp16.onnx",
        "tiny-clip-text.onnx",
        "tiny-tokenizer.json",
    ] {
        std::fs::copy(tiny(f), mine.join(f)).unwrap();
    }
    for f in [
        "tiny-clip-image.onnx",
        "tiny-image-fp16.onnx",
        "tiny-audio-wave.onnx",
        "tiny-audio-pooled-fp16.onnx",
    ] {
        std::fs::copy(tiny(f), lab.join(f)).unwrap();
    }
    let s = |f: &str| sha(&tiny(f));
    std::fs::write(
        lab.join("models.toml"),
        format!(
            r#"# The lab's exports, shared by every project.
[models.lab-clip-image]
task = "image"
onnx = "tiny-clip-image.onnx"
sha256 = "{clip_img}"
output = "image_embeds"
size = 16
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
normalize = true
dim = 3
space = "tiny-clip"

[models.lab-image-fp16]
task = "image"
onnx = "tiny-image-fp16.onnx"
sha256 = "{img16}"
size = 32
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
normalize = true
dim = 8

[models.lab-wav2vec]
task = "audio"
frontend = "waveform"
onnx = "tiny-audio-wave.onnx"
sha256 = "{wave}"
input = "input_values"
output = "last_hidden_state"
sample_rate = 16000
standardize = true
pooling = "mean"
normalize = true
dim = 8

[models.lab-clap-fp16]
task = "audio"
frontend = "waveform"
onnx = "tiny-audio-pooled-fp16.onnx"
sha256 = "{clap}"
sample_rate = 48000
normalize = true
dim = 8
"#,
            clip_img = s("tiny-clip-image.onnx"),
            img16 = s("tiny-image-fp16.onnx"),
            wave = s("tiny-audio-wave.onnx"),
            clap = s("tiny-audio-pooled-fp16.onnx"),
        ),
    )
    .unwrap();
    let m = dir.join("byo.toml");
    std::fs::write(
        &m,
        format!(
            r#"include = ["lab/models.toml"]

[dataset]
name = "byo"
version = "1.0.0"

[source]
corpus = "microlens"
path = "raw"

[stages.filter]
min_user_interactions = 1
min_item_interactions = 1

[[stages.media]]
modality = "image"
path = "MicroLens-100k_covers/{{raw_id}}.jpg"

[[stages.media]]
modality = "audio"
path = "audio/{{raw_id}}.wav"

[models.my-causal]
task = "text"
onnx = "mine/tiny-text-causal.onnx"
sha256 = "{causal}"
tokenizer = "mine/tiny-tokenizer.json"
tokenizer_sha256 = "{tok}"
pooling = "last"
prefix = "passage: "
normalize = true
dim = 16

[models.my-fp16-text]
task = "text"
onnx = "mine/tiny-text-fp16.onnx"
sha256 = "{fp16}"
tokenizer = "mine/tiny-tokenizer.json"
tokenizer_sha256 = "{tok}"
pooling = "mean"
normalize = true
dim = 16

[models.my-clip-text]
task = "text"
onnx = "mine/tiny-clip-text.onnx"
sha256 = "{clip_text}"
tokenizer = "mine/tiny-tokenizer.json"
tokenizer_sha256 = "{tok}"
output = "text_embeds"
normalize = true
dim = 3
space = "tiny-clip"

[[stages.encode]]
name = "title_last"
model = "my-causal"
text = "{{title}}"

[[stages.encode]]
name = "title_fp16"
model = "my-fp16-text"
text = "{{title}}"

[[stages.encode]]
name = "title_clip"
model = "my-clip-text"
text = "{{title}}"

[[stages.encode]]
name = "cover_clip"
model = "lab-clip-image"
media = "image"

[[stages.encode]]
name = "cover_fp16"
model = "lab-image-fp16"
media = "image"

[[stages.encode]]
name = "audio_wave"
model = "lab-wav2vec"
media = "audio"

[[stages.encode]]
name = "audio_48k"
model = "lab-clap-fp16"
media = "audio"
"#,
            causal = s("tiny-text-causal.onnx"),
            fp16 = s("tiny-text-fp16.onnx"),
            clip_text = s("tiny-clip-text.onnx"),
            tok = s("tiny-tokenizer.json"),
        ),
    )
    .unwrap();
    m
}

#[test]
fn own_models_of_every_shape_build_from_a_manifest_and_match_python() {
    let d = tempfile::tempdir().unwrap();
    let raw = corpus(d.path());
    project(d.path());
    let o = rd(&["build", "byo.toml", "--json"], d.path());
    assert!(o.status.success(), "{}", text(&o));
    let v = d.path().join("data/byo/1.0.0");
    let ds = crate::util::dataset_json(&v);
    let enc = ds["encoders"].as_array().unwrap();
    assert_eq!(enc.len(), 7);
    for e in enc {
        assert!(e["ok"].as_u64().unwrap() > 0, "{e}");
    }
    let space = |n: &str| {
        enc.iter().find(|e| e["name"] == n).unwrap()["space"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(space("title_clip"), "tiny-clip");
    assert_eq!(space("cover_clip"), "tiny-clip");
    assert_eq!(space("cover_fp16"), "");
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(
        card.contains("Embedding space `tiny-clip`: `title_clip` (my-clip-text), `cover_clip` (lab-clip-image)"),
        "the card names the shared space:\n{card}"
    );
    let prep = &enc.iter().find(|e| e["name"] == "title_last").unwrap()["preprocessing"];
    assert_eq!(prep["prefix"], "passage: ");
    // Every vector, recomputed by Python's onnxruntime with HF tokenizers, PIL and numpy.
    let models = d.path().join("all");
    std::fs::create_dir_all(&models).unwrap();
    for dir in ["mine", "lab"] {
        for e in std::fs::read_dir(d.path().join(dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), models.join(e.file_name())).unwrap();
        }
    }
    let out = py(
        &std::fs::read_to_string(repo().join("tests/clients/byo_models_oracle.py")).unwrap(),
        &[
            v.to_str().unwrap(),
            raw.to_str().unwrap(),
            models.to_str().unwrap(),
        ],
    );
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for (name, floor) in [
        ("title_last", 0.99999),
        ("title_fp16", 0.9999),
        ("title_clip", 0.99999),
        ("cover_clip", 0.9999),
        ("cover_fp16", 0.999),
        ("audio_wave", 0.99999),
        // recdata resamples 16 -> 48 kHz with a windowed sinc, the oracle linearly.
        ("audio_48k", 0.99),
    ] {
        let g = &got[name];
        assert!(g["items"].as_u64().unwrap() > 0, "{name}: {got}");
        let c = g["min_cosine"].as_f64().unwrap();
        assert!(
            c >= floor,
            "{name}: min cosine {c} < {floor} against Python ({got})"
        );
    }
}

#[test]
fn models_check_reports_each_shape_and_fails_a_model_that_ignores_its_input() {
    let d = tempfile::tempdir().unwrap();
    project(d.path());
    let o = rd(
        &["--json", "models", "check", "byo.toml", "--runs", "2"],
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let checks: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["type"] == "model_check")
        .collect();
    assert_eq!(checks.len(), 7, "{}", text(&o));
    for c in &checks {
        assert_eq!(c["ok"], true, "{c}");
        assert_eq!(c["dim_found"], c["dim"], "{c}");
        assert!(c["ms_per_item"].as_f64().unwrap() > 0.0);
    }
    let by = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(
        by("my-fp16-text")["inputs"][0],
        "input_ids: int32[batch, seq]"
    );
    assert_eq!(
        by("lab-clap-fp16")["outputs"][0],
        "audio_embeds: float16[batch, 8]"
    );
    assert!(
        by("lab-clip-image")["defined_in"]
            .as_str()
            .unwrap()
            .ends_with("lab/models.toml")
    );

    // CLS pooling of a model without attention reads the [CLS] token's vector, the same for
    // every text: the output does not depend on the input, a failure with its reason (exit 1).
    // So is a pooling that cannot make one vector per text.
    let m = std::fs::read_to_string(d.path().join("byo.toml")).unwrap();
    for (pooling, want) in [
        ("cls", "two different probe inputs gave the same vector"),
        (
            "none",
            "pooling `None` cannot turn into one vector per text",
        ),
    ] {
        let bad = m.replace(
            "pooling = \"mean\"\nnormalize = true\ndim = 16",
            &format!("pooling = \"{pooling}\"\nnormalize = true\ndim = 16"),
        );
        std::fs::write(d.path().join("bad.toml"), bad).unwrap();
        let o = rd(&["models", "check", "bad.toml", "--runs", "1"], d.path());
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{pooling}: {t}");
        assert!(t.contains("my-fp16-text: FAILED"), "{t}");
        assert!(t.contains(want), "{pooling}: {t}");
    }
}

#[test]
fn manifest_model_errors_name_the_entry_and_the_fix() {
    let d = tempfile::tempdir().unwrap();
    project(d.path());
    let m = std::fs::read_to_string(d.path().join("byo.toml")).unwrap();
    let cases: [(&str, String, &str); 5] = [
        (
            "no sha256",
            m.replacen("sha256 = \"", "# sha256 = \"", 1),
            "missing field `sha256`",
        ),
        (
            "unknown key",
            m.replace("pooling = \"last\"", "poolin = \"last\""),
            "unknown field `poolin`",
        ),
        (
            "prefix on an image",
            m.replace(
                "include = [\"lab/models.toml\"]",
                "include = [\"lab/models.toml\"]\n\n[models.img-prefix]\ntask = \"image\"\nonnx = \"x.onnx\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nsize = 8\nmean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\ndim = 4\nprefix = \"query: \"",
            ),
            "`prefix` is for text models",
        ),
        (
            "one space, two dims",
            m.replace("dim = 3\nspace = \"tiny-clip\"", "dim = 4\nspace = \"tiny-clip\""),
            "share the embedding space `tiny-clip` but not a dimension",
        ),
        (
            "waveform with a front-end file",
            m.replace(
                "[models.my-causal]",
                "[models.bad-audio]\ntask = \"audio\"\nfrontend = \"waveform\"\nfrontend_onnx = \"mel.onnx\"\nfrontend_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nonnx = \"x.onnx\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nsample_rate = 16000\ndim = 4\n\n[models.my-causal]",
            ),
            "frontend = \"waveform\" feeds the model itself",
        ),
    ];
    for (what, text_, want) in cases {
        std::fs::write(d.path().join("case.toml"), text_).unwrap();
        // `models list` loads the manifest and the registry it sees, nothing else.
        let o = rd(&["models", "list", "case.toml"], d.path());
        let t = text(&o);
        assert_ne!(o.status.code(), Some(0), "{what}: {t}");
        assert!(t.contains(want), "{what}: wanted `{want}` in\n{t}");
        assert!(!t.contains("panicked"), "{what}: {t}");
    }
    // A manifest model may not reuse a registry id.
    let dup = m
        .replace("[models.my-causal]", "[models.all-minilm-l6-v2]")
        .replace("model = \"my-causal\"", "model = \"all-minilm-l6-v2\"");
    std::fs::write(d.path().join("dup.toml"), dup).unwrap();
    let o = Command::new(crate::util::bin())
        .args(["models", "list", "dup.toml"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .env("RECDATA_MODELS", repo().join("models"))
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("model `all-minilm-l6-v2` is defined in")
            && t.contains("give the new one its own id"),
        "{t}"
    );
    // A model file that is not what the manifest pins is refused before it is loaded.
    std::fs::write(
        d.path().join("mine/tiny-text-fp16.onnx"),
        b"not the pinned bytes",
    )
    .unwrap();
    let o = rd(&["models", "check", "byo.toml", "--runs", "1"], d.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    // The hint fits a user's own model: the entry's pin, not `make models`.
    assert!(
        t.contains("but its entry pins") && t.contains("set `sha256 = "),
        "{t}"
    );
}
