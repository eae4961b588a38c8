//! The execution of a plan ([`super::plan::make`]): the stages in the plan's order, each through
//! [`Exec::step`], the one place that times a stage, decides between its intact cached output and
//! running it, and reports the result. Each stage's own method says only what it reads and what
//! it writes into its temporary output directory.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::Manifest;
use super::inputs::InputStamps;
use super::plan::{Planned, StageId};
use super::{
    BuildOptions, BuildOutcome, Sharding, StageClock, caption, encode, filter, media, normalize,
    publish, reuse, run_stage, run_stage_checked, sample_split, semantic_ids, shard, split,
    stage_event,
};
use crate::error::{Error, Result};
use crate::fetch::cache::Cache;
use crate::progress::Reporter;
use crate::sources::Normalized;

/// Everything the stages of one build share.
pub(super) struct Exec<'a> {
    pub m: &'a Manifest,
    pub opts: &'a BuildOptions,
    pub planned: &'a Planned,
    /// `<data>/<dataset>/.cache`: the stage caches.
    pub cache: &'a Path,
    /// The directory holding the raw files.
    pub src: &'a Path,
    pub stamps: &'a InputStamps,
    /// Key-value metadata written into every parquet file of the dataset.
    pub meta: [(&'static str, String); 2],
}

/// Where the per-item stages (media, caption, encode) read their items and write: the dataset's
/// stage caches, or a shard's work directory (its items only).
pub(super) struct ItemDirs {
    pub items: PathBuf,
    pub media: Option<PathBuf>,
    pub caption: Option<PathBuf>,
    pub encode: Option<PathBuf>,
}

impl<'a> Exec<'a> {
    pub fn progress(&self) -> &'a Reporter {
        &self.opts.progress
    }

    pub fn fp(&self, id: StageId) -> &'a str {
        self.planned.fp(id).unwrap_or_default()
    }

    /// The stage's cache directory in the plan (stages not in the plan have none).
    pub fn dir(&self, id: StageId) -> Option<PathBuf> {
        self.planned.dir(id).map(Path::to_path_buf)
    }

    /// The one bookkeeping of every stage: its clock, whether its output in `dir` is used as it
    /// is, else `run`, then the stage event (seconds, peak memory, cached or not).
    pub fn step(
        &self,
        id: StageId,
        dir: &Path,
        media_cache: Option<&Cache>,
        run: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let clock = StageClock::start();
        let cached = self.reuse(id, dir, media_cache)?;
        if !cached {
            run()?;
        }
        stage_event(self.progress(), id.name(), self.fp(id), cached, clock);
        Ok(())
    }

    /// Whether `dir` holds the stage's complete, intact output: its done file (the plan's
    /// [`plan::done_file`]) and every file's recorded sha256; media also checks its blobs in the
    /// download cache. `--retry-failed` re-runs the stages whose items can fail one by one.
    fn reuse(&self, id: StageId, dir: &Path, media_cache: Option<&Cache>) -> Result<bool> {
        let p = self.progress();
        let retry = self.opts.retry_failed && matches!(id, StageId::Media | StageId::Caption);
        match (id, media_cache) {
            _ if retry => Ok(false),
            (StageId::Media, Some(dc)) => media::reuse(dir, dc, p),
            _ => reuse(id, dir, p),
        }
    }

    /// normalize, then filter. When normalize runs, its cache is written on a second thread while
    /// filter works on the in-memory result (the two outputs are independent), so the two stages
    /// share one method; `speculative` is a parse made while the inputs were hashed, and
    /// `t_norm` started before it.
    pub fn normalize_and_filter(
        &self,
        mut speculative: Option<Normalized>,
        t_norm: StageClock,
    ) -> Result<Option<filter::Filtered>> {
        let (m, p) = (self.m, self.progress());
        let corpus = &m.source.corpus;
        let norm_dir = self.dir(StageId::Normalize).expect("normalize is planned");
        let filter_dir = self.dir(StageId::Filter).expect("filter is planned");
        let norm_cached = reuse(StageId::Normalize, &norm_dir, p)?;
        let filter_cached = reuse(StageId::Filter, &filter_dir, p)?;
        let run_filter = |n: &Normalized| -> Result<filter::Filtered> {
            super::check_time_config(m, n.timeless)?;
            let f = filter::run(&m.filter, n, p)?;
            filter::check_not_empty(&m.filter, n, &f)?;
            run_stage_checked(
                StageId::Filter.name(),
                &filter_dir,
                |tmp| filter::write(tmp, corpus.name(), n, &f, &self.meta),
                || self.stamps.check_unchanged(),
            )?;
            Ok(f)
        };
        let mut filtered = None;
        if norm_cached {
            stage_event(
                p,
                StageId::Normalize.name(),
                self.fp(StageId::Normalize),
                true,
                t_norm,
            );
            let t = StageClock::start();
            if !filter_cached {
                let n = match speculative.take() {
                    Some(n) => n,
                    None => normalize::load(&norm_dir)?,
                };
                filtered = Some(run_filter(&n)?);
            }
            stage_event(
                p,
                StageId::Filter.name(),
                self.fp(StageId::Filter),
                filter_cached,
                t,
            );
            return Ok(filtered);
        }
        let n = match speculative.take() {
            Some(n) => n,
            None => {
                p.info(format!(
                    "Normalizing {} from {}",
                    corpus.name(),
                    self.src.display()
                ));
                corpus.normalize(self.src, p)?
            }
        };
        // The parse is over: the hashed bytes must be the parsed ones, and they must hold rows.
        self.stamps.check_unchanged()?;
        let input_paths = self.stamps.paths();
        crate::sources::check_usable(corpus, &n, &input_paths, p)?;
        stage_event(
            p,
            StageId::Normalize.name(),
            self.fp(StageId::Normalize),
            false,
            t_norm,
        );
        let t = StageClock::start();
        std::thread::scope(|sc| -> Result<()> {
            let saver = sc.spawn(|| {
                run_stage_checked(
                    StageId::Normalize.name(),
                    &norm_dir,
                    |tmp| normalize::save(tmp, &n),
                    || self.stamps.check_unchanged(),
                )
            });
            if !filter_cached {
                filtered = Some(run_filter(&n)?);
            }
            saver
                .join()
                .map_err(|_| Error::Internal("normalize cache writer panicked".into()))?
        })?;
        stage_event(
            p,
            StageId::Filter.name(),
            self.fp(StageId::Filter),
            filter_cached,
            t,
        );
        Ok(filtered)
    }

    /// The split stage: interactions by the configured protocol, or a labelled sample corpus'
    /// samples stratified by label. `filtered` is the filter stage's output when it just ran.
    pub fn split(
        &self,
        filtered: Option<filter::Filtered>,
        accounts: &normalize::Accounts,
    ) -> Result<Option<split::SplitStats>> {
        let (Some(cfg), Some(dir)) = (&self.m.split, self.dir(StageId::Split)) else {
            return Ok(None);
        };
        let corpus = &self.m.source.corpus;
        let filter_dir = self.dir(StageId::Filter).expect("filter is planned");
        self.step(StageId::Split, &dir, None, || {
            if let split::Method::Stratified(st) = &cfg.method {
                return run_stage(StageId::Split.name(), &dir, |tmp| {
                    let stats = sample_split::run(
                        st,
                        cfg.seed,
                        &filter_dir,
                        tmp,
                        corpus.name(),
                        &self.meta,
                    )?;
                    fs_err::write(
                        tmp.join(split::STATS),
                        serde_json::to_vec_pretty(&stats)?,
                    )?;
                    Ok(())
                });
            }
            if filter_dir.join("labels.parquet").is_file() {
                return Err(Error::Invalid(format!(
                    "[stages.split] method = \"{}\" splits interactions, and {} is a labelled sample corpus without any: use method = \"stratified\" (samples stratified by label; see docs/manifest.md)",
                    cfg.name,
                    corpus.name()
                )));
            }
            let rows = match filtered {
                Some(f) => super::tables::InteractionRows {
                    user: f.user,
                    item: f.item,
                    ts: f.ts,
                    value: f.value,
                    session: f.session,
                },
                None => super::read_interactions(&filter_dir.join("interactions.parquet"))?,
            };
            let a = split::run(cfg, &rows.user, &rows.ts);
            run_stage(StageId::Split.name(), &dir, |tmp| {
                split::write(
                    tmp,
                    &rows,
                    &a,
                    corpus,
                    &accounts.event,
                    accounts.timeless,
                    &self.meta,
                )
            })
        })?;
        Ok(Some(serde_json::from_slice(&fs_err::read(
            dir.join(split::STATS),
        )?)?))
    }

    /// The per-item stages' directories of a whole build (the stage caches).
    pub fn item_dirs(&self) -> ItemDirs {
        ItemDirs {
            items: self.dir(StageId::Filter).expect("filter is planned"),
            media: self.dir(StageId::Media),
            caption: self.dir(StageId::Caption),
            encode: self.dir(StageId::Encode),
        }
    }

    /// media, caption and encode over the items in `dirs.items`.
    pub fn per_item_stages(
        &self,
        dirs: &ItemDirs,
        dl_cache: Option<&Cache>,
        shard: Option<shard::Shard>,
    ) -> Result<()> {
        let (m, opts, p) = (self.m, self.opts, self.progress());
        if let (Some(dir), Some(dc)) = (&dirs.media, dl_cache) {
            self.step(StageId::Media, dir, Some(dc), || {
                media::run(
                    &m.media,
                    self.src,
                    &dirs.items,
                    dir,
                    dc,
                    opts.retry_failed,
                    p,
                )
            })?;
        }
        let media_parts = dirs.media.as_deref().zip(dl_cache);
        if let Some(dir) = &dirs.caption {
            self.step(StageId::Caption, dir, None, || {
                if dir.exists() {
                    fs_err::remove_dir_all(dir)?;
                }
                run_stage(StageId::Caption.name(), dir, |tmp| {
                    caption::run(
                        &m.caption,
                        &dirs.items,
                        media_parts,
                        tmp,
                        &caption::StageOptions {
                            cache_root: opts.cache_dir.clone(),
                            // Shards append to their own cache files (no two writers share one).
                            cache_tag: shard.map(|s| format!("shard-{}-of-{}", s.index, s.count)),
                            progress: p,
                        },
                    )
                })
            })?;
        }
        if let (Some(dir), Some(models_dir)) = (&dirs.encode, &self.planned.models_dir) {
            let table_root = self.table_root();
            self.step(StageId::Encode, dir, None, || {
                run_stage(StageId::Encode.name(), dir, |tmp| {
                    encode::run(
                        &m.encode,
                        &self.planned.models,
                        &encode::StageInputs {
                            filter_dir: &dirs.items,
                            table_root: Some(&table_root),
                            media_dir: dirs.media.as_deref(),
                            media_cache: dl_cache,
                            caption_dir: dirs.caption.as_deref(),
                        },
                        tmp,
                        &encode::StageOptions {
                            models_dir,
                            device: opts.device,
                            batch_size: opts.batch_size,
                            cache_root: opts.cache_dir.join("embeddings"),
                            progress: p,
                        },
                    )
                })
            })?;
        }
        Ok(())
    }

    /// Where side tables' file paths are relative to (AgroSense: the repository's `Datasets/`).
    pub fn table_root(&self) -> PathBuf {
        if self.m.source.corpus.name() == crate::sources::agrosense::NAME {
            crate::sources::agrosense::data_dir(self.src)
        } else {
            self.src.to_path_buf()
        }
    }

    /// A shard's run of the per-item stages over its own items; `None` when this is no shard.
    pub fn shard(
        &self,
        filter_dir: &Path,
        dl_cache: Option<&Cache>,
    ) -> Result<Option<BuildOutcome>> {
        let Sharding::Shard(s) = self.opts.sharding else {
            return Ok(None);
        };
        let p = self.progress();
        let plan = shard::Plan::new(self.cache, &self.planned.fp_shards, s.count);
        let Some(ws) = shard::claim(&plan, s, filter_dir)? else {
            p.info(format!(
                "Shard {s} is already complete ({}): nothing to do",
                plan.dir(s.index).display()
            ));
            return shard_outcome(&plan, s).map(Some);
        };
        p.info(format!(
            "Shard {s}: {} item(s) in {}",
            ws.items,
            ws.dir.display()
        ));
        let d = ws.dir.clone();
        let planned = |id: StageId| self.planned.get(id).map(|_| d.join(id.name()));
        let dirs = ItemDirs {
            items: d.clone(),
            media: planned(StageId::Media),
            caption: planned(StageId::Caption),
            encode: planned(StageId::Encode),
        };
        self.per_item_stages(&dirs, dl_cache, Some(s))?;
        let stages: serde_json::Map<String, serde_json::Value> =
            [StageId::Media, StageId::Caption, StageId::Encode]
                .into_iter()
                .filter_map(|id| {
                    self.planned
                        .fp(id)
                        .map(|f| (id.name().to_owned(), json!(f)))
                })
                .collect();
        ws.finish(&plan, s, serde_json::Value::Object(stages))?;
        p.info(format!(
            "Shard {s} complete; run `recdata merge {}` once every shard is",
            self.m.path.display()
        ));
        shard_outcome(&plan, s).map(Some)
    }

    /// A merge takes over the shards' work: it checks every shard finished and folds their
    /// media journals into the media stage's directory.
    pub fn merge(&self, media_dir: Option<&Path>) -> Result<()> {
        let Sharding::Merge { shards } = self.opts.sharding else {
            return Ok(());
        };
        let plan = shard::Plan::find(self.cache, &self.planned.fp_shards, shards)?;
        let done = plan.check_complete()?;
        let items: u64 = done.iter().filter_map(|d| d["items"].as_u64()).sum();
        self.progress().info(format!(
            "Merging {} shard(s) of {items} item(s) from {}",
            plan.count,
            plan.root.display()
        ));
        if let Some(md) = media_dir
            && !md.join(media::TABLE).is_file()
        {
            plan.fold_media_journals(md)?;
        }
        Ok(())
    }

    /// semantic ids over the encode stage's output.
    pub fn semantic_ids(&self) -> Result<()> {
        let (Some(dir), Some(c), Some(edir)) = (
            self.dir(StageId::SemanticIds),
            &self.m.semantic_ids,
            self.dir(StageId::Encode),
        ) else {
            return Ok(());
        };
        self.step(StageId::SemanticIds, &dir, None, || {
            run_stage(StageId::SemanticIds.name(), &dir, |tmp| {
                semantic_ids::run(c, &edir, tmp, self.progress())
            })
        })
    }

    /// The diagnostics stage over the assembled (not yet published) version: its tables and
    /// its `dataset.json` document.
    pub fn diagnostics(&self, staged: &publish::Staged) -> Result<()> {
        let (Some(dc), Some(dir)) = (&self.m.diagnostics, self.dir(StageId::Diagnostics)) else {
            return Ok(());
        };
        self.step(StageId::Diagnostics, &dir, None, || {
            run_stage(StageId::Diagnostics.name(), &dir, |tmp| {
                let mut options = dc.options.clone();
                options.media_root = Some(self.table_root());
                let diag = crate::diagnose::compute_with_meta(
                    &staged.dir,
                    Some(staged.doc.clone()),
                    &options,
                    self.progress(),
                )?;
                crate::diagnose::write(tmp, &diag)
            })
        })
    }
}

/// The outcome of a finished shard: its `done.json`.
fn shard_outcome(plan: &shard::Plan, s: shard::Shard) -> Result<BuildOutcome> {
    let dir = plan.dir(s.index);
    let done = serde_json::from_slice(&fs_err::read(dir.join(shard::DONE))?)?;
    Ok(BuildOutcome {
        dir,
        status: super::PublishStatus::ShardComplete,
        dataset_json: done,
        check_failures: Vec::new(),
    })
}
