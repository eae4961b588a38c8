//! Encoders: ONNX models (through `ort`) that turn an item's text, image, audio or video into a
//! fixed-size vector.
//!
//! [`encode`] is the engine shared by the `encode` stage and `recdata encode`: it looks every
//! input up in the [`cache::EmbeddingCache`], decodes and preprocesses the misses on worker
//! threads while the model runs (a bounded queue between them), batches text by token length,
//! and returns one outcome per input: a vector, or a status saying why there is none.

pub mod audio;
pub mod cache;
pub mod check;
pub mod doctor;
pub mod image;
pub mod phash;
pub mod registry;
pub mod runtime;
pub mod standalone;
pub mod tensor;
pub mod text;
pub mod user_models;
pub mod video;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

pub use registry::{ModelSpec, Pooling, Resize, Task};
pub use runtime::Device;

use crate::error::{Error, Result};
use crate::progress::Reporter;

/// Why an input has no vector: a status (`decode_error`, `too_large`, `unsupported_format`,
/// `no_media`, `empty_text`, `silent`, `no_frames`, …) and a detail for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub status: String,
    pub detail: String,
}

impl EncodeError {
    pub fn new(status: &str, detail: impl Into<String>) -> Self {
        EncodeError {
            status: status.into(),
            detail: detail.into(),
        }
    }
}

/// A registry model with the options a manifest may override.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub spec: ModelSpec,
    pub files: registry::ModelFiles,
    pub pooling: Pooling,
    pub normalize: bool,
    pub resize: Resize,
    pub max_length: usize,
}

/// Options that change a model's output (and so belong to the cache key).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overrides {
    pub pooling: Option<Pooling>,
    pub normalize: Option<bool>,
    pub resize: Option<Resize>,
    pub max_length: Option<usize>,
}

impl Model {
    pub fn load(reg: &registry::Registry, id: &str, o: &Overrides) -> Result<Model> {
        let spec = reg.get(id)?.clone();
        let files = reg.files(id)?;
        Ok(Model {
            id: id.to_string(),
            pooling: o.pooling.unwrap_or(spec.pooling),
            normalize: o.normalize.unwrap_or(spec.normalize),
            resize: o.resize.unwrap_or(spec.resize),
            max_length: o.max_length.unwrap_or(spec.max_length),
            spec,
            files,
        })
    }
}

/// What kind of input an encoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Kind {
    Text,
    Image,
    /// `frames` frames sampled uniformly, encoded as images, mean-pooled.
    Video {
        frames: u32,
    },
    /// At most `max_seconds` of the clip.
    Audio {
        max_seconds: u32,
    },
}

impl Kind {
    pub fn task(self) -> Task {
        match self {
            Kind::Text => Task::Text,
            Kind::Image | Kind::Video { .. } => Task::Image,
            Kind::Audio { .. } => Task::Audio,
        }
    }
}

/// One input to encode.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    /// A file and the sha256 of its content.
    File {
        path: PathBuf,
        sha256: String,
    },
    /// No input (e.g. the media stage found no cover): the status is the outcome.
    Missing(EncodeError),
}

/// Counters of one run (not part of any dataset: a re-run differs only here).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunStats {
    pub inputs: u64,
    pub cached: u64,
    pub encoded: u64,
    /// Inputs with a vector, by the kind of device that computed it (`cpu`, `cuda`; a vector
    /// from the cache keeps the device of the run that computed it, `unrecorded` for cache
    /// chunks older than this record).
    pub computed_on: std::collections::BTreeMap<String, u64>,
    /// Session runs (batches through the model).
    pub model_calls: u64,
    pub seconds: f64,
}

/// The preprocessing description: part of the cache key and of the output's metadata.
pub fn preprocessing(model: &Model, kind: Kind) -> serde_json::Value {
    let s = &model.spec;
    let mut v = serde_json::json!({
        "task": kind,
        "pooling": model.pooling,
        "normalize": model.normalize,
        "output": s.output,
    });
    match kind.task() {
        Task::Text => {
            v["max_length"] = model.max_length.into();
            v["tokenizer_sha256"] = s.tokenizer_sha256.clone().into();
            v["truncation"] = "longest_first".into();
            // Only when set: the cache keys of prefix-less models stay what they were.
            if !s.prefix.is_empty() {
                v["prefix"] = s.prefix.clone().into();
            }
        }
        Task::Image => {
            v["size"] = s.size.into();
            v["resize"] = serde_json::to_value(model.resize).unwrap_or_default();
            v["filter"] = "bilinear-antialias, PIL fixed point".into();
            v["mean"] = s.mean.clone().into();
            v["std"] = s.std.clone().into();
            v["exif_orientation"] = true.into();
        }
        Task::Audio => {
            v["sample_rate"] = s.sample_rate.into();
            v["frontend"] = serde_json::to_value(s.frontend).unwrap_or_default();
            v["frontend_sha256"] = s.frontend_sha256.clone().into();
            v["resampler"] = "hann-windowed sinc, 16 zero crossings".into();
            if s.standardize {
                v["standardize"] = true.into();
            }
        }
    }
    v
}

