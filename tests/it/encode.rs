//! Encoders: parity with the Python references on the real models, per-item statuses for bad
//! inputs, the content cache, tiny generated models, `recdata doctor`, and the encode stage
//! inside a build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::py;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models_dir() -> PathBuf {
    repo().join("models")
}

use crate::util::recdata_with_models as rd;

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "recdata failed ({:?}):\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes a parquet table `{item_id: int64, <col>: string}` (the values go through a JSON file:
/// a long list would not fit in one command-line argument).
pub(crate) fn table(path: &Path, col: &str, values: &[&str]) {
    let json = path.with_extension("values.json");
    std::fs::write(&json, serde_json::to_string(values).unwrap()).unwrap();
    py(
        "import sys, json, pyarrow as pa, pyarrow.parquet as pq\n\
         v = json.load(open(sys.argv[3]))\n\
         pq.write_table(pa.table({'item_id': pa.array(range(len(v)), pa.int64()), sys.argv[2]: pa.array(v, pa.string())}), sys.argv[1])",
        &[path.to_str().unwrap(), col, json.to_str().unwrap()],
    );
}

/// (status, vector) per row of a `recdata encode` output.
pub(crate) fn read_out(path: &Path) -> Vec<(String, Option<Vec<f32>>)> {
    let j = py(
        "import sys, json, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1]).to_pylist()\n\
         print(json.dumps([[r['status'], r['embedding']] for r in t]))",
        &[path.to_str().unwrap()],
    );
    serde_json::from_str::<Vec<(String, Option<Vec<f32>>)>>(&j).unwrap()
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    d / (na * nb)
}

