//! The caption stage ("describe what you see"): each item's image, or frames sampled from its
//! video, goes with a prompt to an MLLM behind an OpenAI-compatible endpoint. Captions are
//! stored with the model, the prompt's sha256 and the endpoint (`captions/<name>.parquet`), and
//! an encoder with `caption = "<name>"` embeds them like any text field.
//!
//! Answers are cached by (content sha256 of the media, model, prompt, generation settings) in
//! `$RECDATA_CACHE/captions`, appended line by line, so a killed run resumes and a re-run asks
//! nothing it already has. Failed items are kept with their status and never cached: the next
//! run of the stage (a new item set, or `recdata build --retry-failed`) asks them again.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, StringArray, UInt32Array};
use serde_json::json;

use crate::encode::EncodeError;
use crate::error::{Error, Result};
use crate::fetch::chat::{ChatAnswer, ChatOptions, ChatRequest};
use crate::io::parquet::{Level, column, read_batch, write_table};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;
use crate::util::hash::{Fingerprint, sha256_hex};

pub const REPORT: &str = "caption.json";

pub fn table_path(name: &str) -> String {
    format!("captions/{name}.parquet")
}

/// One `[[stages.caption]]` entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaptionConfig {
    pub name: String,
    /// `image` or `video` (from the media stage).
    pub media: String,
    pub prompt: String,
    /// Frames sent for a video.
    pub frames: u32,
    /// Images larger than this (longest side, px) are downscaled and sent as JPEG.
    pub max_side: u32,
    pub chat: ChatOptions,
    /// Environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
}

impl CaptionConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<CaptionConfig> {
        let name = super::read_output_name(r, diags, "caption", "captions/<name>.parquet");
        let media = r.choice(diags, "media", &["image", "video"]);
        if media.is_none() && !r.has("media") {
            r.missing(diags, "media", "`image` or `video`");
        }
        let endpoint = r.required_str(
            diags,
            "endpoint",
            "the OpenAI-compatible base URL, e.g. \"http://127.0.0.1:8000/v1\"",
        );
        if let Some(e) = &endpoint
            && !(e.value.starts_with("http://") || e.value.starts_with("https://"))
        {
            diags.push(Diagnostic::error(
                "`endpoint` must be an http:// or https:// URL",
                Some(e.span),
                "not a URL",
            ));
        }
        let model = r.required_str(diags, "model", "the model name the endpoint serves");
        let prompt = r.required_str(diags, "prompt", "the instruction sent with each image");
        let max_tokens = r
            .int(diags, "max_tokens", 1, 32_768)
            .map_or(128, |v| v.value as u32);
        let temperature = r
            .float(diags, "temperature", 0.0, 2.0)
            .map_or(0.0, |v| v.value);
        let concurrency = r
            .int(diags, "concurrency", 1, 1024)
            .map_or(8, |v| v.value as usize);
        let timeout = r
            .float(diags, "timeout_s", 0.001, 3600.0)
            .map_or(120.0, |v| v.value);
        let retries = r
            .int(diags, "retries", 0, 100)
            .map_or(4, |v| v.value as u32);
        let backoff = r
            .float(diags, "backoff_s", 0.0, 600.0)
            .map_or(1.0, |v| v.value);
        let frames = r.int(diags, "frames", 1, 64).map_or(4, |v| v.value as u32);
        let max_side = r
            .int(diags, "max_side", 32, 8192)
            .map_or(768, |v| v.value as u32);
        let api_key_env = r.str(diags, "api_key_env").map(|s| s.value);
        Some(CaptionConfig {
            name: name?.value,
            media: media?.value.to_string(),
            prompt: prompt?.value,
            frames,
            max_side,
            chat: ChatOptions {
                endpoint: endpoint?.value,
                model: model?.value,
                max_tokens,
                temperature,
                concurrency,
                api_key: None,
                timeout: Duration::from_secs_f64(timeout),
                retries,
                backoff_base: Duration::from_secs_f64(backoff),
                retry_after_max: Duration::from_secs(60),
            },
            api_key_env,
        })
    }

    /// What makes two answers interchangeable (the cache key's prefix and the fingerprint).
    pub fn identity(&self) -> String {
        json!({
            "model": self.chat.model,
            "prompt": self.prompt,
            "max_tokens": self.chat.max_tokens,
            "temperature": self.chat.temperature,
            "media": self.media,
            "frames": self.frames,
            "max_side": self.max_side,
        })
        .to_string()
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaptionReport {
    pub name: String,
    pub media: String,
    pub model: String,
    pub endpoint: String,
    pub prompt: String,
    pub prompt_sha256: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub file: String,
    pub items: u64,
    pub ok: u64,
    pub coverage: f64,
    pub missing_by_status: BTreeMap<String, u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub examples: Vec<serde_json::Value>,
}

/// A cached answer (one JSON line).
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedAnswer {
    key: String,
    caption: String,
    model: Option<String>,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
}

struct ItemInput {
    id: u32,
    /// The media file and its sha256, or why there is none.
    media: std::result::Result<(PathBuf, String), EncodeError>,
}

pub struct StageOptions<'a> {
    pub cache_root: PathBuf,
    /// Appends new answers to `<key>.<tag>.jsonl` instead of `<key>.jsonl`: each shard of a
    /// sharded build writes its own file (appends from several hosts to one file on a shared
    /// filesystem can interleave); every file of the key is read.
    pub cache_tag: Option<String>,
    pub progress: &'a Reporter,
}

