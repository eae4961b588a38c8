//! Fuzz-target bodies: each feeds arbitrary bytes to one parser of untrusted input and panics
//! only on a bug: a crash, an unbounded allocation, or a broken invariant of its result (a file
//! outside the extraction root, row accounting that does not add up).
//!
//! The same bodies run three ways: under libFuzzer (`fuzz/fuzz_targets/*.rs`, `make fuzz`),
//! over the seed corpora and every saved crash in `fuzz/regressions/` in `make test`
//! (`tests/it/fuzz.rs`), and by hand: `recdata` itself never calls them.
//!
//! Inputs that must live in files (archives, corpora, manifests) are written to a scratch
//! directory private to the process and cleared before each input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::fetch::archive::{self, ExtractLimits, Kind};
use crate::fetch::media::{self, Modality};
use crate::io::npy;
use crate::progress::Reporter;
use crate::sources::CorpusConfig;

/// A fuzz target: its name (the file in `fuzz/fuzz_targets/` and the folders in `fuzz/seeds/`
/// and `fuzz/regressions/`) and its body.
pub struct Target {
    pub name: &'static str,
    /// Runs one input; `true` when the parser accepted it (the smoke test checks that seeds are
    /// accepted and mutants exercise both outcomes).
    pub run: fn(&[u8]) -> bool,
}

/// Every target, in the order `make fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "manifest",
        run: manifest,
    },
    Target {
        name: "npy",
        run: npy_file,
    },
    Target {
        name: "npz",
        run: npz,
    },
    Target {
        name: "archive",
        run: archive,
    },
    Target {
        name: "media",
        run: media_check,
    },
    Target {
        name: "chat_response",
        run: chat_response,
    },
    Target {
        name: "lastfm",
        run: lastfm,
    },
    Target {
        name: "movielens",
        run: movielens,
    },
    Target {
        name: "microlens",
        run: microlens,
    },
    Target {
        name: "amazon",
        run: amazon,
    },
    Target {
        name: "agrosense",
        run: agrosense,
    },
    Target {
        name: "qilin",
        run: qilin,
    },
    Target {
        name: "deezer_sessions",
        run: deezer_sessions,
    },
    Target {
        name: "finn_slates",
        run: finn_slates,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// This process's scratch directory (removed by the OS's tmp cleaning, or by the caller).
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("recdata-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("cannot create the fuzz scratch directory");
        d
    })
}

/// An empty directory `name` in the scratch root, one per thread (the smoke tests run targets
/// on several threads of one process).
fn fresh(name: &str) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let d = scratch_root().join(format!("{name}-{thread}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("cannot create a fuzz scratch directory");
    d
}

/// A manifest: parse, resolve, and render every diagnostic (spans must fall inside the text).
pub fn manifest(data: &[u8]) -> bool {
    // Beside a copy of the repository's `pipelines/`, as in `manifests/`, so the seeds'
    // `include = ["../pipelines/…"]` resolve.
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = fresh("manifest-root");
        let pipelines = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        std::fs::create_dir_all(root.join("pipelines")).expect("scratch dir");
        if pipelines.is_dir() {
            copy_tree(&pipelines, &root.join("pipelines"));
        }
        root
    });
    let d = root.join("manifests");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    let path = d.join("m.toml");
    std::fs::write(&path, data).expect("scratch write");
    match crate::stages::manifest::load(&path) {
        Ok(m) => {
            let _ = serde_json::to_string(&m.resolved).expect("resolved manifest as JSON");
            true
        }
        Err(e) => {
            let text = e.render(false);
            assert!(text.contains("in manifest"), "{text}");
            let _ = e.render(true);
            false
        }
    }
}

/// A `.npy` file: the header, then every element as f32 and as i64 (what the corpora read).
pub fn npy_file(data: &[u8]) -> bool {
    let d = fresh("npy");
    let path = d.join("a.npy");
    std::fs::write(&path, data).expect("scratch write");
    let mut accepted = false;
    if let Ok((h, v)) = npy::load_npy::<f64>(&path) {
        assert_eq!(v.len(), h.len(), "element count of {}", h.shape_text());
        accepted = true;
    }
    if let Ok((h, v)) = npy::load_npy::<i64>(&path) {
        assert_eq!(v.len(), h.len(), "element count of {}", h.shape_text());
    }
    // Streaming in small row blocks must agree with reading everything at once.
    let origin = npy::Origin::file(&path);
    if let Ok(mut r) = npy::NpyReader::new(std::io::Cursor::new(data), origin.clone()) {
        let mut rows = Vec::<f64>::new();
        while let Ok(n) = r.read_rows(3, &mut rows) {
            if n == 0 {
                break;
            }
        }
        if r.rows_left() == 0 {
            let _ = r.finish();
        }
    }
    accepted
}