/// Encodes `inputs` with `model`; one outcome per input, in order.
pub fn encode(
    model: &Model,
    kind: Kind,
    inputs: &[Input],
    opts: &RunOptions<'_>,
) -> Result<(Vec<cache::Outcome>, RunStats)> {
    let started = Instant::now();
    if model.spec.task != kind.task() {
        return Err(Error::Invalid(format!(
            "model `{}` is a {} model; it cannot encode {} inputs",
            model.id,
            model.spec.task.name(),
            kind.task().name()
        )));
    }
    let prep = preprocessing(model, kind).to_string();
    let mut store = cache::EmbeddingCache::open(
        &opts.cache_root,
        &model.spec.sha256,
        &prep,
        model.spec.dim,
        opts.device.kind(),
    )?;
    let keys: Vec<Option<cache::Key>> = inputs
        .iter()
        .map(|i| match i {
            Input::Text(t) => Some(cache::key(&[b"text", t.as_bytes()])),
            Input::File { sha256, .. } => Some(cache::key(&[b"file", sha256.as_bytes()])),
            Input::Missing(_) => None,
        })
        .collect();
    let wanted: HashSet<cache::Key> = keys.iter().flatten().copied().collect();
    let hits = store.lookup(&wanted)?;
    let mut out: Vec<Option<cache::Outcome>> = inputs
        .iter()
        .zip(&keys)
        .map(|(i, k)| match (i, k) {
            (Input::Missing(e), _) => Some(Err(e.clone())),
            (_, Some(k)) => hits.get(k).map(|h| h.0.clone()),
            _ => None,
        })
        .collect();
    let mut stats = RunStats {
        inputs: inputs.len() as u64,
        cached: out
            .iter()
            .zip(inputs)
            .filter(|(o, i)| o.is_some() && !matches!(i, Input::Missing(_)))
            .count() as u64,
        ..Default::default()
    };
    // Identical contents are encoded once.
    let mut seen = HashSet::new();
    let todo: Vec<usize> = (0..inputs.len())
        .filter(|&i| out[i].is_none() && keys[i].is_some_and(|k| seen.insert(k)))
        .collect();
    if !todo.is_empty() {
        let rt = runtime::get(opts.models_dir, opts.device)?;
        let bar = opts.progress.count_bar(
            todo.len() as u64,
            &format!("encoding {} with {}", opts.label, model.id),
        );
        let mut sink = Sink {
            keys: &keys,
            out: &mut out,
            store: &mut store,
            bar: &bar,
            stats: &mut stats,
            done: 0,
            total: todo.len(),
        };
        let threads = runtime::threads();
        match kind {
            Kind::Text => run_text(rt, model, inputs, &todo, opts, threads, &mut sink)?,
            Kind::Image => run_visual(rt, model, None, inputs, &todo, opts, threads, &mut sink)?,
            Kind::Video { frames } => run_visual(
                rt,
                model,
                Some(frames),
                inputs,
                &todo,
                opts,
                threads,
                &mut sink,
            )?,
            Kind::Audio { max_seconds } => run_audio(
                rt,
                model,
                max_seconds,
                inputs,
                &todo,
                opts,
                threads,
                &mut sink,
            )?,
        }
        store.flush()?;
        bar.finish_and_clear();
    }
    // Duplicated contents take the outcome of their first occurrence.
    let mut by_key: std::collections::HashMap<cache::Key, cache::Outcome> =
        std::collections::HashMap::new();
    for (o, k) in out.iter().zip(&keys) {
        if let (Some(o), Some(k)) = (o, k) {
            by_key.entry(*k).or_insert_with(|| o.clone());
        }
    }
    let outcomes =
        out.into_iter()
            .zip(&keys)
            .map(|(o, k)| match (o, k) {
                (Some(o), _) => Ok(o),
                (None, Some(k)) => by_key.get(k).cloned().ok_or_else(|| {
                    Error::Internal("an input was neither cached nor encoded".into())
                }),
                (None, None) => Err(Error::Internal("an input without a key".into())),
            })
            .collect::<Result<Vec<_>>>()?;
    for (o, k) in outcomes.iter().zip(&keys) {
        if o.is_ok() {
            let device = match k.and_then(|k| hits.get(&k)) {
                Some((_, d)) => d.clone().unwrap_or_else(|| "unrecorded".into()),
                None => opts.device.kind().to_owned(),
            };
            *stats.computed_on.entry(device).or_default() += 1;
        }
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((outcomes, stats))
}

/// Where outcomes go as they are computed: the result list, the cache, the progress bar.
struct Sink<'a> {
    keys: &'a [Option<cache::Key>],
    out: &'a mut [Option<cache::Outcome>],
    store: &'a mut cache::EmbeddingCache,
    bar: &'a indicatif::ProgressBar,
    stats: &'a mut RunStats,
    /// Inputs put so far, of `total` (the fault-injection `mid` point).
    done: usize,
    total: usize,
}

