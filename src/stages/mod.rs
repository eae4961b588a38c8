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
mod execute;
pub mod filter;
mod inputs;
pub mod manifest;
pub mod media;
pub mod normalize;
pub mod plan;
pub mod publish;
pub mod sample_split;
pub mod semantic_ids;
pub mod shard;
pub mod source;
pub mod split;
mod tables;

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
use crate::progress::Reporter;
use inputs::InputStamps;
pub use manifest::Manifest;

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

/// Whether the cached output of stage `id` in `dir` can be used: it exists, is complete (the
/// stage's done file, if it has one, is there: the file it writes last) and every file still
/// matches its record ([`check_stage_files`]). A damaged output is removed, with a warning, for the caller to rebuild:
/// published versions hard-link these files, and damage must not be published again.
pub(crate) fn reuse(id: plan::StageId, dir: &Path, p: &Reporter) -> Result<bool> {
    let stage = id.name();
    if !dir.is_dir() || plan::done_file(id).is_some_and(|f| !dir.join(f).is_file()) {
        return Ok(false);
    }
    match check_stage_files(id, dir)? {
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

/// [`store::check_all_files`] for the stages committed whole (their record lists every file they
/// hold); [`store::check_files`] for the others, whose directories may hold a journal or report
/// written after their record.
pub(crate) fn check_stage_files(id: plan::StageId, dir: &Path) -> Result<Option<String>> {
    use plan::StageId;
    if matches!(id, StageId::Normalize | StageId::Filter | StageId::Split) {
        store::check_all_files(dir)
    } else {
        store::check_files(dir)
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
    let inputs = inputs::hash_inputs(&cache, &src, &stamps, &opts.progress)?;
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

/// Builds the dataset described by `m` and publishes it: resolve the inputs, make the plan,
/// execute it stage by stage (`execute::Exec`).
pub fn build(m: &Manifest, opts: &BuildOptions) -> Result<BuildOutcome> {
    let p = &opts.progress;
    let ds_dir = opts.data_dir.join(&m.dataset.name);
    // Shards wait for each other over the shared stages (the first does them, the rest find
    // them cached) and let go of the dataset before their own expensive work.
    let lock = match opts.sharding {
        Sharding::Shard(_) => DatasetLock::wait(&ds_dir)?,
        _ => DatasetLock::acquire(&ds_dir)?,
    };
    store::clean_partial(&ds_dir)?;
    let cache = ds_dir.join(".cache");
    let (src, remote) = match &m.source.path {
        Some(p) => (p.clone(), None),
        None => {
            let dl = crate::fetch::cache::Cache::open(opts.cache_dir.clone())?;
            let (dir, files) = source::materialize(m, &dl, &cache, p)?;
            (dir, Some(files))
        }
    };
    // Taken before any byte is hashed or parsed; checked again after both (a file rewritten
    // meanwhile fails the build instead of being recorded under the old file's hash).
    let stamps = InputStamps::take(&src, &m.source.corpus.input_files(&src)?)?;
    let t_norm = StageClock::start();
    let (inputs, speculative) = inputs::hash_or_parse(&m.source.corpus, &cache, &src, &stamps, p)?;
    let planned = plan::make(
        m,
        &cache,
        &inputs,
        opts.models_dir.as_deref(),
        &plan::LastPlan::load(&cache),
        false,
    )?;
    let exec = execute::Exec {
        m,
        opts,
        planned: &planned,
        cache: &cache,
        src: &src,
        stamps: &stamps,
        meta: [
            ("recdata.dataset", m.dataset.name.clone()),
            ("recdata.version", m.dataset.version.clone()),
        ],
    };

    let filtered = exec.normalize_and_filter(speculative, t_norm)?;
    let norm_dir = planned.dir(plan::StageId::Normalize).expect("planned");
    let filter_dir = planned.dir(plan::StageId::Filter).expect("planned");
    let accounts = normalize::load_accounts(norm_dir)?;
    check_time_config(m, accounts.timeless)?;
    let filter_stats: filter::FilterStats =
        serde_json::from_slice(&fs_err::read(filter_dir.join(filter::STATS))?)?;
    let dl_cache = match m.media.is_empty() {
        true => None,
        false => Some(crate::fetch::cache::Cache::open(opts.cache_dir.clone())?),
    };
    if let Sharding::Shard(_) = opts.sharding {
        drop(lock);
        return Ok(exec
            .shard(filter_dir, dl_cache.as_ref())?
            .expect("a shard's run"));
    }
    let split_stats = exec.split(filtered, &accounts)?;
    let dirs = exec.item_dirs();
    exec.merge(dirs.media.as_deref())?;
    exec.per_item_stages(&dirs, dl_cache.as_ref(), None)?;
    exec.semantic_ids()?;

    // publish: assemble the version in a staging directory, diagnose it (a cached stage of its
    // own), then commit it.
    let fingerprints: Vec<(&str, &str)> = planned
        .stages
        .iter()
        .filter(|s| s.dir.is_some() && s.stage != plan::StageId::Diagnostics)
        .map(|s| (s.stage.name(), s.fingerprint.as_str()))
        .collect();
    let clock = StageClock::start();
    let staged = publish::assemble(
        m,
        &ds_dir,
        &publish::Parts {
            norm_dir,
            filter_dir,
            split_dir: planned.dir(plan::StageId::Split),
            inputs: &inputs,
            fingerprints: &fingerprints,
            filter_stats: &filter_stats,
            split_stats: split_stats.as_ref(),
            remote: remote.as_deref(),
            media: dirs.media.as_deref().zip(dl_cache.as_ref()),
            caption_dir: dirs.caption.as_deref(),
            encode_dir: dirs.encode.as_deref(),
            sid_dir: planned.dir(plan::StageId::SemanticIds),
        },
    )?;
    exec.diagnostics(&staged)?;
    // The publish stage's own peak starts again here.
    crate::util::rss::reset_peak();
    let diagnostics = m
        .diagnostics
        .as_ref()
        .zip(planned.dir(plan::StageId::Diagnostics));
    let outcome = publish::commit(m, &ds_dir, staged, diagnostics, p)?;
    // An identical version already published is the publish stage's cached output.
    let unchanged = matches!(outcome.status, PublishStatus::Unchanged);
    let fp_publish = planned.fp(plan::StageId::Publish).unwrap_or_default();
    stage_event(p, "publish", fp_publish, unchanged, clock);
    // What this build was made of: the next plan explains its changes against it.
    plan::LastPlan::record(&cache, &planned.stages)?;
    Ok(outcome)
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
pub fn read_interactions(path: &Path) -> Result<tables::InteractionRows> {
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
    Ok(tables::InteractionRows {
        user: u.values().to_vec(),
        item: i.values().to_vec(),
        ts,
        value: (v.null_count() == 0 && !v.is_empty()).then(|| v.values().to_vec()),
        session: (s.null_count() == 0 && !s.is_empty()).then(|| s.values().to_vec()),
    })
}