/// A `.npz` archive (zip of `.npy` members, stored or deflated): every member read as f64.
pub fn npz(data: &[u8]) -> bool {
    let d = fresh("npz");
    let path = d.join("a.npz");
    std::fs::write(&path, data).expect("scratch write");
    let Ok(z) = npy::Npz::open(&path) else {
        return false;
    };
    let keys: Vec<String> = z.keys().into_iter().map(str::to_string).collect();
    let mut all = true;
    for k in keys {
        match z.load::<f64>(&k) {
            Ok((h, v)) => assert_eq!(v.len(), h.len(), "member {k}"),
            Err(_) => all = false,
        }
    }
    all
}

/// An archive of any supported kind (the first byte picks the file name, so every kind's
/// reader sees every input): extraction must stay inside the root and within the limits.
pub fn archive(data: &[u8]) -> bool {
    const NAMES: [&str; 6] = ["a.zip", "a.tar", "a.tar.gz", "a.tar.zst", "a.gz", "a.zst"];
    let Some((&pick, body)) = data.split_first() else {
        return false;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let d = fresh("archive");
    let file = d.join(name);
    std::fs::write(&file, body).expect("scratch write");
    let Some(kind) = Kind::detect(name, body) else {
        return false;
    };
    let dest = d.join("out");
    std::fs::create_dir_all(&dest).expect("scratch dir");
    let limits = ExtractLimits {
        max_bytes: 8 << 20,
        max_ratio: 200.0,
        max_entries: 10_000,
    };
    let result = archive::extract(&file, name, kind, &dest, limits);
    // Whatever happened, nothing may exist outside `dest` but the archive itself.
    let mut outside: Vec<String> = fs_err::read_dir(&d)
        .expect("scratch dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != name && n != "out")
        .collect();
    outside.sort();
    assert!(outside.is_empty(), "written outside the root: {outside:?}");
    let mut written = 0u64;
    walk(&dest, &dest, &mut written);
    assert!(
        written <= limits.max_bytes + (1 << 20),
        "{written} bytes written past the {} byte limit",
        limits.max_bytes
    );
    let Ok(tree) = result else {
        return false;
    };
    {
        for e in &tree {
            let p = Path::new(&e.path);
            assert!(
                p.is_relative()
                    && p.components()
                        .all(|c| matches!(c, std::path::Component::Normal(_))),
                "tree path {:?}",
                e.path
            );
            if e.link_target.is_none() {
                let on_disk = fs_err::metadata(dest.join(p)).map(|m| m.len());
                assert_eq!(on_disk.ok(), Some(e.bytes), "size of {}", e.path);
            }
        }
    }
    true
}

/// Every symlink under `root` resolves inside it; adds up the file bytes.
fn walk(root: &Path, dir: &Path, bytes: &mut u64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(&p).expect("read_link");
            let resolved = normalize(&p.parent().unwrap_or(root).join(&target));
            assert!(
                resolved.starts_with(root),
                "symlink {} -> {} leaves the root",
                p.display(),
                target.display()
            );
        } else if m.is_dir() {
            walk(root, &p, bytes);
        } else {
            *bytes += m.len();
        }
    }
}

/// `a/b/../c` → `a/c`, lexically (the target may not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Fetched media: the content check of each modality (format sniffing, image decode, the
/// truncated-JPEG check, audio/video container probes).
pub fn media_check(data: &[u8]) -> bool {
    let d = fresh("media");
    let path = d.join("blob");
    std::fs::write(&path, data).expect("scratch write");
    let head = &data[..data.len().min(64)];
    let mut accepted = false;
    for m in [Modality::Image, Modality::Audio, Modality::Video] {
        if let Ok((format, w, h)) = media::check_content(m, &path, head) {
            assert!(!format.is_empty());
            if m == Modality::Image {
                assert!(
                    w.is_some_and(|w| w > 0) && h.is_some_and(|h| h > 0),
                    "{format}"
                );
            }
            accepted = true;
        }
    }
    accepted
}