/// Captions every item for each entry into `dir`.
pub fn run(
    cfgs: &[CaptionConfig],
    filter_dir: &Path,
    media: Option<(&Path, &crate::fetch::cache::Cache)>,
    dir: &Path,
    opts: &StageOptions<'_>,
) -> Result<()> {
    fs_err::create_dir_all(dir.join("captions"))?;
    let items = read_batch(&filter_dir.join("items.parquet"))?;
    let ids: &UInt32Array = column(&items, "item_id")?;
    let ids = ids.values().to_vec();
    let mut reports = Vec::new();
    for c in cfgs {
        let (mdir, mcache) = media.ok_or_else(|| {
            Error::Invalid(format!(
                "[[stages.caption]] `{}` captions the items' {}, but the manifest has no [[stages.media]]",
                c.name, c.media
            ))
        })?;
        if c.media == "video" {
            crate::encode::video::check_ffmpeg()?;
        }
        let mut chat = c.chat.clone();
        if let Some(var) = &c.api_key_env {
            chat.api_key = Some(std::env::var(var).map_err(|_| {
                Error::Invalid(format!(
                    "[[stages.caption]] `{}`: api_key_env = \"{var}\" but that environment variable is not set",
                    c.name
                ))
            })?);
        }
        let inputs = media_inputs(mdir, mcache, &c.media, &ids)?;
        let report = caption_one(c, &chat, &inputs, dir, opts)?;
        reports.push(report);
    }
    fs_err::write(dir.join(REPORT), serde_json::to_vec_pretty(&reports)?)?;
    Ok(())
}

fn media_inputs(
    mdir: &Path,
    cache: &crate::fetch::cache::Cache,
    modality: &str,
    ids: &[u32],
) -> Result<Vec<ItemInput>> {
    Ok(super::media::item_files(mdir, cache, modality, ids)?
        .into_iter()
        .zip(ids)
        .map(|(media, &id)| ItemInput { id, media })
        .collect())
}

/// The images sent for an item: the file itself when small enough and JPEG/PNG, else a
/// downscaled JPEG; for a video, its sampled frames.
fn images_for(
    c: &CaptionConfig,
    path: &Path,
) -> std::result::Result<Vec<(String, Vec<u8>)>, EncodeError> {
    let frames = if c.media == "video" {
        crate::encode::video::sample_frames(path, c.frames)?
    } else {
        let bytes = fs_err::read(path).map_err(|e| EncodeError::new("no_media", e.to_string()))?;
        let fmt = image::guess_format(&bytes).ok();
        let mime = match fmt {
            Some(image::ImageFormat::Jpeg) => Some("image/jpeg"),
            Some(image::ImageFormat::Png) => Some("image/png"),
            _ => None,
        };
        let img = crate::encode::image::decode(&bytes)?;
        if let Some(mime) = mime
            && img.width().max(img.height()) <= c.max_side
        {
            return Ok(vec![(mime.to_string(), bytes)]);
        }
        vec![img]
    };
    frames
        .into_iter()
        .map(|f| {
            let f = if f.width().max(f.height()) > c.max_side {
                let s = f64::from(c.max_side) / f64::from(f.width().max(f.height()));
                image::imageops::resize(
                    &f,
                    ((f64::from(f.width()) * s).round() as u32).max(1),
                    ((f64::from(f.height()) * s).round() as u32).max(1),
                    image::imageops::FilterType::Triangle,
                )
            } else {
                f
            };
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(&f)
                .map_err(|e| EncodeError::new("decode_error", e.to_string()))?;
            Ok(("image/jpeg".to_string(), out))
        })
        .collect()
}

