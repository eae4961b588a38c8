//! The stage chain and its runner.
//!
//! `source → normalize → filter → split → publish`. Each stage has a fingerprint (tool version,
//! its typed config, its input's fingerprint; for normalize the sha256 of every raw file); its
//! output lives in `.cache/<stage>-<fingerprint>/`, written to a temporary directory and renamed
//! into place when complete. A stage whose directory exists is skipped, so a re-run is cheap and
//! a build killed at any point resumes from the last finished stage with identical results.

pub mod caption;
pub mod diagnostics;
pub mod encode;
pub mod filter;
pub mod media;
pub mod normalize;
pub mod plan;
pub mod publish;
pub mod sample_split;
pub mod semantic_ids;
pub mod shard;
pub mod source;
pub mod split;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, Int32Array, Int32DictionaryArray, RecordBatch, StringArray, UInt32Array,
};
use serde_json::json;

use crate::error::Result;
use crate::fault::{self, When};
use crate::io::parquet::{column, read_batch};
use crate::io::store::{self, DatasetLock};
use crate::manifest::Manifest;
use crate::progress::Reporter;
use crate::sources::Normalized;
use crate::util::hash::sha256_file;
use crate::util::input::Stamp;

pub use crate::TOOL_VERSION;

pub struct BuildOptions {
    pub data_dir: PathBuf,
    /// The content-addressed download cache (`$RECDATA_CACHE`).
    pub cache_dir: PathBuf,
    /// Media fetch: redo the items whose previous fetch failed.
    pub retry_failed: bool,
    pub progress: Reporter,
    /// Where the encoders run (`--device`).
    pub device: crate::encode::Device,
    /// `--batch-size`: overrides every encoder's batch size.
    pub batch_size: Option<usize>,
    /// `--models`: the model registry directory (else found from the manifest / cwd).
    pub models_dir: Option<PathBuf>,
    /// A shard of a sharded build, or its merge (`build --shard K/N`, `merge`).
    pub sharding: Sharding,
}

/// How this run takes part in a sharded build (see [`shard`]).
#[derive(Debug, Clone, Copy, Default)]
pub enum Sharding {
    /// The whole build in this process.
    #[default]
    Whole,
    /// Only the per-item stages, for the items of this shard; nothing is published.
    Shard(shard::Shard),
    /// Checks every shard finished, takes over their work and publishes (`shards`: N, when
    /// several splits of the same plan exist).
    Merge { shards: Option<u32> },
}

/// A raw input file as recorded in `dataset.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishStatus {
    Published,
    Unchanged,
    /// A shard finished its items (`build --shard`); `merge` publishes.
    ShardComplete,
}

#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub dir: PathBuf,
    pub status: PublishStatus,
    pub dataset_json: serde_json::Value,
    /// Diagnostics thresholds the dataset fails (the build exits 1 with these reasons).
    pub check_failures: Vec<String>,
}

