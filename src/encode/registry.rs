//! The model registry: `models/models.toml` names every encoder recdata can run, the files it
//! consists of (each pinned by sha256), and how its inputs are prepared and its outputs read.
//!
//! A model is only ever loaded after its files' sha256 match the registry, so a dataset's
//! `dataset.json` can name the exact weights its embeddings came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const REGISTRY_FILE: &str = "models.toml";

/// What an encoder consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Text,
    Image,
    Audio,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Text => "text",
            Task::Image => "image",
            Task::Audio => "audio",
        }
    }
}

/// How token (or window) vectors become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The model's output is already one vector per input.
    None,
    /// Mean over the attention mask (text) or over windows / frames.
    Mean,
    /// The first token's vector.
    Cls,
    /// The last real (unmasked) token's vector: decoder-style embedders (Qwen3-Embedding,
    /// GTE-Qwen, E5-Mistral) read their summary there.
    Last,
}

impl Pooling {
    pub const ALL: &[&str] = &["none", "mean", "cls", "last"];
    pub fn parse(s: &str) -> Option<Pooling> {
        Some(match s {
            "none" => Pooling::None,
            "mean" => Pooling::Mean,
            "cls" => Pooling::Cls,
            "last" => Pooling::Last,
            _ => return None,
        })
    }
}

/// How an image is brought to the model's square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resize {
    /// Resize both sides to the input size (aspect ratio not kept).
    Squash,
    /// Resize the short side to the input size, then cut the centre square.
    CenterCrop,
    /// Resize the long side to the input size and pad the rest with the mean colour.
    Letterbox,
}

impl Resize {
    pub const ALL: &[&str] = &["squash", "center-crop", "letterbox"];
    pub fn parse(s: &str) -> Option<Resize> {
        Some(match s {
            "squash" => Resize::Squash,
            "center-crop" => Resize::CenterCrop,
            "letterbox" => Resize::Letterbox,
            _ => return None,
        })
    }
}

/// An audio model's feature front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frontend {
    /// openWakeWord: a mel-spectrogram ONNX model on 16 kHz int16-valued samples, `x/10 + 2`,
    /// windows of 76 frames every 8 frames into the embedding model.
    Openwakeword,
    /// The model takes the waveform itself: float samples at `sample_rate` (16 kHz for
    /// wav2vec2 / HuBERT / WavLM, 48 kHz for CLAP's HTS-AT exports), `[1, samples]`, with an
    /// all-ones `attention_mask` when the graph has one. One clip per run, so a clip's vector
    /// never depends on how long its batch-mates are.
    Waveform,
}

/// One `[models.<id>]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub task: Task,
    /// The ONNX file, relative to the registry's directory.
    pub onnx: String,
    pub sha256: String,
    pub dim: usize,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    /// Where the weights come from (registry package and version).
    #[serde(default)]
    pub source: String,
    /// The output tensor to read; the first output when empty.
    #[serde(default)]
    pub output: String,
    /// The image / audio input's name; the first input when empty.
    #[serde(default)]
    pub input: String,
    #[serde(default = "default_pooling")]
    pub pooling: Pooling,
    /// L2-normalise the final vector.
    #[serde(default)]
    pub normalize: bool,
    // text
    #[serde(default)]
    pub tokenizer: String,
    #[serde(default)]
    pub tokenizer_sha256: String,
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    // image
    #[serde(default)]
    pub size: u32,
    #[serde(default = "default_resize")]
    pub resize: Resize,
    #[serde(default)]
    pub mean: Vec<f32>,
    #[serde(default)]
    pub std: Vec<f32>,
    // audio
    #[serde(default)]
    pub frontend: Option<Frontend>,
    #[serde(default)]
    pub frontend_onnx: String,
    #[serde(default)]
    pub frontend_sha256: String,
    #[serde(default)]
    pub sample_rate: u32,
    /// Waveform models: scale every clip to zero mean and unit variance first (the
    /// `do_normalize` of a wav2vec2 feature extractor).
    #[serde(default, skip_serializing_if = "is_false")]
    pub standardize: bool,
    /// Text models: put before every text (E5's `"passage: "`, BGE's query instruction).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The embedding space this model writes into. Models that share one (a CLIP or SigLIP
    /// image tower and its text tower) give comparable vectors; they must share `dim`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub space: String,
    /// The directory the entry's paths are relative to: the registry's, or the manifest's
    /// (or included file's) that defines it.
    #[serde(skip)]
    pub base: PathBuf,
    /// Where the entry was defined, for messages: the registry file or a manifest.
    #[serde(skip)]
    pub defined_in: PathBuf,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_pooling() -> Pooling {
    Pooling::None
}
fn default_max_length() -> usize {
    256
}
fn default_resize() -> Resize {
    Resize::Squash
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    models: BTreeMap<String, ModelSpec>,
}