// Long on purpose: one captioner's lifecycle in order: the answer cache, the items to ask, lazily
// built requests, the bounded concurrent calls and the table; the steps hand each other streams and
// counters.
fn caption_one(
    c: &CaptionConfig,
    chat: &ChatOptions,
    inputs: &[ItemInput],
    dir: &Path,
    opts: &StageOptions<'_>,
) -> Result<CaptionReport> {
    let p = opts.progress;
    let identity = c.identity();
    let mut fp = Fingerprint::new("captions");
    fp.part("identity", identity.as_bytes());
    let fp = fp.finish();
    let cache_dir = opts.cache_root.join("captions");
    fs_err::create_dir_all(&cache_dir)?;
    let key = &fp[..24];
    let cache_file = cache_dir.join(match &opts.cache_tag {
        Some(tag) => format!("{key}.{tag}.jsonl"),
        None => format!("{key}.jsonl"),
    });
    let mut cached: HashMap<String, CachedAnswer> = HashMap::new();
    // `<key>.jsonl` and every shard's `<key>.<tag>.jsonl`, in name order.
    let mut files: Vec<PathBuf> = fs_err::read_dir(&cache_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(key) && n.ends_with(".jsonl"))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let Ok(text) = fs_err::read_to_string(&f) else {
            continue;
        };
        // A line cut off by a kill does not parse and is simply asked again.
        for line in text.lines() {
            if let Ok(a) = serde_json::from_str::<CachedAnswer>(line) {
                cached.entry(a.key.clone()).or_insert(a);
            }
        }
    }
    let key_of = |sha: &str| sha256_hex(format!("{fp}\u{1f}{sha}").as_bytes());
    let mut answers: Vec<Option<ChatAnswer>> = vec![None; inputs.len()];
    let mut todo = Vec::new();
    let mut seen_keys: HashMap<String, usize> = HashMap::new();
    for (i, it) in inputs.iter().enumerate() {
        match &it.media {
            Err(e) => {
                answers[i] = Some(ChatAnswer {
                    status: e.status.clone(),
                    detail: e.detail.clone(),
                    ..Default::default()
                })
            }
            Ok((_, sha)) => {
                let k = key_of(sha);
                if let Some(a) = cached.get(&k) {
                    answers[i] = Some(ChatAnswer {
                        text: Some(a.caption.clone()),
                        status: "ok".into(),
                        detail: String::new(),
                        model: a.model.clone(),
                        prompt_tokens: a.prompt_tokens,
                        completion_tokens: a.completion_tokens,
                        attempts: 0,
                    });
                } else if let std::collections::hash_map::Entry::Vacant(e) = seen_keys.entry(k) {
                    e.insert(i);
                    todo.push(i);
                }
            }
        }
    }
    let from_cache = answers
        .iter()
        .filter(|a| a.as_ref().is_some_and(|a| a.status == "ok"))
        .count();
    p.info(format!(
        "Captioning {} item(s) with {} at {} ({} from the cache)",
        todo.len(),
        chat.model,
        chat.endpoint,
        from_cache
    ));
    let bar = p.count_bar(todo.len() as u64, &format!("captioning {}", c.name));
    let mut log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cache_file)?;
    let mut requests_sent = 0u64;
    let mut tokens = (0u64, 0u64);
    // Items whose media cannot be prepared while the requests are built lazily.
    let failed_prep = std::cell::RefCell::new(Vec::<(usize, EncodeError)>::new());
    {
        let todo_ref = &todo;
        let reqs = todo_ref.iter().filter_map(|&i| {
            let Ok((path, _)) = &inputs[i].media else {
                return None;
            };
            match images_for(c, path) {
                Ok(images) => Some((
                    i,
                    ChatRequest {
                        prompt: c.prompt.clone(),
                        images,
                    },
                )),
                Err(e) => {
                    // Recorded below: an item whose media cannot be read gets its status.
                    failed_prep.borrow_mut().push((i, e));
                    None
                }
            }
        });
        let (mut answered, total) = (0usize, todo.len());
        crate::fetch::chat::ask_all(chat, reqs, |i, a| {
            requests_sent += u64::from(a.attempts);
            bar.inc(1);
            if a.status == "ok" {
                tokens.0 += u64::from(a.prompt_tokens.unwrap_or(0));
                tokens.1 += u64::from(a.completion_tokens.unwrap_or(0));
                if let (Ok((_, sha)), Some(text)) = (&inputs[i].media, &a.text) {
                    let line = serde_json::to_string(&CachedAnswer {
                        key: key_of(sha),
                        caption: text.clone(),
                        model: a.model.clone(),
                        prompt_tokens: a.prompt_tokens,
                        completion_tokens: a.completion_tokens,
                    })?;
                    // One write per line: appends never interleave within a line.
                    log.write_all(format!("{line}\n").as_bytes())?;
                    log.flush()?;
                }
            }
            answers[i] = Some(a);
            answered += 1;
            crate::fault::progress("caption", answered, total)
        })?;
    }
    bar.finish_and_clear();
    for (i, e) in failed_prep.into_inner() {
        answers[i] = Some(ChatAnswer {
            status: e.status,
            detail: e.detail,
            ..Default::default()
        });
    }
    // Items sharing a file share its answer.
    for (i, it) in inputs.iter().enumerate() {
        if answers[i].is_none()
            && let Ok((_, sha)) = &it.media
            && let Some(&j) = seen_keys.get(&key_of(sha))
        {
            answers[i] = answers[j].clone();
        }
    }
    p.event(
        "caption",
        json!({ "captioner": c.name, "asked": todo.len(), "cached": from_cache, "requests": requests_sent, "prompt_tokens": tokens.0, "completion_tokens": tokens.1 }),
    );
    let prompt_sha = sha256_hex(c.prompt.as_bytes());
    let answers: Vec<ChatAnswer> = answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| ChatAnswer {
                status: "internal".into(),
                ..Default::default()
            })
        })
        .collect();
    let mut missing = BTreeMap::new();
    let mut examples = Vec::new();
    let (mut pt, mut ct) = (0u64, 0u64);
    for (it, a) in inputs.iter().zip(&answers) {
        if a.status == "ok" {
            pt += u64::from(a.prompt_tokens.unwrap_or(0));
            ct += u64::from(a.completion_tokens.unwrap_or(0));
        } else {
            *missing.entry(a.status.clone()).or_insert(0u64) += 1;
            if examples.len() < 10 {
                examples.push(json!({ "item_id": it.id, "status": a.status, "detail": a.detail }));
            }
        }
    }
    let ok = answers.iter().filter(|a| a.status == "ok").count() as u64;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(inputs.iter().map(|i| i.id))),
        Arc::new(StringArray::from(
            answers.iter().map(|a| a.text.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            answers.iter().map(|a| a.status.as_str()),
        )),
        Arc::new(StringArray::from(
            answers
                .iter()
                .map(|a| (a.status != "ok").then(|| a.detail.clone()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            answers
                .iter()
                .map(|a| a.model.clone().unwrap_or_else(|| chat.model.clone())),
        )),
        Arc::new(StringArray::from_iter_values(
            answers.iter().map(|_| prompt_sha.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            answers.iter().map(|_| chat.endpoint.as_str()),
        )),
        Arc::new(UInt32Array::from(
            answers.iter().map(|a| a.prompt_tokens).collect::<Vec<_>>(),
        )),
        Arc::new(UInt32Array::from(
            answers
                .iter()
                .map(|a| a.completion_tokens)
                .collect::<Vec<_>>(),
        )),
    ];
    let file = table_path(&c.name);
    write_table(
        &dir.join(&file),
        "captions",
        "",
        cols,
        &[
            ("recdata.captioner", c.name.clone()),
            ("recdata.model", chat.model.clone()),
            ("recdata.prompt", c.prompt.clone()),
            ("recdata.prompt_sha256", prompt_sha.clone()),
            ("recdata.endpoint", chat.endpoint.clone()),
        ],
        Level::Publish,
    )?;
    Ok(CaptionReport {
        name: c.name.clone(),
        media: c.media.clone(),
        model: chat.model.clone(),
        endpoint: chat.endpoint.clone(),
        prompt: c.prompt.clone(),
        prompt_sha256: prompt_sha,
        max_tokens: chat.max_tokens,
        temperature: chat.temperature,
        file,
        items: inputs.len() as u64,
        ok,
        coverage: if inputs.is_empty() {
            0.0
        } else {
            ok as f64 / inputs.len() as f64
        },
        missing_by_status: missing,
        prompt_tokens: pt,
        completion_tokens: ct,
        examples,
    })
}

pub fn load_reports(dir: &Path) -> Result<Vec<CaptionReport>> {
    Ok(serde_json::from_slice(&fs_err::read(dir.join(REPORT))?)?)
}