/// `.cache/inputs.json`: each input's sha256 by canonical path, valid while its stamp (inode,
/// size, mtime, ctime) is unchanged, so an unchanged 2 GB file is not re-read on every build and
/// a file rewritten to the same size with its mtime set back is still re-hashed.
#[derive(Default)]
struct InputMemo {
    entries: BTreeMap<String, MemoEntry>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct MemoEntry {
    stamp: Stamp,
    sha256: String,
}

/// An input as it is now: its memo key (canonical path) and stamp. Refuses what is not a
/// regular file (a FIFO or a link to `/dev/zero` would hang the hashing).
fn stamp(f: &Path) -> Result<(String, Stamp)> {
    let s = Stamp::read(f)?;
    let key = fs_err::canonicalize(f)?.display().to_string();
    Ok((key, s))
}

impl InputMemo {
    fn load(cache: &Path) -> Self {
        InputMemo {
            entries: fs_err::read(cache.join("inputs.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
        }
    }

    fn get(&self, (key, stamp): &(String, Stamp)) -> Option<&str> {
        self.entries
            .get(key)
            .filter(|m| m.stamp == *stamp)
            .map(|m| m.sha256.as_str())
    }

    fn save(&self, cache: &Path) -> Result<()> {
        fs_err::create_dir_all(cache)?;
        let tmp = store::temp_path_for(&cache.join("inputs.json"));
        fs_err::write(&tmp, serde_json::to_vec_pretty(&self.entries)?)?;
        fs_err::rename(&tmp, cache.join("inputs.json"))?;
        Ok(())
    }
}

/// The inputs as they were before hashing and parsing began: after both, each must be unchanged
/// ([`crate::util::input::check_unchanged`]), so the recorded sha256 describes the parsed bytes.
struct InputStamps(Vec<(PathBuf, String, Stamp)>);

impl InputStamps {
    fn take(src: &Path, files: &[PathBuf]) -> Result<Self> {
        files
            .iter()
            .map(|f| {
                let shown = f.strip_prefix(src).unwrap_or(f).display().to_string();
                Ok((f.clone(), shown, Stamp::read(f)?))
            })
            .collect::<Result<_>>()
            .map(InputStamps)
    }

    fn check_unchanged(&self) -> Result<()> {
        for (f, shown, s) in &self.0 {
            crate::util::input::check_unchanged(f, shown, s)?;
        }
        Ok(())
    }
}

/// sha256 of each input, from the memo where the file is unchanged. Each file is hashed only if
/// its stamp still equals the one in `stamps` afterwards.
fn hash_inputs(
    cache: &Path,
    src: &Path,
    stamps: &InputStamps,
    progress: &Reporter,
) -> Result<Vec<InputFile>> {
    let mut memo = InputMemo::load(cache);
    let mut out = Vec::new();
    for (f, shown, before) in &stamps.0 {
        let st = stamp(f)?;
        let sha = match memo.get(&st) {
            Some(sha) => sha.to_owned(),
            None => {
                progress.info(format!("Hashing {}", f.display()));
                let (sha, _) = sha256_file(f)?;
                crate::util::input::check_unchanged(f, shown, before)?;
                let (key, stamp) = st.clone();
                memo.entries.insert(
                    key,
                    MemoEntry {
                        stamp,
                        sha256: sha.clone(),
                    },
                );
                sha
            }
        };
        out.push(InputFile {
            file: f.strip_prefix(src).unwrap_or(f).display().to_string(),
            bytes: st.1.bytes,
            sha256: sha,
        });
    }
    memo.save(cache)?;
    Ok(out)
}

/// Whether every input's sha256 is memoized for its current stamp — a warm build.
fn inputs_memoized(cache: &Path, files: &[PathBuf]) -> bool {
    let memo = InputMemo::load(cache);
    files
        .iter()
        .all(|f| stamp(f).is_ok_and(|st| memo.get(&st).is_some()))
}

/// Runs `work` into a temporary directory and commits it to `dir` by rename, with the stage's
/// fault-injection points ([`crate::fault`]) before, between and after. The sha256 of every
/// output file is recorded before the commit ([`store::record_files`]), so a later build can
/// tell an intact cached output from a damaged one ([`reuse`]).
pub(crate) fn run_stage(
    stage: &str,
    dir: &Path,
    work: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    run_stage_checked(stage, dir, work, || Ok(()))
}

/// [`run_stage`] with a last check before the commit (the inputs are still the parsed ones).
fn run_stage_checked(
    stage: &str,
    dir: &Path,
    work: impl FnOnce(&Path) -> Result<()>,
    before_commit: impl FnOnce() -> Result<()>,
) -> Result<()> {
    fault::at(stage, When::Start)?;
    let tmp = store::temp_dir_for(dir)?;
    work(&tmp)?;
    store::record_files(&tmp)?;
    fault::at(stage, When::Mid)?;
    before_commit()?;
    store::commit_dir(&tmp, dir)?;
    fault::at(stage, When::End)
}

/// Whether the cached output of `stage` in `dir` can be used: it exists, is complete (`done`,
/// when given, is the file its stage writes last) and every file still has the sha256 recorded
/// when it was written. A damaged output is removed, with a warning, for the caller to rebuild:
/// published versions hard-link these files, and damage must not be published again.
pub(crate) fn reuse(stage: &str, dir: &Path, done: Option<&str>, p: &Reporter) -> Result<bool> {
    if !dir.is_dir() || done.is_some_and(|f| !dir.join(f).is_file()) {
        return Ok(false);
    }
    match store::check_files(dir)? {
        None => Ok(true),
        Some(why) => {
            p.warn(format!(
                "the cached {stage} output {} is damaged ({why}): rebuilding it",
                dir.display()
            ));
            fs_err::remove_dir_all(dir)?;
            Ok(false)
        }
    }
}

/// A stage's wall clock and peak resident memory (the process-wide mark, reset at its start).
pub(crate) struct StageClock(Instant);

impl StageClock {
    pub(crate) fn start() -> Self {
        crate::util::rss::reset_peak();
        StageClock(Instant::now())
    }
}

pub(crate) fn stage_event(p: &Reporter, stage: &str, fp: &str, cached: bool, clock: StageClock) {
    let secs = clock.0.elapsed().as_secs_f64();
    let peak = crate::util::rss::peak_bytes();
    if cached {
        p.info(format!("Cached {stage} ({})", &fp[..12]));
    } else {
        let mem = peak.map_or(String::new(), |b| {
            format!(", peak {}", crate::fetch::http::human_bytes(b))
        });
        p.info(format!("Finished {stage} in {secs:.1}s{mem}"));
    }
    p.event(
        "stage",
        json!({ "stage": stage, "fingerprint": fp, "cached": cached, "seconds": secs, "peak_rss_bytes": peak }),
    );
}

pub fn dict_array(value: &str, n: usize) -> Result<ArrayRef> {
    let keys = Int32Array::from(vec![0i32; n]);
    Ok(Arc::new(Int32DictionaryArray::try_new(
        keys,
        Arc::new(StringArray::from(vec![value])),
    )?))
}

/// The plan of a build of `m`, without running anything: each stage's fingerprint, whether its
/// cached output is there and intact, and otherwise why it will run. Inputs are hashed (from
/// the memo where unchanged); remote files must already be in the download cache.
pub fn dry_run(m: &Manifest, opts: &BuildOptions) -> Result<Vec<plan::StagePlan>> {
    let ds_dir = opts.data_dir.join(&m.dataset.name);
    let cache = ds_dir.join(".cache");
    let src = match &m.source.path {
        Some(p) => p.clone(),
        None => {
            let dl = crate::fetch::cache::Cache::open(opts.cache_dir.clone())?;
            let missing = source::not_downloaded(m, &dl)?;
            if !missing.is_empty() {
                return Err(crate::error::Error::Invalid(format!(
                    "{} source file(s) are not downloaded yet ({}), so the plan cannot hash them\n  \
                     hint: `recdata fetch {}` downloads and verifies them without building",
                    missing.len(),
                    missing.join(", "),
                    m.path.display()
                )));
            }
            source::materialize(m, &dl, &cache, &Reporter::silent())?.0
        }
    };
    let input_paths = m.source.corpus.input_files(&src)?;
    let stamps = InputStamps::take(&src, &input_paths)?;
    let inputs = hash_inputs(&cache, &src, &stamps, &opts.progress)?;
    let last = plan::LastPlan::load(&cache);
    let mut planned = plan::make(m, &cache, &inputs, opts.models_dir.as_deref(), &last, true)?;
    // Publishing an existing version is a no-op when nothing upstream runs.
    let upstream_runs = planned.stages.iter().any(|s| {
        s.stage != plan::StageId::Publish && matches!(s.state, plan::CacheState::Run { .. })
    });
    if let Some(publish) = planned.stages.last_mut()
        && ds_dir
            .join(&m.dataset.version)
            .join("dataset.json")
            .is_file()
    {
        publish.state = if upstream_runs {
            plan::CacheState::Run {
                why: vec![format!(
                    "version {} exists: the build checks that it comes out identical",
                    m.dataset.version
                )],
            }
        } else {
            plan::CacheState::Cached
        };
    }
    Ok(planned.stages)
}

/// Builds the dataset described by `m` and publishes it.
pub fn build(m: &Manifest, opts: &BuildOptions) -> Result<BuildOutcome> {
    let p = &opts.progress;
    let ds_dir = opts.data_dir.join(&m.dataset.name);
    // Shards wait for each other over the shared stages (the first does them, the rest find
    // them cached) and let go of the dataset before their own expensive work.
    let mut lock = Some(match opts.sharding {
        Sharding::Shard(_) => DatasetLock::wait(&ds_dir)?,
        _ => DatasetLock::acquire(&ds_dir)?,
    });
    store::clean_partial(&ds_dir)?;
    let cache = ds_dir.join(".cache");
    let corpus = &m.source.corpus;

    let (src, remote) = match &m.source.path {
        Some(p) => (p.clone(), None),
        None => {
            let dl = crate::fetch::cache::Cache::open(opts.cache_dir.clone())?;
            let (dir, files) = source::materialize(m, &dl, &cache, p)?;
            (dir, Some(files))
        }
    };
    let input_paths = corpus.input_files(&src)?;
    // Taken before any byte is hashed or parsed; checked again after both (a file rewritten
    // meanwhile fails the build instead of being recorded under the old file's hash).
    let stamps = InputStamps::take(&src, &input_paths)?;
    let t_norm = StageClock::start();
    // Cold inputs (not hashed before): hash them while the adapter already parses them; the
    // fingerprint decides afterwards whether the parse is used or a cached one is.
    let (inputs, mut speculative) = if inputs_memoized(&cache, &input_paths) {
        (hash_inputs(&cache, &src, &stamps, p)?, None)
    } else {
        p.info(format!(
            "Normalizing {} from {} (hashing the inputs alongside)",
            corpus.name(),
            src.display()
        ));
        std::thread::scope(|sc| -> Result<_> {
            let h = sc.spawn(|| hash_inputs(&cache, &src, &stamps, p));
            let n = corpus.normalize(&src, p);
            let inputs = h.join().map_err(|_| {
                crate::error::Error::Internal("input hashing thread panicked".into())
            })??;
            Ok((inputs, Some(n?)))
        })?
    };

    let last = plan::LastPlan::load(&cache);
    let planned = plan::make(m, &cache, &inputs, opts.models_dir.as_deref(), &last, false)?;
    let fp_of = |id: plan::StageId| planned.fp(id).map(str::to_owned);
    let fp_norm = fp_of(plan::StageId::Normalize).unwrap_or_default();
    let fp_filter = fp_of(plan::StageId::Filter).unwrap_or_default();
    let fp_split = fp_of(plan::StageId::Split);
    let norm_dir = cache.join(format!("normalize-{}", &fp_norm[..16]));
    let filter_dir = cache.join(format!("filter-{}", &fp_filter[..16]));
    let split_dir = fp_split
        .as_ref()
        .map(|fp| cache.join(format!("split-{}", &fp[..16])));
    let meta = [
        ("recdata.dataset", m.dataset.name.clone()),
        ("recdata.version", m.dataset.version.clone()),
    ];

    // normalize, then filter. When normalize runs, its cache is written on a second thread
    // while filter works on the in-memory result (the two outputs are independent).
    let t = StageClock::start();
    let mut filtered: Option<filter::Filtered> = None;
    let norm_cached = reuse("normalize", &norm_dir, None, p)?;
    let filter_cached = reuse("filter", &filter_dir, None, p)?;
    let run_filter = |n: &Normalized| -> Result<filter::Filtered> {
        check_time_config(m, n.timeless)?;
        let f = filter::run(&m.filter, n, p)?;
        filter::check_not_empty(&m.filter, n, &f)?;
        run_stage_checked(
            "filter",
            &filter_dir,
            |tmp| publish::write_filtered(tmp, corpus.name(), n, &f, &meta),
            || stamps.check_unchanged(),
        )?;
        Ok(f)
    };
    if !norm_cached {
        let n = match speculative.take() {
            Some(n) => n,
            None => {
                p.info(format!(
                    "Normalizing {} from {}",
                    corpus.name(),
                    src.display()
                ));
                corpus.normalize(&src, p)?
            }
        };
        // The parse is over: the hashed bytes must be the parsed ones, and they must hold rows.
        stamps.check_unchanged()?;
        crate::sources::check_usable(corpus, &n, &input_paths, p)?;
        stage_event(p, "normalize", &fp_norm, false, t_norm);
        let t = StageClock::start();
        std::thread::scope(|sc| -> Result<()> {
            let saver = sc.spawn(|| {
                run_stage_checked(
                    "normalize",
                    &norm_dir,
                    |tmp| normalize::save(tmp, &n),
                    || stamps.check_unchanged(),
                )
            });
            if !filter_cached {
                filtered = Some(run_filter(&n)?);
            }
            saver.join().map_err(|_| {
                crate::error::Error::Internal("normalize cache writer panicked".into())
            })?
        })?;
        stage_event(p, "filter", &fp_filter, filter_cached, t);
    } else {
        stage_event(p, "normalize", &fp_norm, true, t);
        let t = StageClock::start();
        if !filter_cached {
            let n = match speculative.take() {
                Some(n) => n,
                None => normalize::load(&norm_dir)?,
            };
            filtered = Some(run_filter(&n)?);
        }
        stage_event(p, "filter", &fp_filter, filter_cached, t);
    }
    let accounts = normalize::load_accounts(&norm_dir)?;
    check_time_config(m, accounts.timeless)?;
    let filter_stats: filter::FilterStats =
        serde_json::from_slice(&fs_err::read(filter_dir.join(publish::FILTER_STATS))?)?;

    let shard = match opts.sharding {
        Sharding::Shard(s) => {
            lock.take();
            Some(s)
        }
        _ => None,
    };

    // split
    let mut split_stats = None;
    if let (Some(cfg), Some(dir), Some(fp), None) = (&m.split, &split_dir, &fp_split, shard) {
        let t = StageClock::start();
        let cached = reuse("split", dir, None, p)?;
        if let (false, split::Method::Stratified(st)) = (cached, &cfg.method) {
            run_stage("split", dir, |tmp| {
                let stats =
                    sample_split::run(st, cfg.seed, &filter_dir, tmp, corpus.name(), &meta)?;
                fs_err::write(
                    tmp.join(publish::SPLIT_STATS),
                    serde_json::to_vec_pretty(&stats)?,
                )?;
                Ok(())
            })?;
        } else if !cached {
            if filter_dir.join("labels.parquet").is_file() {
                return Err(crate::error::Error::Invalid(format!(
                    "[stages.split] method = \"{}\" splits interactions, and {} is a labelled sample corpus without any: use method = \"stratified\" (samples stratified by label; see docs/manifest.md)",
                    cfg.name,
                    corpus.name()
                )));
            }
            let rows = match filtered.take() {
                Some(f) => publish::InteractionRows {
                    user: f.user,
                    item: f.item,
                    ts: f.ts,
                    value: f.value,
                    session: f.session,
                },
                None => read_interactions(&filter_dir.join("interactions.parquet"))?,
            };
            let a = split::run(cfg, &rows.user, &rows.ts);
            run_stage("split", dir, |tmp| {
                publish::write_splits(
                    tmp,
                    &rows,
                    &a,
                    &m.source.corpus,
                    &accounts.event,
                    accounts.timeless,
                    &meta,
                )
            })?;
        }
        stage_event(p, "split", fp, cached, t);
        split_stats = Some(serde_json::from_slice::<split::SplitStats>(&fs_err::read(
            dir.join(publish::SPLIT_STATS),
        )?)?);
    }

    // The per-item stages' fingerprints, all known before any of them runs (a shard plan is
    // keyed on them together).
    let dl_cache = if m.media.is_empty() {
        None
    } else {
        Some(crate::fetch::cache::Cache::open(opts.cache_dir.clone())?)
    };
    let fp_media = fp_of(plan::StageId::Media);
    // Where side tables' file paths are relative to (AgroSense: the repository's `Datasets/`).
    let table_root = if corpus.name() == crate::sources::agrosense::NAME {
        crate::sources::agrosense::data_dir(&src)
    } else {
        src.clone()
    };
    let fp_caption = fp_of(plan::StageId::Caption);
    let fp_encode = fp_of(plan::StageId::Encode);
    let fp_plan = planned.fp_shards.clone();
    let models = &planned.models;
    let models_dir = planned.models_dir.clone();

    // Where the per-item stages read their items and write: the dataset's stage cache, or a
    // shard's work directory (its items only).
    let mut workspace = None;
    let (items_dir, media_dir, caption_dir, encode_dir) = match opts.sharding {
        Sharding::Shard(s) => {
            let plan = shard::Plan::new(&cache, &fp_plan, s.count);
            let Some(ws) = shard::claim(&plan, s, &filter_dir)? else {
                p.info(format!(
                    "Shard {s} is already complete ({}): nothing to do",
                    plan.dir(s.index).display()
                ));
                return shard_outcome(&plan, s);
            };
            p.info(format!(
                "Shard {s}: {} item(s) in {}",
                ws.items,
                ws.dir.display()
            ));
            let d = ws.dir.clone();
            workspace = Some((plan, s, ws));
            (
                d.clone(),
                fp_media.as_ref().map(|_| d.join("media")),
                fp_caption.as_ref().map(|_| d.join("caption")),
                fp_encode.as_ref().map(|_| d.join("encode")),
            )
        }
        _ => (
            filter_dir.clone(),
            fp_media
                .as_ref()
                .map(|fp| cache.join(format!("media-{}", &fp[..16]))),
            fp_caption
                .as_ref()
                .map(|fp| cache.join(format!("caption-{}", &fp[..16]))),
            fp_encode
                .as_ref()
                .map(|fp| cache.join(format!("encode-{}", &fp[..16]))),
        ),
    };
    if let Sharding::Merge { shards } = opts.sharding {
        let plan = shard::Plan::find(&cache, &fp_plan, shards)?;
        let done = plan.check_complete()?;
        let items: u64 = done.iter().filter_map(|d| d["items"].as_u64()).sum();
        p.info(format!(
            "Merging {} shard(s) of {items} item(s) from {}",
            plan.count,
            plan.root.display()
        ));
        if let Some(md) = &media_dir
            && !md.join(media::TABLE).is_file()
        {
            plan.fold_media_journals(md)?;
        }
    }

    // media
    if let (Some(dir), Some(fp), Some(dc)) = (&media_dir, &fp_media, &dl_cache) {
        let t = StageClock::start();
        let cached = !opts.retry_failed && media::reuse(dir, dc, p)?;
        if !cached {
            media::run(&m.media, &src, &items_dir, dir, dc, opts.retry_failed, p)?;
        }
        stage_event(p, "media", fp, cached, t);
    }

    // caption
    let media_parts = media_dir.as_deref().zip(dl_cache.as_ref());
    if let (Some(dir), Some(fp)) = (&caption_dir, &fp_caption) {
        let t = StageClock::start();
        let cached = !opts.retry_failed && reuse("caption", dir, Some(caption::REPORT), p)?;
        if !cached {
            if dir.exists() {
                fs_err::remove_dir_all(dir)?;
            }
            run_stage("caption", dir, |tmp| {
                caption::run(
                    &m.caption,
                    &items_dir,
                    media_parts,
                    tmp,
                    &caption::StageOptions {
                        cache_root: opts.cache_dir.clone(),
                        // Shards append to their own cache files (no two writers share one).
                        cache_tag: shard.map(|s| format!("shard-{}-of-{}", s.index, s.count)),
                        progress: p,
                    },
                )
            })?;
        }
        stage_event(p, "caption", fp, cached, t);
    }

    // encode
    if let (Some(dir), Some(fp), Some(mdir)) = (&encode_dir, &fp_encode, &models_dir) {
        let t = StageClock::start();
        let cached = reuse("encode", dir, Some(encode::REPORT), p)?;
        if !cached {
            run_stage("encode", dir, |tmp| {
                encode::run(
                    &m.encode,
                    models,
                    &encode::StageInputs {
                        filter_dir: &items_dir,
                        table_root: Some(&table_root),
                        media_dir: media_dir.as_deref(),
                        media_cache: dl_cache.as_ref(),
                        caption_dir: caption_dir.as_deref(),
                    },
                    tmp,
                    &encode::StageOptions {
                        models_dir: mdir,
                        device: opts.device,
                        batch_size: opts.batch_size,
                        cache_root: opts.cache_dir.join("embeddings"),
                        progress: p,
                    },
                )
            })?;
        }
        stage_event(p, "encode", fp, cached, t);
    }

    if let Some((plan, s, ws)) = workspace {
        let stages: serde_json::Map<String, serde_json::Value> = [
            ("media", &fp_media),
            ("caption", &fp_caption),
            ("encode", &fp_encode),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), json!(v))))
        .collect();
        ws.finish(&plan, s, serde_json::Value::Object(stages))?;
        p.info(format!(
            "Shard {s} complete; run `recdata merge {}` once every shard is",
            m.path.display()
        ));
        return shard_outcome(&plan, s);
    }