pub(crate) fn encode_cmd(
    dir: &Path,
    input: &Path,
    model: &str,
    column: &str,
    kind: &str,
    extra: &[&str],
) -> serde_json::Value {
    let out = dir.join("out.parquet");
    let mut args = vec![
        "--json",
        "encode",
        input.to_str().unwrap(),
        "--model",
        model,
        "--column",
        column,
        "--kind",
        kind,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&rd(&args, dir));
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn minilm_matches_sentence_transformers() {
    let d = tempfile::tempdir().unwrap();
    let sents: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/reference/minilm-sents.json"))
            .unwrap(),
    )
    .unwrap();
    let refs: Vec<Vec<f32>> = serde_json::from_str(&py(
        "import sys, json, numpy as np\nprint(json.dumps(np.load(sys.argv[1]).tolist()))",
        &[repo()
            .join("tests/fixtures/reference/minilm-ref.npy")
            .to_str()
            .unwrap()],
    ))
    .unwrap();
    let input = d.path().join("sents.parquet");
    table(
        &input,
        "text",
        &sents.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // Batch 4: two batches of different padded lengths.
    encode_cmd(
        d.path(),
        &input,
        "all-minilm-l6-v2",
        "text",
        "text",
        &["--batch-size", "4"],
    );
    let got = read_out(&d.path().join("out.parquet"));
    assert_eq!(got.len(), 6);
    for ((st, v), r) in got.iter().zip(&refs) {
        assert_eq!(st, "ok");
        let c = cosine(v.as_ref().unwrap(), r);
        assert!(c >= 0.999, "cosine {c} < 0.999");
    }
}

/// The Python image pipeline a user would write: PIL decode, EXIF transpose, RGB, bilinear
/// resize to 224, ImageNet mean/std, onnxruntime.
const PIL_REFERENCE: &str = r#"
import sys, json, numpy as np, onnxruntime as ort
from PIL import Image, ImageOps
model, paths = sys.argv[1], json.loads(sys.argv[2])
mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
x = []
for p in paths:
    im = ImageOps.exif_transpose(Image.open(p)).convert("RGB").resize((224, 224), Image.BILINEAR)
    a = (np.asarray(im, np.float32) / 255.0 - mean) / std
    x.append(a.transpose(2, 0, 1))
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
e = s.run(["embedding"], {"pixel_values": np.stack(x)})[0]
e = e / np.linalg.norm(e, axis=1, keepdims=True)
print(json.dumps(e.tolist()))
"#;

/// Test photos: smooth gradients with texture, several sizes and formats, one with EXIF
/// orientation 6 (rotated 90°), one PNG with alpha, one PNG saved under a `.jpg` name.
const MAKE_IMAGES: &str = r#"
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.RandomState(3)
def photo(w, h, seed):
    r = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 100*np.sin(xx/(17+seed)), 128 + 90*np.cos(yy/(23+seed)), 128 + 60*np.sin((xx+yy)/31)], -1)
    return Image.fromarray(np.clip(base + r.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
photo(640, 480, 1).save(f"{out}/a.jpg", quality=92)
photo(300, 500, 2).save(f"{out}/b.png")
ex = Image.Exif(); ex[0x0112] = 6
photo(400, 300, 3).save(f"{out}/rotated.jpg", quality=92, exif=ex.tobytes())
im = photo(256, 256, 4).convert("RGBA"); im.putalpha(128); im.save(f"{out}/alpha.png")
photo(224, 224, 5).save(f"{out}/mislabelled.jpg", format="PNG")
photo(333, 222, 6).save(f"{out}/c.webp", quality=90)
photo(120, 90, 7).save(f"{out}/d.gif")
photo(200, 150, 8).save(f"{out}/e.bmp")
"#;

#[test]
fn efficientnet_matches_pil_onnxruntime_pipeline() {
    let d = tempfile::tempdir().unwrap();
    let imgs = d.path().join("img");
    std::fs::create_dir_all(&imgs).unwrap();
    py(MAKE_IMAGES, &[imgs.to_str().unwrap()]);
    let names = [
        "a.jpg",
        "b.png",
        "rotated.jpg",
        "alpha.png",
        "mislabelled.jpg",
        "c.webp",
        "d.gif",
        "e.bmp",
    ];
    let paths: Vec<String> = names.iter().map(|n| format!("img/{n}")).collect();
    let input = d.path().join("items.parquet");
    table(
        &input,
        "path",
        &paths.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    encode_cmd(
        d.path(),
        &input,
        "efficientnet-lite0",
        "path",
        "image",
        &["--batch-size", "3"],
    );
    let got = read_out(&d.path().join("out.parquet"));
    let abs: Vec<String> = names
        .iter()
        .map(|n| imgs.join(n).display().to_string())
        .collect();
    let refs: Vec<Vec<f32>> = serde_json::from_str(&py(
        PIL_REFERENCE,
        &[
            models_dir()
                .join("efficientnet-lite0/model.onnx")
                .to_str()
                .unwrap(),
            &serde_json::to_string(&abs).unwrap(),
        ],
    ))
    .unwrap();
    for ((n, (st, v)), r) in names.iter().zip(&got).zip(&refs) {
        assert_eq!(st, "ok", "{n}");
        let c = cosine(v.as_ref().unwrap(), r);
        assert!(
            c >= 0.999,
            "{n}: cosine {c} < 0.999 against PIL + onnxruntime"
        );
    }
}

#[test]
fn bad_images_get_clear_statuses() {
    let d = tempfile::tempdir().unwrap();
    let imgs = d.path().join("img");
    std::fs::create_dir_all(&imgs).unwrap();
    py(MAKE_IMAGES, &[imgs.to_str().unwrap()]);
    let good = std::fs::read(imgs.join("a.jpg")).unwrap();
    std::fs::write(imgs.join("truncated.jpg"), &good[..good.len() / 3]).unwrap();
    let mut corrupt = good[..20].to_vec();
    corrupt.extend(std::iter::repeat_n(0x5a, 5000));
    std::fs::write(imgs.join("corrupt.jpg"), &corrupt).unwrap();
    std::fs::write(imgs.join("text.jpg"), b"<html>not an image</html>").unwrap();
    // A PNG whose header claims 100000 x 100000 pixels: refused before decoding.
    py(
        "import sys, zlib, struct\n\
         def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))\n\
         ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)\n\
         open(sys.argv[1], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\\0' * 1000)) + chunk(b'IEND', b''))",
        &[imgs.join("bomb.png").to_str().unwrap()],
    );
    let rows = [
        "img/a.jpg",
        "img/truncated.jpg",
        "img/corrupt.jpg",
        "img/text.jpg",
        "img/bomb.png",
        "img/missing.jpg",
    ];
    let input = d.path().join("items.parquet");
    table(&input, "path", &rows);
    encode_cmd(d.path(), &input, "efficientnet-lite0", "path", "image", &[]);
    let got: Vec<String> = read_out(&d.path().join("out.parquet"))
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        got,
        [
            "ok",
            "truncated",
            "decode_error",
            "unsupported_format",
            "too_large",
            "no_media"
        ],
        "statuses"
    );
}

pub(crate) fn wav_16k(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&32000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

#[test]
fn openwakeword_matches_python_and_audio_statuses() {
    let d = tempfile::tempdir().unwrap();
    let fx = repo().join("tests/fixtures/reference");
    let pcm: Vec<i16> = std::fs::read(fx.join("openwakeword-chirp.i16"))
        .unwrap()
        .chunks(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let aud = d.path().join("aud");
    std::fs::create_dir_all(&aud).unwrap();
    std::fs::write(aud.join("chirp.wav"), wav_16k(&pcm)).unwrap();
    std::fs::write(aud.join("silent.wav"), wav_16k(&vec![0i16; 32000])).unwrap();
    std::fs::write(
        aud.join("corrupt.mp3"),
        [0xffu8, 0xfb, 0x90, 0x00].repeat(10),
    )
    .unwrap();
    std::fs::write(
        aud.join("text.wav"),
        b"this is a text file, not audio at all",
    )
    .unwrap();
    std::fs::write(
        aud.join("broken.wav"),
        b"RIFF\x24\x00\x00\x00WAVEnothing here",
    )
    .unwrap();
    let mut rows = vec![
        "aud/chirp.wav",
        "aud/silent.wav",
        "aud/corrupt.mp3",
        "aud/text.wav",
        "aud/broken.wav",
    ];
    // The same chirp as FLAC, OGG/Vorbis and MP3 at other rates (made by ffmpeg).
    let have_ffmpeg = Command::new("ffmpeg").arg("-version").output().is_ok();
    if have_ffmpeg {
        for (name, args) in [
            ("chirp.flac", vec!["-ar", "44100"]),
            (
                "chirp.ogg",
                vec!["-ar", "22050", "-c:a", "libvorbis", "-q:a", "8"],
            ),
            ("chirp.mp3", vec!["-ar", "44100", "-b:a", "192k"]),
        ] {
            let st = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(aud.join("chirp.wav"))
                .args(&args)
                .arg(aud.join(name))
                .status()
                .unwrap();
            assert!(st.success(), "ffmpeg {name}");
        }
        rows.extend(["aud/chirp.flac", "aud/chirp.ogg", "aud/chirp.mp3"]);
    }
    let input = d.path().join("items.parquet");
    table(&input, "path", &rows);
    encode_cmd(
        d.path(),
        &input,
        "openwakeword-speech-embedding",
        "path",
        "audio",
        &[],
    );
    let got = read_out(&d.path().join("out.parquet"));
    let statuses: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        &statuses[..5],
        [
            "ok",
            "silent",
            "decode_error",
            "unsupported_format",
            "decode_error"
        ]
    );
    // Reference: openwakeword.utils.AudioFeatures' 28 window embeddings, mean, L2.
    let refw: Vec<f32> = std::fs::read(fx.join("openwakeword-ref-emb.f32"))
        .unwrap()
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(refw.len(), 28 * 96);
    let mut mean = vec![0f32; 96];
    for w in refw.chunks(96) {
        mean.iter_mut().zip(w).for_each(|(m, x)| *m += x / 28.0);
    }
    let c = cosine(got[0].1.as_ref().unwrap(), &mean);
    assert!(
        c >= 0.999,
        "chirp.wav: cosine {c} < 0.999 against openWakeWord"
    );
    for (i, name) in ["flac", "ogg", "mp3"]
        .iter()
        .enumerate()
        .take(if have_ffmpeg { 3 } else { 0 })
    {
        let (st, v) = &got[5 + i];
        assert_eq!(st, "ok", "{name}");
        let c = cosine(v.as_ref().unwrap(), &mean);
        assert!(c >= 0.98, "chirp.{name} (resampled): cosine {c}");
    }
}

/// A text's vector does not depend on the texts encoded with it: a sharded, resumed or
/// re-batched build gives the same bits (ONNX Runtime's CPU reductions over a batch do not,
/// which is why the registry's MiniLM pools `last_hidden_state` itself).
#[test]
fn text_vectors_do_not_depend_on_the_batch() {
    let texts: Vec<String> = (0..40)
        .map(|i| {
            let words = [
                "red", "vintage", "bicycle", "with", "a", "basket", "for", "city", "rides",
            ];
            (0..(2 + i % 7))
                .map(|k| words[(i * 3 + k * 5) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
                + &format!(" no. {i}")
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut outs = Vec::new();
    for bs in ["1", "3", "32"] {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("t.parquet");
        table(&input, "text", &refs);
        encode_cmd(
            d.path(),
            &input,
            "all-minilm-l6-v2",
            "text",
            "text",
            &["--batch-size", bs],
        );
        outs.push((bs, std::fs::read(d.path().join("out.parquet")).unwrap()));
    }
    for (bs, o) in &outs[1..] {
        assert!(
            *o == outs[0].1,
            "batch size {bs} gives other vectors than batch size 1"
        );
    }
}

#[test]
fn cache_hits_on_rerun_and_only_changes_are_encoded() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("t.parquet");
    table(
        &input,
        "text",
        &["red shoes", "blue shirt", "green hat", "red shoes"],
    );
    let first = encode_cmd(d.path(), &input, "all-minilm-l6-v2", "text", "text", &[]);
    // Duplicate contents are encoded once.
    assert_eq!(first["stats"]["encoded"], 3, "{first}");
    assert_eq!(first["stats"]["cached"], 0);
    assert!(first["stats"]["model_calls"].as_u64().unwrap() >= 1);
    let again = encode_cmd(d.path(), &input, "all-minilm-l6-v2", "text", "text", &[]);
    assert_eq!(again["stats"]["model_calls"], 0, "{again}");
    assert_eq!(again["stats"]["cached"], 4);
    let a = read_out(&d.path().join("out.parquet"));
    table(
        &input,
        "text",
        &["red shoes", "blue shirt", "a new yellow scarf", ""],
    );
    let changed = encode_cmd(d.path(), &input, "all-minilm-l6-v2", "text", "text", &[]);
    assert_eq!(changed["stats"]["encoded"], 1, "{changed}");
    assert_eq!(changed["stats"]["cached"], 2);
    let b = read_out(&d.path().join("out.parquet"));
    assert_eq!(a[0], b[0], "a cached vector is the same vector");
    assert_eq!(b[3].0, "empty_text");
}

/// A registry over the generated tiny models (`make tiny-models`), pinned by their sha256.
fn tiny_registry(dir: &Path) -> PathBuf {
    let tiny = models_dir().join("tiny");
    let sha = |f: &str| recdata::util::hash::sha256_file(&tiny.join(f)).unwrap().0;
    let reg = dir.join("reg");
    std::fs::create_dir_all(&reg).unwrap();
    let t = tiny.display();
    std::fs::write(
        reg.join("models.toml"),
        format!(
            r#"
[models.tiny-text-mean]
task = "text"
onnx = "{t}/tiny-text.onnx"
sha256 = "{}"
tokenizer = "{t}/tiny-tokenizer.json"
tokenizer_sha256 = "{}"
output = "last_hidden_state"
pooling = "mean"
dim = 16

[models.tiny-text-cls]
task = "text"
onnx = "{t}/tiny-text.onnx"
sha256 = "{}"
tokenizer = "{t}/tiny-tokenizer.json"
tokenizer_sha256 = "{}"
pooling = "cls"
normalize = true
dim = 16

[models.tiny-image-fixed]
task = "image"
onnx = "{t}/tiny-image-fixed.onnx"
sha256 = "{}"
size = 32
resize = "center-crop"
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
dim = 8

[models.tiny-broken]
task = "image"
onnx = "{t}/tiny-broken.onnx"
sha256 = "{}"
size = 32
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
dim = 8

[models.tiny-wrong-sha]
task = "image"
onnx = "{t}/tiny-image.onnx"
sha256 = "{}"
size = 32
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
dim = 8
"#,
            sha("tiny-text.onnx"),
            sha("tiny-tokenizer.json"),
            sha("tiny-text.onnx"),
            sha("tiny-tokenizer.json"),
            sha("tiny-image-fixed.onnx"),
            sha("tiny-broken.onnx"),
            "0".repeat(64),
        ),
    )
    .unwrap();
    reg
}

#[test]
fn tiny_models_pooling_fixed_batch_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let reg = tiny_registry(d.path());
    let texts = [
        "hello world",
        "the cat sat on the mat",
        "a",
        "recommender systems rank items",
    ];
    let input = d.path().join("t.parquet");
    table(&input, "text", &texts);
    let regs = reg.to_str().unwrap();
    encode_cmd(
        d.path(),
        &input,
        "tiny-text-mean",
        "text",
        "text",
        &["--models", regs, "--batch-size", "3"],
    );
    let mean = read_out(&d.path().join("out.parquet"));
    encode_cmd(
        d.path(),
        &input,
        "tiny-text-cls",
        "text",
        "text",
        &["--models", regs],
    );
    let cls = read_out(&d.path().join("out.parquet"));
    // Python: the same tokenizer and graph, pooled by hand.
    let refs: Vec<Vec<Vec<f32>>> = serde_json::from_str(&py(
        r#"
import sys, json, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[2]); s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
mean, cls = [], []
for t in json.loads(sys.argv[3]):
    e = tok.encode(t)
    ids = np.array([e.ids], np.int64); m = np.array([e.attention_mask], np.int64)
    h = s.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": m})[0][0]
    mean.append(h.mean(0).tolist()); c = h[0]; cls.append((c / np.linalg.norm(c)).tolist())
print(json.dumps([mean, cls]))
"#,
        &[
            models_dir().join("tiny/tiny-text.onnx").to_str().unwrap(),
            models_dir().join("tiny/tiny-tokenizer.json").to_str().unwrap(),
            &serde_json::to_string(&texts).unwrap(),
        ],
    ))
    .unwrap();
    for i in 0..texts.len() {
        let m = mean[i].1.as_ref().unwrap();
        let c = cls[i].1.as_ref().unwrap();
        for (a, b) in m.iter().zip(&refs[0][i]) {
            assert!((a - b).abs() < 1e-5, "mean pooling {i}: {a} vs {b}");
        }
        for (a, b) in c.iter().zip(&refs[1][i]) {
            assert!((a - b).abs() < 1e-5, "cls pooling {i}: {a} vs {b}");
        }
    }
    // A graph with a fixed batch of 2 gets 5 images (the last batch padded).
    let imgs = d.path().join("img");
    std::fs::create_dir_all(&imgs).unwrap();
    py(MAKE_IMAGES, &[imgs.to_str().unwrap()]);
    let input = d.path().join("i.parquet");
    table(
        &input,
        "path",
        &[
            "img/a.jpg",
            "img/b.png",
            "img/c.webp",
            "img/d.gif",
            "img/e.bmp",
        ],
    );
    encode_cmd(
        d.path(),
        &input,
        "tiny-image-fixed",
        "path",
        "image",
        &["--models", regs, "--batch-size", "5"],
    );
    let got = read_out(&d.path().join("out.parquet"));
    assert!(
        got.iter()
            .all(|r| r.0 == "ok" && r.1.as_ref().unwrap().len() == 8)
    );
    // Encoding one image alone gives the same vector as in the padded batch.
    table(&input, "path", &["img/e.bmp"]);
    encode_cmd(
        d.path(),
        &input,
        "tiny-image-fixed",
        "path",
        "image",
        &[
            "--models",
            regs,
            "--cache-dir",
            d.path().join("c2").to_str().unwrap(),
        ],
    );
    let alone = read_out(&d.path().join("out.parquet"));
    for (a, b) in alone[0]
        .1
        .as_ref()
        .unwrap()
        .iter()
        .zip(got[4].1.as_ref().unwrap())
    {
        assert!((a - b).abs() < 1e-5);
    }
    // A file that is not ONNX, and a file whose sha256 differs from the registry: clear errors.
    let out = d.path().join("x.parquet");
    let o = rd(
        &[
            "encode",
            input.to_str().unwrap(),
            "--model",
            "tiny-broken",
            "--column",
            "path",
            "--kind",
            "image",
            "--models",
            regs,
            "--out",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tiny-broken.onnx") && err.contains("cannot create an ONNX Runtime session"),
        "{err}"
    );
    let o = rd(
        &[
            "encode",
            input.to_str().unwrap(),
            "--model",
            "tiny-wrong-sha",
            "--column",
            "path",
            "--kind",
            "image",
            "--models",
            regs,
            "--out",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tiny-image.onnx has sha256") && err.contains("pins 0000"),
        "{err}"
    );
    // A text model on images is refused.
    let o = rd(
        &[
            "encode",
            input.to_str().unwrap(),
            "--model",
            "tiny-text-mean",
            "--column",
            "path",
            "--kind",
            "image",
            "--models",
            regs,
            "--out",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a text model"));
}

#[test]
fn doctor_reports_runtime_models_and_refuses_missing_cuda() {
    let d = tempfile::tempdir().unwrap();
    let o = rd(&["--json", "doctor"], d.path());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["execution_providers"]["cpu"], true);
    let rt = &doc["runtimes"][0];
    assert_eq!(rt["version"], "1.31.1", "{doc:#}");
    assert!(
        doc["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["ok"] == true),
        "{doc:#}"
    );
    let human = ok(&rd(&["doctor"], d.path()));
    assert!(
        human.contains("all-minilm-l6-v2") && human.contains("providers: CPU works"),
        "{human}"
    );
    // This machine has no GPU build / no GPU: asking for CUDA fails loudly, with the fix.
    let o = rd(&["doctor", "--device", "cuda"], d.path());
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("--device cuda:0: CUDA does not work") && text.contains("make runtime-gpu"),
        "{text}"
    );
    // A missing model is named with the command that fixes it.
    let reg = d.path().join("reg");
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(
        reg.join("models.toml"),
        std::fs::read_to_string(models_dir().join("models.toml")).unwrap(),
    )
    .unwrap();
    let o = rd(&["doctor", "--models", reg.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("is missing") && text.contains("fix: make models"),
        "{text}"
    );
}

fn microlens_with_encoders(
    dir: &Path,
    server: &crate::mllm::MllmServer,
    version: &str,
    min_item: u32,
) {
    let m = format!(
        r#"[dataset]
name = "ml"
version = "{version}"

[source]
corpus = "microlens"
path = "raw"

[stages.filter]
min_user_interactions = 1
min_item_interactions = {min_item}

[[stages.media]]
modality = "image"
path = "MicroLens-100k_covers/{{raw_id}}.jpg"

[[stages.media]]
modality = "video"
paths = ["MicroLens-100k_videos/{{raw_id}}.mp4", "MicroLens-100k_videos/{{raw_id}}.1.mp4"]

[[stages.caption]]
name = "cover"
media = "image"
endpoint = "{url}"
model = "test-vlm"
prompt = "Describe this micro-video cover in one sentence."
concurrency = 3
timeout_s = 1.0
retries = 2
backoff_s = 0.05

[[stages.encode]]
name = "title"
model = "all-minilm-l6-v2"
text = "{{title}}"

[[stages.encode]]
name = "title_fields"
model = "all-minilm-l6-v2"
fields = ["title", "category"]
dtype = "float16"

[[stages.encode]]
name = "cover"
model = "efficientnet-lite0"
media = "image"

[[stages.encode]]
name = "video"
model = "efficientnet-lite0"
media = "video"
frames = 3

[[stages.encode]]
name = "cover_caption"
model = "all-minilm-l6-v2"
caption = "cover"

[stages.semantic_ids]
embeddings = ["title", "cover"]
codebooks = [4, 4]
normalize = "l2"
"#,
        url = server.url()
    );
    std::fs::write(dir.join("ml.toml"), m).unwrap();
}

fn events(o: &Output, kind: &str) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

#[test]
fn build_with_captions_and_encoders() {
    let d = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &d.path().join("raw"),
        "microlens",
        &["--users", "30", "--seed", "5"],
    );
    let server = crate::mllm::MllmServer::start();
    let covers = d.path().join("raw/MicroLens-100k_covers");
    let mut cover_files: Vec<PathBuf> = std::fs::read_dir(&covers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cover_files.sort();
    let c1 = std::fs::read(&cover_files[0]).unwrap();
    let c2 = std::fs::read(&cover_files[1]).unwrap();
    let c3 = std::fs::read(&cover_files[2]).unwrap();
    // One cover is rate-limited twice then answered, one stalls past the timeout on every
    // attempt, one gets a 400 (not retried).
    server.fault(
        &c1,
        vec![
            crate::mllm::Fault::RateLimited { retry_after: 0 },
            crate::mllm::Fault::RateLimited { retry_after: 0 },
        ],
    );
    server.fault(
        &c2,
        vec![crate::mllm::Fault::Stall(Duration::from_millis(1500)); 3],
    );
    server.fault(&c3, vec![crate::mllm::Fault::Status(400)]);
    microlens_with_encoders(d.path(), &server, "1", 1);
    let o = rd(
        &["--json", "build", "ml.toml", "--data-dir", "data"],
        d.path(),
    );
    ok(&o);
    let v = d.path().join("data/ml/1");
    let doc = crate::util::dataset_json(&v);
    let items = doc["accounting"]["filter"]["items"].as_u64().unwrap();
    assert!(items > 10);

    // Captions: the server's deterministic text for every fetched cover, statuses otherwise.
    let caps = crate::util::rows_json(&v, "captions/cover.parquet");
    assert_eq!(caps.len() as u64, items);
    let by_status = |s: &str| caps.iter().filter(|r| r["status"] == s).count();
    assert_eq!(by_status("timeout"), 1, "{caps:#?}");
    assert_eq!(by_status("http_error"), 1);
    assert!(
        by_status("no_media") >= 1,
        "the fixture has an item without a cover"
    );
    let raw_ids: std::collections::HashMap<u64, String> =
        crate::util::rows_json(&v, "items.parquet")
            .iter()
            .map(|r| {
                (
                    r["item_id"].as_u64().unwrap(),
                    r["raw_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    for r in caps.iter().filter(|r| r["status"] == "ok") {
        let raw = &raw_ids[&r["item_id"].as_u64().unwrap()];
        let bytes = std::fs::read(covers.join(format!("{raw}.jpg"))).unwrap();
        assert_eq!(
            r["caption"].as_str().unwrap(),
            crate::mllm::caption_for(&bytes)
        );
        assert_eq!(r["model"], "test-vlm");
        assert!(r["prompt_tokens"].as_u64().unwrap() > 100);
    }
    assert!(server.max_concurrent() <= 3, "concurrency limit");
    let c1_log: Vec<u16> = server
        .log()
        .iter()
        .filter(|e| e.0 == crate::mllm::image_key(&c1))
        .map(|e| e.1)
        .collect();
    assert_eq!(c1_log, [429, 429, 200], "retried after 429s");
    let cap_doc = &doc["captions"][0];
    assert_eq!(cap_doc["prompt_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(cap_doc["ok"].as_u64().unwrap() as usize, by_status("ok"));

    // Embeddings: dense files, statuses for the rest, coverage that adds up.
    let encs = doc["encoders"].as_array().unwrap();
    assert_eq!(encs.len(), 5);
    for e in encs {
        let missing: u64 = e["missing_by_status"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_u64().unwrap())
            .sum();
        assert_eq!(e["ok"].as_u64().unwrap() + missing, items, "{e}");
        let rows = crate::util::rows_json(&v, e["file"].as_str().unwrap());
        assert_eq!(rows.len() as u64, e["ok"].as_u64().unwrap());
        assert_eq!(
            rows[0]["embedding"].as_array().unwrap().len() as u64,
            e["dim"].as_u64().unwrap()
        );
    }
    let enc = |n: &str| encs.iter().find(|e| e["name"] == n).unwrap();
    // Every title is encoded; only items whose title is empty in the corpus are not.
    let title_missing = enc("title")["missing_by_status"].as_object().unwrap();
    assert!(
        title_missing.keys().all(|k| k == "empty_text"),
        "{title_missing:?}"
    );
    assert!(enc("title")["ok"].as_u64().unwrap() + 1 >= items);
    assert_eq!(enc("cover_caption")["ok"], cap_doc["ok"]);
    assert!(
        enc("cover")["missing_by_status"]["no_media"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(enc("title_fields")["dtype"], "float16");
    assert!(
        enc("video")["ok"].as_u64().unwrap() >= 1,
        "{}",
        enc("video")
    );
    let meta = py(
        "import sys, json, pyarrow.parquet as pq\n\
         f = pq.ParquetFile(sys.argv[1]); m = f.metadata.metadata\n\
         print(json.dumps({'type': str(f.schema_arrow.field('embedding').type), 'sha': m[b'recdata.model_sha256'].decode(), 'prep': json.loads(m[b'recdata.preprocessing'])}))",
        &[v.join("embeddings/title_fields.parquet").to_str().unwrap()],
    );
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(
        meta["type"],
        "fixed_size_list<item: halffloat not null>[384]"
    );
    // The pin of the model file, as models/models.toml records it.
    let registry = std::fs::read_to_string(models_dir().join("models.toml")).unwrap();
    let pin = registry
        .split("[models.all-minilm-l6-v2]")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.starts_with("sha256 = ")))
        .map(|l| {
            l.trim_start_matches("sha256 = ")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap();
    assert_eq!(meta["sha"], pin.as_str());
    assert_eq!(meta["prep"]["max_length"], 256);
    let status = crate::util::rows_json(&v, "encode_status.parquet");
    assert!(
        status
            .iter()
            .any(|r| r["encoder"] == "cover" && r["status"] == "no_media")
    );
    // Semantic ids for the items with both a title and a cover vector.
    let sids = crate::util::rows_json(&v, "semantic_ids.parquet");
    let both = enc("title")["ok"]
        .as_u64()
        .unwrap()
        .min(enc("cover")["ok"].as_u64().unwrap());
    assert!(
        sids.len() as u64 <= both && sids.len() as u64 + 2 >= both,
        "{} of {both}",
        sids.len()
    );
    assert!(
        sids.iter()
            .all(|r| r["codes"].as_array().unwrap().len() == 3)
    );
    assert_eq!(doc["semantic_ids"]["metrics"]["collision_rate_after"], 0.0);
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(card.contains("## Semantic IDs"), "{card}");
    assert!(
        card.contains("## Embeddings") && card.contains("## Captions") && card.contains("test-vlm"),
        "{card}"
    );

    // A rebuild is byte-identical and asks the endpoint nothing.
    let before = crate::util::tree(&v);
    let n = server.log().len();
    ok(&rd(&["build", "ml.toml", "--data-dir", "data"], d.path()));
    assert_eq!(crate::util::tree(&v), before);
    assert_eq!(server.log().len(), n);

    // A different item set (new stage fingerprints): vectors and captions come from the
    // content caches; only the failed captions are asked again.
    microlens_with_encoders(d.path(), &server, "2", 2);
    let o = rd(
        &["--json", "build", "ml.toml", "--data-dir", "data"],
        d.path(),
    );
    ok(&o);
    let cap = &events(&o, "caption")[0];
    let asked = cap["asked"].as_u64().unwrap();
    assert!(
        asked <= 2,
        "only the two failed captions are asked again: {cap}"
    );
    for e in events(&o, "encode") {
        if e["encoder"] == "cover_caption" {
            // The captions that failed before and were answered now are new texts.
            assert!(e["stats"]["encoded"].as_u64().unwrap() <= asked, "{e}");
        } else {
            assert_eq!(e["stats"]["model_calls"], 0, "{e}");
            assert_eq!(e["stats"]["encoded"], 0, "{e}");
        }
    }
}

#[test]
fn cuda_request_is_an_error_not_a_fallback() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("t.parquet");
    table(&input, "text", &["one"]);
    let o = rd(
        &[
            "encode",
            input.to_str().unwrap(),
            "--model",
            "all-minilm-l6-v2",
            "--column",
            "text",
            "--device",
            "cuda",
            "--out",
            "o.parquet",
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cuda")
            && (err.contains("make runtime-gpu") || err.contains("LD_LIBRARY_PATH")),
        "{err}"
    );
    assert!(!d.path().join("o.parquet").exists());
}

#[test]
fn video_frames_and_undecodable_video() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        panic!("ffmpeg is required (make test / .ci/run install it)");
    }
    let d = tempfile::tempdir().unwrap();
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=160x120:rate=10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(d.path().join("ok.mp4"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        d.path().join("bad.mp4"),
        b"\x00\x00\x00\x18ftypmp42 this is not a video",
    )
    .unwrap();
    let input = d.path().join("v.parquet");
    table(&input, "path", &["ok.mp4", "bad.mp4"]);
    encode_cmd(
        d.path(),
        &input,
        "efficientnet-lite0",
        "path",
        "video",
        &["--frames", "4"],
    );
    let got = read_out(&d.path().join("out.parquet"));
    assert_eq!(got[0].0, "ok");
    assert_eq!(got[1].0, "no_frames");
}

#[test]
fn killed_encode_resumes_from_flushed_results() {
    let d = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..3000)
        .map(|i| format!("item number {i} in a catalogue of {} things", i * 7 % 101))
        .collect();
    let input = d.path().join("t.parquet");
    table(
        &input,
        "text",
        &texts.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let run = |out: &str| {
        let mut c = Command::new(crate::util::bin());
        c.args([
            "--json",
            "encode",
            input.to_str().unwrap(),
            "--model",
            "all-minilm-l6-v2",
            "--column",
            "text",
            "--batch-size",
            "32",
            "--out",
            out,
        ])
        .current_dir(d.path())
        .env("RECDATA_MODELS", models_dir())
        .env("RECDATA_CACHE", d.path().join("cache"))
        .env("RECDATA_THREADS", "2")
        .env("RECDATA_ENCODE_FLUSH_ITEMS", "64");
        c
    };
    // Kill it (SIGKILL) as soon as the first results are on disk.
    let mut child = run("killed.parquet")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let chunks = |root: &Path| -> usize {
        walk(root)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
            .count()
    };
    let t0 = std::time::Instant::now();
    while chunks(&d.path().join("cache")) == 0 && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !d.path().join("killed.parquet").exists(),
        "the kill came too late to test a resume"
    );
    // The re-run encodes only what the killed run had not flushed, and its output equals a
    // run from nothing.
    let o = run("resumed.parquet").output().unwrap();
    let stats: serde_json::Value = serde_json::from_str(ok(&o).lines().last().unwrap()).unwrap();
    let cached = stats["stats"]["cached"].as_u64().unwrap();
    assert!((64..3000).contains(&cached), "{stats}");
    assert_eq!(
        stats["stats"]["encoded"].as_u64().unwrap() + cached,
        3000,
        "{stats}"
    );
    let o = Command::new(crate::util::bin())
        .args([
            "encode",
            input.to_str().unwrap(),
            "--model",
            "all-minilm-l6-v2",
            "--column",
            "text",
            "--out",
            "fresh.parquet",
            "--cache-dir",
        ])
        .arg(d.path().join("fresh-cache"))
        .current_dir(d.path())
        .env("RECDATA_MODELS", models_dir())
        .output()
        .unwrap();
    ok(&o);
    let a = read_out(&d.path().join("resumed.parquet"));
    let b = read_out(&d.path().join("fresh.parquet"));
    for ((sa, va), (sb, vb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        let c = cosine(va.as_ref().unwrap(), vb.as_ref().unwrap());
        assert!(c > 0.99999, "{c}");
    }
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Issue: `--device cuda` was not recorded when the vectors came from the cache. Each vector
/// records the device that computed it, kept by the embedding cache: a second dataset built
/// with `--device cuda` from vectors a CPU run computed says `cpu` (no GPU is needed when
/// nothing is left to encode), and its dataset.json does not depend on the flag.
#[test]
fn encode_records_the_device_that_computed_each_vector_also_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &d.path().join("raw"),
        "microlens",
        &["--users", "20", "--seed", "3"],
    );
    let manifest = |name: &str| {
        std::fs::write(
            d.path().join(format!("{name}.toml")),
            format!(
                "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n\n\
                 [[stages.encode]]\nname = \"title\"\nmodel = \"all-minilm-l6-v2\"\ntext = \"{{title}}\"\n"
            ),
        )
        .unwrap();
    };
    manifest("a");
    manifest("b");
    ok(&rd(&["build", "a.toml", "--data-dir", "data"], d.path()));
    let a = crate::util::dataset_json(&d.path().join("data/a/1"));
    let n = a["encoders"][0]["ok"].as_u64().unwrap();
    assert!(n > 0);
    assert_eq!(
        a["encoders"][0]["computed_on"],
        serde_json::json!({ "cpu": n })
    );
    let o = rd(
        &["build", "b.toml", "--data-dir", "data", "--device", "cuda"],
        d.path(),
    );
    ok(&o);
    let b = crate::util::dataset_json(&d.path().join("data/b/1"));
    assert_eq!(
        b["encoders"][0]["computed_on"],
        serde_json::json!({ "cpu": n })
    );
    let card = std::fs::read_to_string(d.path().join("data/b/1/README.md")).unwrap();
    assert!(card.contains(&format!("cpu: {n}")), "{card}");
}