/// A loaded registry and where it lives.
#[derive(Debug, Clone)]
pub struct Registry {
    pub dir: PathBuf,
    pub models: BTreeMap<String, ModelSpec>,
}

/// A model's files as verified on disk.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub onnx: PathBuf,
    pub tokenizer: Option<PathBuf>,
    pub frontend: Option<PathBuf>,
}

/// Where the registry is: `--models`/`RECDATA_MODELS`, else the nearest `models/models.toml`
/// above the current directory or above `near` (a manifest's directory).
pub fn locate(explicit: Option<&Path>, near: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("RECDATA_MODELS").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let starts = [std::env::current_dir().ok(), near.map(Path::to_path_buf)];
    for start in starts.into_iter().flatten() {
        let start = fs_err::canonicalize(&start).unwrap_or(start);
        for dir in start.ancestors() {
            let cand = dir.join("models");
            if cand.join(REGISTRY_FILE).is_file() {
                return Some(cand);
            }
        }
    }
    None
}

/// The registry a manifest's encoders see: the default (or `--models`) registry, when one is
/// found, plus the manifest's own `[models.<id>]` entries. Without a registry directory the
/// manifest's directory stands in (its models are all there is; ONNX Runtime is then found
/// through `ORT_DYLIB_PATH` or the checkout's `models/runtime`).
pub fn for_manifest(
    explicit: Option<&Path>,
    manifest: &Path,
    own: &[(String, ModelSpec)],
) -> Result<Registry> {
    let near = manifest.parent();
    let mut reg = match locate(explicit, near) {
        Some(dir) => Registry::load(&dir)?,
        None if !own.is_empty() => Registry {
            dir: near
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            models: BTreeMap::new(),
        },
        None => {
            return Err(Error::Unsupported(
                "the manifest has [[stages.encode]] but no model registry was found (models/models.toml)\n  hint: run `make models` in the recdata checkout, pass --models DIR / set RECDATA_MODELS, or define the model in the manifest as [models.<id>]"
                    .into(),
            ));
        }
    };
    for (id, spec) in own {
        reg.add(id, spec.clone())?;
    }
    Ok(reg)
}