    // semantic ids: keyed on the encode stage's output and the options.
    let fp_sid = fp_of(plan::StageId::SemanticIds);
    let sid_dir = fp_sid
        .as_ref()
        .map(|fp| cache.join(format!("semantic_ids-{}", &fp[..16])));
    if let (Some(dir), Some(fp), Some(c), Some(edir)) =
        (&sid_dir, &fp_sid, &m.semantic_ids, &encode_dir)
    {
        let t = StageClock::start();
        let cached = reuse("semantic_ids", dir, Some(semantic_ids::REPORT), p)?;
        if !cached {
            run_stage("semantic_ids", dir, |tmp| {
                semantic_ids::run(c, edir, tmp, p)
            })?;
        }
        stage_event(p, "semantic_ids", fp, cached, t);
    }

    let fingerprints: Vec<(&str, &str)> = [
        ("normalize", fp_norm.as_str()),
        ("filter", fp_filter.as_str()),
    ]
    .into_iter()
    .chain(fp_split.as_deref().map(|f| ("split", f)))
    .chain(fp_media.as_deref().map(|f| ("media", f)))
    .chain(fp_caption.as_deref().map(|f| ("caption", f)))
    .chain(fp_encode.as_deref().map(|f| ("encode", f)))
    .chain(fp_sid.as_deref().map(|f| ("semantic_ids", f)))
    .collect();
    let clock = StageClock::start();
    let outcome = publish::publish(
        m,
        &ds_dir,
        &publish::Parts {
            norm_dir: &norm_dir,
            filter_dir: &filter_dir,
            split_dir: split_dir.as_deref(),
            inputs: &inputs,
            fingerprints: &fingerprints,
            filter_stats: &filter_stats,
            split_stats: split_stats.as_ref(),
            remote: remote.as_deref(),
            media: media_dir.as_deref().zip(dl_cache.as_ref()),
            caption_dir: caption_dir.as_deref(),
            encode_dir: encode_dir.as_deref(),
            sid_dir: sid_dir.as_deref(),
            media_root: Some(table_root.clone()),
            diagnostics: planned
                .get(plan::StageId::Diagnostics)
                .and_then(|d| d.dir.as_deref().map(|dir| (dir, d.fingerprint.as_str()))),
        },
        p,
    )?;
    stage_event(p, "publish", "", false, clock);
    // What this build was made of: the next plan explains its changes against it.
    plan::LastPlan::record(&cache, &planned.stages)?;
    Ok(outcome)
}