/// An OpenAI-compatible chat-completions response body.
pub fn chat_response(data: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return false;
    };
    match crate::fetch::chat::parse(&v) {
        Ok(a) => {
            assert!(a.text.as_deref().is_some_and(|t| !t.trim().is_empty()));
            true
        }
        Err((status, detail)) => {
            assert!(!status.is_empty() && !detail.is_empty());
            false
        }
    }
}

/// A corpus target: the first byte picks which of the corpus' input files the rest replaces in
/// a small generated corpus; normalization must succeed or fail with an error, and its row
/// accounting must add up.
fn corpus(corpus: &str, data: &[u8]) -> bool {
    let Some((&pick, body)) = data.split_first() else {
        return false;
    };
    let (template, config, files) = template(corpus);
    let d = fresh(corpus);
    copy_tree(template, &d);
    let file = &files[usize::from(pick) % files.len()];
    std::fs::write(d.join(file), body).expect("scratch write");
    let Ok(n) = config.normalize(&d, &Reporter::silent()) else {
        return false;
    };
    let mut problems = Vec::new();
    for a in &n.accounts {
        if !a.balanced() {
            problems.push(format!("{a:?}"));
        }
        // A folder's entry (`Soil Image Dataset/`) holds the rejects of the files inside it.
        let rejects = n
            .rejects
            .iter()
            .filter(|r| r.file == a.file || (a.file.ends_with('/') && r.file.starts_with(&a.file)))
            .count() as u64;
        if rejects != a.rejected {
            problems.push(format!(
                "{}: {rejects} rejects, {} counted",
                a.file, a.rejected
            ));
        }
    }
    let accounted: u64 = n.accounts.iter().map(|a| a.rejected).sum();
    if accounted != n.rejects.len() as u64 {
        problems.push(format!(
            "{} rejects, {accounted} in the accounts",
            n.rejects.len()
        ));
    }
    assert!(problems.is_empty(), "{corpus}: {}", problems.join("; "));
    true
}

/// A generated corpus' directory, its default configuration and its input files.
type Template = (PathBuf, CorpusConfig, Vec<PathBuf>);

/// A small generated corpus, made once per process.
fn template(corpus: &str) -> &'static Template {
    static TEMPLATES: OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, &'static Template>>,
    > = OnceLock::new();
    let map = TEMPLATES.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = map.get(corpus) {
        return t;
    }
    let root = scratch_root().join(format!("template-{corpus}"));
    let _ = std::fs::remove_dir_all(&root);
    let raw = root.join("raw");
    let args = crate::synth::SynthArgs {
        seed: 1,
        users: Some(4),
        events_per_user: Some(5),
        duplicates: false,
    };
    crate::synth::write(corpus, &raw, &args).expect("synth a template corpus");
    let manifest = root.join("m.toml");
    // The corpus' required keys, as the synthetic corpus has them.
    let keys = match corpus {
        "amazon-reviews-2023" => "category = \"All_Beauty\"\n",
        _ => "",
    };
    std::fs::write(
        &manifest,
        format!("[dataset]\nname = \"f\"\nversion = \"1\"\n[source]\ncorpus = \"{corpus}\"\npath = \"raw\"\n{keys}"),
    )
    .expect("scratch write");
    let m = crate::stages::manifest::load(&manifest)
        .unwrap_or_else(|e| panic!("template manifest: {}", e.render(false)));
    let config = m.source.corpus;
    let files = config
        .input_files(&raw)
        .expect("template input files")
        .into_iter()
        .map(|p| p.strip_prefix(&raw).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    let t: &'static _ = Box::leak(Box::new((raw, config, files)));
    map.insert(corpus.to_string(), t);
    t
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from)
        .expect("template dir")
        .filter_map(|e| e.ok())
    {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::create_dir_all(&dst).expect("scratch dir");
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("scratch copy");
        }
    }
}

pub fn lastfm(data: &[u8]) -> bool {
    corpus("lastfm-1k", data)
}

pub fn movielens(data: &[u8]) -> bool {
    corpus("movielens", data)
}

pub fn microlens(data: &[u8]) -> bool {
    corpus("microlens", data)
}

pub fn amazon(data: &[u8]) -> bool {
    corpus("amazon-reviews-2023", data)
}

pub fn agrosense(data: &[u8]) -> bool {
    corpus("agrosense", data)
}

/// Qilin: a parquet shard, a qrels CSV or (the toy layout) a pandas CSV replaced.
pub fn qilin(data: &[u8]) -> bool {
    corpus("qilin", data)
}

pub fn deezer_sessions(data: &[u8]) -> bool {
    corpus("deezer-sessions", data)
}