impl Registry {
    pub fn load(dir: &Path) -> Result<Registry> {
        let path = dir.join(REGISTRY_FILE);
        let text = fs_err::read_to_string(&path).map_err(|e| {
            Error::Invalid(format!(
                "no model registry at {}: {e}\n  hint: run `make models` in the recdata checkout, or point --models / RECDATA_MODELS at a directory with models.toml",
                path.display()
            ))
        })?;
        let f: RegistryFile = toml_edit::de::from_str(&text).map_err(|e| Error::BadInput {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut reg = Registry {
            dir: dir.to_path_buf(),
            models: BTreeMap::new(),
        };
        for (id, mut m) in f.models {
            m.check(&id).map_err(|message| Error::BadInput {
                path: path.clone(),
                message: format!("[models.{id}]: {message}"),
            })?;
            m.base = dir.to_path_buf();
            m.defined_in = path.clone();
            reg.models.insert(id, m);
        }
        reg.check_spaces()?;
        Ok(reg)
    }

    /// Adds a model defined outside the registry (a manifest's `[models.<id>]`); its `base`
    /// and `defined_in` are set. An id the registry already has is refused: one id, one model.
    pub fn add(&mut self, id: &str, spec: ModelSpec) -> Result<()> {
        if let Some(old) = self.models.get(id) {
            return Err(Error::Invalid(format!(
                "model `{id}` is defined in {} and again in {}; give the new one its own id",
                old.defined_in.display(),
                spec.defined_in.display()
            )));
        }
        self.models.insert(id.to_string(), spec);
        self.check_spaces()
    }

    /// Models that share an embedding space must give vectors of one size.
    fn check_spaces(&self) -> Result<()> {
        let mut dims: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        for (id, m) in &self.models {
            if m.space.is_empty() {
                continue;
            }
            match dims.get(m.space.as_str()) {
                Some((other, d)) if *d != m.dim => {
                    return Err(Error::Invalid(format!(
                        "models `{other}` (dim {d}) and `{id}` (dim {}) share the embedding space `{}` but not a dimension",
                        m.dim, m.space
                    )));
                }
                Some(_) => {}
                None => {
                    dims.insert(&m.space, (id, m.dim));
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<&ModelSpec> {
        self.models.get(id).ok_or_else(|| {
            Error::Invalid(format!(
                "model `{id}` is not in the registry {} (models: {})",
                self.dir.join(REGISTRY_FILE).display(),
                self.models.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The model's files, each checked against its pinned sha256.
    pub fn files(&self, id: &str) -> Result<ModelFiles> {
        let m = self.get(id)?;
        let check = |rel: &str, sha: &str| -> Result<PathBuf> {
            let p = m.base.join(rel);
            verify(&p, sha, id)?;
            Ok(p)
        };
        Ok(ModelFiles {
            onnx: check(&m.onnx, &m.sha256)?,
            tokenizer: (!m.tokenizer.is_empty())
                .then(|| check(&m.tokenizer, &m.tokenizer_sha256))
                .transpose()?,
            frontend: (!m.frontend_onnx.is_empty())
                .then(|| check(&m.frontend_onnx, &m.frontend_sha256))
                .transpose()?,
        })
    }
}

impl ModelSpec {
    /// Whether the entry is complete for its task; the message names what is missing.
    pub fn check(&self, _id: &str) -> std::result::Result<(), String> {
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if self.onnx.is_empty() {
            return Err("`onnx` (the model file) is missing".into());
        }
        if !hex64(&self.sha256) {
            return Err("`sha256` must be 64 hex digits (`sha256sum model.onnx`)".into());
        }
        if self.dim == 0 {
            return Err("`dim` must be positive".into());
        }
        if !self.prefix.is_empty() && self.task != Task::Text {
            return Err("`prefix` is for text models".into());
        }
        if self.standardize && self.frontend != Some(Frontend::Waveform) {
            return Err("`standardize` is for audio models with frontend = \"waveform\"".into());
        }
        if self.pooling == Pooling::Last && self.task != Task::Text {
            return Err("pooling = \"last\" is for text models".into());
        }
        match self.task {
            Task::Text => {
                if self.tokenizer.is_empty() || !hex64(&self.tokenizer_sha256) {
                    return Err("a text model needs `tokenizer` and its `tokenizer_sha256`".into());
                }
            }
            Task::Image => {
                if self.size == 0 || self.mean.len() != 3 || self.std.len() != 3 {
                    return Err(
                        "an image model needs `size`, and `mean` and `std` with 3 values each"
                            .into(),
                    );
                }
                if self.std.iter().any(|s| *s <= 0.0) {
                    return Err("`std` values must be positive".into());
                }
            }
            Task::Audio => {
                if self.sample_rate == 0 {
                    return Err("an audio model needs `sample_rate`".into());
                }
                match self.frontend {
                    None => {
                        return Err(
                            "an audio model needs `frontend`: \"waveform\" (the model takes samples) or \"openwakeword\""
                                .into(),
                        );
                    }
                    Some(Frontend::Openwakeword) => {
                        if self.frontend_onnx.is_empty() || !hex64(&self.frontend_sha256) {
                            return Err(
                                "frontend = \"openwakeword\" needs `frontend_onnx` and its `frontend_sha256`"
                                    .into(),
                            );
                        }
                    }
                    Some(Frontend::Waveform) => {
                        if !self.frontend_onnx.is_empty() {
                            return Err(
                                "frontend = \"waveform\" feeds the model itself: leave `frontend_onnx` out"
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks `path` against its pinned sha256. Hashes are memoised next to the file by
/// (size, mtime), so a 90 MB model is not re-read on every build.
pub fn verify(path: &Path, sha: &str, id: &str) -> Result<()> {
    let meta = fs_err::metadata(path).map_err(|_| {
        Error::Invalid(format!(
            "model `{id}`: {} is missing\n  hint: a registry model: run `make models` (`recdata doctor` shows what is missing); your own [models.<id>] entry: put the file there (paths are relative to the file that defines the entry)",
            path.display()
        ))
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stamp = format!("{} {mtime} {sha}", meta.len());
    let memo = path.with_file_name(format!(
        ".{}.sha256",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    if fs_err::read_to_string(&memo).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    let (actual, _) = crate::util::hash::sha256_file(path)?;
    if actual != sha {
        return Err(Error::Invalid(format!(
            "model `{id}`: {} has sha256 {actual} but its entry pins {sha}; the file was not used\n  hint: a registry model: run `make models` to restore the pinned file; your own [models.<id>] entry: if this file is the one you mean, set `sha256 = \"{actual}\"`",
            path.display()
        )));
    }
    // A read-only models directory only costs the re-hash next time.
    let _ = std::fs::write(&memo, stamp);
    Ok(())
}