/// The outcome of a finished shard: its `done.json`.
fn shard_outcome(plan: &shard::Plan, s: shard::Shard) -> Result<BuildOutcome> {
    let dir = plan.dir(s.index);
    let done = serde_json::from_slice(&fs_err::read(dir.join(shard::DONE))?)?;
    Ok(BuildOutcome {
        dir,
        status: PublishStatus::ShardComplete,
        dataset_json: done,
        check_failures: Vec::new(),
    })
}

/// The `name` of a `[[stages.caption]]` / `[[stages.encode]]` entry, which names its output
/// file: required, ASCII letters, digits, `-` and `_`.
pub(crate) fn read_output_name(
    r: &mut crate::manifest::reader::TableReader<'_>,
    diags: &mut Vec<crate::manifest::diagnostic::Diagnostic>,
    what: &str,
    output: &str,
) -> Option<crate::manifest::reader::Spanned<String>> {
    let name = r.required_str(
        diags,
        "name",
        &format!("the {what}'s name (the output is {output})"),
    );
    if let Some(n) = &name
        && (n.value.is_empty()
            || !n
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        diags.push(crate::manifest::diagnostic::Diagnostic::error(
            format!("invalid {what} name `{}`", n.value),
            Some(n.span),
            "use ASCII letters, digits, `-` and `_`",
        ));
    }
    name
}