impl Sink<'_> {
    fn put(&mut self, i: usize, o: cache::Outcome) -> Result<()> {
        if o.is_ok() {
            self.stats.encoded += 1;
        }
        if let Some(k) = self.keys[i] {
            self.store.insert(k, o.clone())?;
        }
        self.out[i] = Some(o);
        self.bar.inc(1);
        self.done += 1;
        crate::fault::progress("encode", self.done, self.total)
    }
}

/// Prepares batch k+1 on worker threads (`prepare` per input, in parallel) while `consume`
/// runs batch k; at most two prepared batches wait in the queue, which bounds memory.
fn pipelined<T: Send>(
    todo: &[usize],
    batch: usize,
    prepare: impl Fn(usize) -> T + Sync,
    mut consume: impl FnMut(&[usize], Vec<T>) -> Result<()>,
) -> Result<()> {
    let batches: Vec<&[usize]> = todo.chunks(batch.max(1)).collect();
    std::thread::scope(|sc| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(2);
        let (batches_ref, prepare) = (&batches, &prepare);
        sc.spawn(move || {
            for b in batches_ref {
                let prepared: Vec<T> = b.par_iter().map(|&i| prepare(i)).collect();
                if tx.send(prepared).is_err() {
                    return;
                }
            }
        });
        for b in &batches {
            let prepared = rx
                .recv()
                .map_err(|_| Error::Internal("a preprocessing worker stopped".into()))?;
            consume(b, prepared)?;
        }
        Ok(())
    })
}