/// FINN.no: `data.npz`, `ind2val.json` or `itemattr.npz` replaced.
pub fn finn_slates(data: &[u8]) -> bool {
    corpus("finn-slates", data)
}

/// Writes `target`'s seeds to `$RECDATA_FUZZ_SEEDS/<target>/seed-<n>` when that variable is
/// set (the libFuzzer binaries call this at start-up, before they read their corpus folders).
pub fn write_seeds(target: &str) {
    if let Some(root) = std::env::var_os("RECDATA_FUZZ_SEEDS") {
        write_seeds_to(Path::new(&root), target).expect("cannot write the seeds");
    }
}

/// Writes `target`'s seeds to `<root>/<target>/seed-<n>`; returns how many.
pub fn write_seeds_to(root: &Path, target: &str) -> std::io::Result<usize> {
    let dir = root.join(target);
    fs_err::create_dir_all(&dir)?;
    let seeds = seeds(target);
    for (i, s) in seeds.iter().enumerate() {
        fs_err::write(dir.join(format!("seed-{i}")), s)?;
    }
    Ok(seeds.len())
}

/// Seed inputs for `target`: the files of a generated corpus, the repository's manifests, real
/// npy/npz/archive/image bytes written by the library's own writers. `make fuzz` starts from
/// them; the smoke test runs them with their deterministic mutations.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "manifest" => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        }
        "npy" => {
            let v: Vec<f64> = (0..12).map(|i| f64::from(i) * 0.5).collect();
            let f4 = npy::DType::parse("<f4").expect("f4");
            vec![
                npy::npy_bytes(f4, false, &[3, 4], &v),
                npy::npy_bytes(npy::DType::I8, false, &[12], &(0..12i64).collect::<Vec<_>>()),
                npy::npy_bytes(npy::DType::F8.big_endian(), true, &[4, 3], &v),
            ]
        }
        "npz" => {
            let mut out = Vec::new();
            for method in [npy::Method::Stored, npy::Method::Deflate] {
                let mut w = npy::NpzWriter::new(std::io::Cursor::new(Vec::new()), 6);
                for key in ["a", "b"] {
                    let mut m = w.member(key, method).expect("npz member");
                    let a = npy::npy_bytes(npy::DType::F8, false, &[2, 3], &[1f64, 2., 3., 4., 5., 6.]);
                    std::io::Write::write_all(&mut m, &a).expect("npz write");
                    m.finish().expect("npz member");
                }
                out.push(w.finish().expect("npz").into_inner());
            }
            out
        }
        "archive" => archive_seeds(),
        "media" => media_seeds(),
        "chat_response" => vec![
            br#"{"model":"m","choices":[{"message":{"role":"assistant","content":"A red bike."}}],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#.to_vec(),
            br#"{"choices":[{"message":{"content":[{"type":"text","text":"two "},{"type":"text","text":"parts"}]}}]}"#.to_vec(),
        ],
        "lastfm" | "movielens" | "microlens" | "amazon" | "agrosense" | "qilin"
        | "deezer_sessions" | "finn_slates" => {
            let corpus = match target {
                "lastfm" => "lastfm-1k",
                "amazon" => "amazon-reviews-2023",
                "deezer_sessions" => "deezer-sessions",
                "finn_slates" => "finn-slates",
                other => other,
            };
            let (dir, _, files) = template(corpus);
            files
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    let mut b = vec![i as u8];
                    b.extend(std::fs::read(dir.join(f)).ok()?);
                    Some(b)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn archive_seeds() -> Vec<Vec<u8>> {
    use std::io::Write as _;
    let files: [(&str, &[u8]); 2] = [("d/a.tsv", b"1\t2\n3\t4\n"), ("b.txt", b"hello")];
    let mut tar_bytes = Vec::new();
    {
        let mut t = tar::Builder::new(&mut tar_bytes);
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, body).expect("tar");
        }
        t.finish().expect("tar");
    }
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).expect("gz");
        e.finish().expect("gz")
    };
    let zst = |b: &[u8]| zstd::encode_all(b, 3).expect("zstd");
    // The zip: written by the npz writer, which makes ordinary zip archives (with zip64
    // extra fields, as numpy's) whose members' names end in `.npy`.
    let mut z = npy::NpzWriter::new(std::io::Cursor::new(Vec::new()), 6);
    for (name, body) in files {
        let mut m = z.member(name, npy::Method::Deflate).expect("zip member");
        m.write_all(body).expect("zip write");
        m.finish().expect("zip member");
    }
    let zip = z.finish().expect("zip").into_inner();
    let with = |kind: u8, b: Vec<u8>| {
        let mut v = vec![kind];
        v.extend(b);
        v
    };
    vec![
        with(0, zip),
        with(1, tar_bytes.clone()),
        with(2, gz(&tar_bytes)),
        with(3, zst(&tar_bytes)),
        with(4, gz(b"one file\n")),
        with(5, zst(b"one file\n")),
    ]
}