/// A corpus without event times (FINN.no) cannot be cut by time.
fn check_time_config(m: &Manifest, timeless: bool) -> Result<()> {
    if !timeless {
        return Ok(());
    }
    let corpus = m.source.corpus.name();
    if m.filter.start.is_some() || m.filter.end.is_some() {
        return Err(crate::error::Error::Invalid(format!(
            "`stages.filter.start`/`end`: {corpus} has no event times (only interaction steps), so it has no time window\n  hint: remove `start` and `end`"
        )));
    }
    if let Some(s) = &m.split
        && matches!(s.method, split::Method::Temporal { .. })
    {
        return Err(crate::error::Error::Invalid(format!(
            "`stages.split`: {corpus} has no event times (only interaction steps), so it cannot be split by time\n  hint: use `method = \"leave_one_out\"`, `\"leave_last_n\"`, `\"user_ratio\"` or `\"random\"`"
        )));
    }
    Ok(())
}

/// Reads the interaction columns back from a published-form interactions file. A null `ts`
/// (a timeless corpus) reads as the row number, which keeps each user's step order.
pub fn read_interactions(path: &Path) -> Result<publish::InteractionRows> {
    use arrow_array::Array as _;
    let b: RecordBatch = read_batch(path)?;
    let u: &UInt32Array = column(&b, "user_id")?;
    let i: &UInt32Array = column(&b, "item_id")?;
    let t: &arrow_array::TimestampMillisecondArray = column(&b, "ts")?;
    let v: &arrow_array::Float32Array = column(&b, "value")?;
    let s: &arrow_array::Int64Array = column(&b, "session_id")?;
    let ts = if t.null_count() == t.len() {
        (0..t.len() as i64).collect()
    } else {
        t.values().to_vec()
    };
    Ok(publish::InteractionRows {
        user: u.values().to_vec(),
        item: i.values().to_vec(),
        ts,
        value: (v.null_count() == 0 && !v.is_empty()).then(|| v.values().to_vec()),
        session: (s.null_count() == 0 && !s.is_empty()).then(|| s.values().to_vec()),
    })
}