fn run_text(
    rt: &runtime::Runtime,
    model: &Model,
    inputs: &[Input],
    todo: &[usize],
    opts: &RunOptions<'_>,
    threads: usize,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let tok_path = model
        .files
        .tokenizer
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("text model `{}` has no tokenizer", model.id)))?;
    let session = rt.session(&model.files.onnx, opts.device, threads)?;
    let mut tm = text::TextModel::new(session, tok_path, model, model.max_length)?;
    let texts: Vec<&str> = todo
        .iter()
        .map(|&i| match &inputs[i] {
            Input::Text(t) => t.as_str(),
            _ => "",
        })
        .collect();
    let tokens = tm.tokenize(&texts)?;
    for (j, t) in texts.iter().enumerate() {
        if t.trim().is_empty() || tokens[j].ids.is_empty() {
            sink.put(
                todo[j],
                Err(EncodeError::new("empty_text", "the text is empty")),
            )?;
        }
    }
    for batch in text::length_batches(&tokens, opts.batch_size) {
        let refs: Vec<&text::Tokens> = batch.iter().map(|&j| &tokens[j]).collect();
        let vecs = tm.run(&refs)?;
        sink.stats.model_calls += 1;
        for (j, v) in batch.into_iter().zip(vecs) {
            sink.put(todo[j], Ok(v))?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_visual(
    rt: &runtime::Runtime,
    model: &Model,
    frames: Option<u32>,
    inputs: &[Input],
    todo: &[usize],
    opts: &RunOptions<'_>,
    threads: usize,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let session = rt.session(&model.files.onnx, opts.device, threads)?;
    let mut im = image::ImageModel::new(session, model)?;
    let prep = im.prep.clone();
    pipelined(
        todo,
        opts.batch_size,
        |i| prepare_visual(&inputs[i], &prep, frames),
        |batch, prepared| {
            // Every frame of every item in the batch goes through the model in one run.
            let flat: Vec<&[f32]> = prepared
                .iter()
                .flatten()
                .flat_map(|fr| fr.iter().map(Vec::as_slice))
                .collect();
            let vecs = if flat.is_empty() {
                Vec::new()
            } else {
                sink.stats.model_calls += 1;
                im.run_raw(&flat)?
            };
            let mut next = vecs.into_iter();
            for (&i, p) in batch.iter().zip(prepared) {
                let o = p.map(|fr| {
                    let v: Vec<Vec<f32>> = next.by_ref().take(fr.len()).collect();
                    im.finish(mean_pool(&v, model.spec.dim))
                });
                sink.put(i, o)?;
            }
            Ok(())
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn run_audio(
    rt: &runtime::Runtime,
    model: &Model,
    max_seconds: u32,
    inputs: &[Input],
    todo: &[usize],
    opts: &RunOptions<'_>,
    threads: usize,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let mel = match &model.files.frontend {
        Some(fe) => Some(rt.session(fe, opts.device, threads)?),
        None => None,
    };
    let emb = rt.session(&model.files.onnx, opts.device, threads)?;
    let mut am = audio::AudioModel::new(mel, emb, model)?;
    pipelined(
        todo,
        opts.batch_size,
        |i| match &inputs[i] {
            Input::File { path, .. } => fs_err::read(path)
                .map_err(|e| EncodeError::new("no_media", e.to_string()))
                .and_then(|b| audio::decode(b, f64::from(max_seconds))),
            Input::Missing(e) => Err(e.clone()),
            Input::Text(_) => Err(EncodeError::new("no_media", "not a file")),
        },
        |batch, decoded| {
            for (&i, d) in batch.iter().zip(decoded) {
                let o = match d {
                    Ok(pcm) => {
                        let r = am.encode(&pcm)?;
                        if r.is_ok() {
                            sink.stats.model_calls += 1;
                        }
                        r
                    }
                    Err(e) => Err(e),
                };
                sink.put(i, o)?;
            }
            Ok(())
        },
    )
}

/// Options of one encode run.
pub struct RunOptions<'a> {
    pub models_dir: Option<&'a Path>,
    pub device: Device,
    pub batch_size: usize,
    pub cache_root: PathBuf,
    pub progress: &'a Reporter,
    /// What is being encoded, for the progress bar.
    pub label: String,
}

/// Decodes and preprocesses an image (one tensor) or a video (one tensor per frame).
fn prepare_visual(
    input: &Input,
    prep: &image::ImagePrep,
    frames: Option<u32>,
) -> std::result::Result<Vec<Vec<f32>>, EncodeError> {
    let path = match input {
        Input::File { path, .. } => path,
        Input::Missing(e) => return Err(e.clone()),
        Input::Text(_) => return Err(EncodeError::new("no_media", "not a file")),
    };
    match frames {
        None => {
            let bytes =
                fs_err::read(path).map_err(|e| EncodeError::new("no_media", e.to_string()))?;
            let img = image::decode(&bytes)?;
            Ok(vec![image::preprocess(&img, prep)])
        }
        Some(n) => {
            let imgs = video::sample_frames(path, n)?;
            Ok(imgs.iter().map(|f| image::preprocess(f, prep)).collect())
        }
    }
}

/// The mean of `rows` (zeros when there are none).
pub fn mean_pool(rows: &[Vec<f32>], dim: usize) -> Vec<f32> {
    let mut acc = vec![0f32; dim];
    for r in rows {
        acc.iter_mut().zip(r).for_each(|(a, x)| *a += x);
    }
    if !rows.is_empty() {
        let n = rows.len() as f32;
        acc.iter_mut().for_each(|a| *a /= n);
    }
    acc
}

pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// The named input, or the model's first when `want` is empty.
pub fn input_name(s: &ort::session::Session, want: &str, id: &str) -> Result<String> {
    pick(
        s.inputs().iter().map(|o| o.name().to_string()).collect(),
        want,
        id,
        "input",
    )
}

/// The named output, or the model's first when `want` is empty.
pub fn output_name(s: &ort::session::Session, want: &str, id: &str) -> Result<String> {
    pick(
        s.outputs().iter().map(|o| o.name().to_string()).collect(),
        want,
        id,
        "output",
    )
}

fn pick(names: Vec<String>, want: &str, id: &str, what: &str) -> Result<String> {
    if want.is_empty() {
        return names
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid(format!("model `{id}` has no {what}")));
    }
    if names.iter().any(|n| n == want) {
        Ok(want.to_string())
    } else {
        Err(Error::Invalid(format!(
            "model `{id}` has no {what} `{want}` (it has: {})",
            names.join(", ")
        )))
    }
}