fn media_seeds() -> Vec<Vec<u8>> {
    let img = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 90]));
    let mut out = Vec::new();
    for f in [
        image::ImageFormat::Jpeg,
        image::ImageFormat::Png,
        image::ImageFormat::Gif,
        image::ImageFormat::Bmp,
        image::ImageFormat::WebP,
    ] {
        let mut b = std::io::Cursor::new(Vec::new());
        if image::DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut b, f)
            .is_ok()
        {
            out.push(b.into_inner());
        }
    }
    // A 16-bit PCM WAV (the audio probe's most common input).
    let samples: Vec<i16> = (0..800)
        .map(|i| ((i as f32 * 0.1).sin() * 8000.0) as i16)
        .collect();
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut wav = Vec::new();
    wav.extend(b"RIFF");
    wav.extend((36 + data.len() as u32).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(16000u32.to_le_bytes());
    wav.extend(32000u32.to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend((data.len() as u32).to_le_bytes());
    wav.extend(data);
    out.push(wav);
    out
}

/// Deterministic mutations of `seed` (bit flips, truncations, byte insertions and deletions,
/// duplicated and dropped lines, boundary numbers), a cheap stand-in for libFuzzer that runs
/// in `make test`. `rounds` mutants per seed, from the splitmix64 stream of `salt`.
pub fn mutants(seed: &[u8], rounds: usize, salt: u64) -> Vec<Vec<u8>> {
    let mut rng = crate::util::rng::Rng::new(salt);
    let mut out = Vec::with_capacity(rounds);
    const INTERESTING: [&[u8]; 10] = [
        b"\0",
        b"\n",
        b"\r\n",
        b"\"",
        b"\t",
        b"-1",
        b"18446744073709551616",
        b"NaN",
        b"\xff\xfe",
        b"9999999999",
    ];
    for _ in 0..rounds {
        let mut b = seed.to_vec();
        let edits = 1 + (rng.next_u64() % 4) as usize;
        for _ in 0..edits {
            let pos = |rng: &mut crate::util::rng::Rng, len: usize| {
                if len == 0 {
                    0
                } else {
                    (rng.next_u64() % len as u64) as usize
                }
            };
            match rng.next_u64() % 7 {
                0 if !b.is_empty() => {
                    let i = pos(&mut rng, b.len());
                    b[i] ^= 1 << (rng.next_u64() % 8);
                }
                1 => {
                    let i = pos(&mut rng, b.len() + 1);
                    b.truncate(i);
                }
                2 => {
                    let i = pos(&mut rng, b.len() + 1);
                    let s = INTERESTING[(rng.next_u64() % INTERESTING.len() as u64) as usize];
                    b.splice(i..i, s.iter().copied());
                }
                3 if !b.is_empty() => {
                    let i = pos(&mut rng, b.len());
                    let n = (1 + rng.next_u64() % 16) as usize;
                    b.drain(i..(i + n).min(b.len()));
                }
                4 if !b.is_empty() => {
                    // Duplicate a line (or a chunk, in binary input).
                    let i = pos(&mut rng, b.len());
                    let end = b[i..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(b.len(), |p| i + p + 1);
                    let chunk = b[i..end].to_vec();
                    b.splice(end..end, chunk);
                }
                5 if !b.is_empty() => {
                    let i = pos(&mut rng, b.len());
                    b[i] = rng.next_u64() as u8;
                }
                _ => {
                    // Overwrite a run of digits with a boundary value.
                    if let Some(i) = b
                        .iter()
                        .position(|c| c.is_ascii_digit())
                        .map(|s| s + pos(&mut rng, b.len() - s))
                        && b.get(i).is_some_and(u8::is_ascii_digit)
                    {
                        let end = b[i..]
                            .iter()
                            .position(|c| !c.is_ascii_digit())
                            .map_or(b.len(), |p| i + p);
                        let s = INTERESTING[6 + (rng.next_u64() % 4) as usize];
                        b.splice(i..end, s.iter().copied());
                    }
                }
            }
        }
        out.push(b);
    }
    out
}
