//! Sharded builds: `recdata build M --shard K/N` on many machines, then `recdata merge M`.
//!
//! The expensive per-item stages (media fetch, caption, encode) are split by a stable hash of
//! each item's raw id. A shard runs the cheap shared stages (source, normalize, filter — cached,
//! so the first shard to get the dataset lock does them and the others find them done), writes
//! its items to its own work directory and runs the expensive stages for those items there.
//! What a shard computes lands where the single-process build looks anyway: fetched files in the
//! download cache, captions in the caption cache, vectors in the embedding cache; the media
//! fetch journal, which says how each item's fetch ended, stays in the shard's directory.
//!
//! `merge` checks that every shard finished, folds the shards' media journals into the
//! dataset's media stage and then runs the ordinary build: every item is found done (nothing is
//! fetched, asked or encoded again), so the merged dataset is the single-process build's, byte
//! for byte. A shard that is re-queued finds its finished work the same way and redoes nothing;
//! one whose `done.json` exists returns at once.
//!
//! Layout: `data/<dataset>/.cache/shards-<plan>-of-<N>/<K>/{items.parquet, media/, caption/,
//! encode/, done.json}`, where `<plan>` fingerprints the item set and the media, caption and
//! encode configuration, so a changed manifest never mixes with an older plan's shards.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow_array::{Array, BooleanArray, StringArray};
use serde_json::json;

use crate::error::{Error, Result};
use crate::io::parquet::{Level, column, read_batch, write_batch};
use crate::util::hash::sha256_hex;
use crate::util::lock::FileLock;

/// Shard `index` of `count` (`K/N` on the command line; K counts from 0, like Slurm's
/// `SLURM_ARRAY_TASK_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected K/N, e.g. 0/4 (shard K of N, K from 0)"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: K = `{k}` is not a whole number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: N = `{n}` is not a whole number"))?;
        if count == 0 || count > 100_000 {
            return Err(format!("`{s}`: N must be 1 ..= 100000"));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: K must be 0 ..= {} (shards count from 0, like Slurm array task ids)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard an item belongs to: the first 8 bytes of sha256(raw id), big-endian, modulo N.
/// Stable across versions, filters and machines (the raw id is the corpus's own).
pub fn shard_of(raw_id: &str, count: u32) -> u32 {
    let h = sha256_hex(raw_id.as_bytes());
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
    (v % u64::from(count)) as u32
}

/// The shards of one plan (item set + per-item stage configuration) split `count` ways.
pub struct Plan {
    pub root: PathBuf,
    pub fingerprint: String,
    pub count: u32,
}

pub const DONE: &str = "done.json";
pub const ITEMS: &str = "items.parquet";

impl Plan {
    pub fn new(cache: &Path, fingerprint: &str, count: u32) -> Self {
        Plan {
            root: cache.join(format!("shards-{}-of-{count}", &fingerprint[..16])),
            fingerprint: fingerprint.to_owned(),
            count,
        }
    }

    pub fn dir(&self, index: u32) -> PathBuf {
        self.root.join(index.to_string())
    }

    /// The plan `merge` assembles: `count` when given, else the one split of this plan on disk.
    pub fn find(cache: &Path, fingerprint: &str, count: Option<u32>) -> Result<Plan> {
        if let Some(n) = count {
            let plan = Plan::new(cache, fingerprint, n);
            if !plan.root.is_dir() {
                return Err(Error::Invalid(format!(
                    "no shards of this manifest split {n} ways under {}\n  hint: run `recdata build <manifest> --shard K/{n}` for K = 0 ..= {} first (or `recdata slurm`)",
                    cache.display(),
                    n - 1
                )));
            }
            return Ok(plan);
        }
        let prefix = format!("shards-{}-of-", &fingerprint[..16]);
        let mut counts: Vec<u32> = fs_err::read_dir(cache)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_prefix(&prefix))
                            .and_then(|n| n.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        counts.sort_unstable();
        match counts.as_slice() {
            [n] => Ok(Plan::new(cache, fingerprint, *n)),
            [] => Err(Error::Invalid(format!(
                "no shards of this manifest under {} (a changed manifest or item set starts a new plan)\n  hint: run `recdata build <manifest> --shard K/N` for every K first (or `recdata slurm`)",
                cache.display()
            ))),
            many => Err(Error::Invalid(format!(
                "this manifest was sharded several ways ({}): say which with `recdata merge <manifest> --shards N`",
                many.iter()
                    .map(|n| format!("{n} shards"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Every shard's `done.json`, or an error naming the shards that are missing or unfinished.
    pub fn check_complete(&self) -> Result<Vec<serde_json::Value>> {
        let mut done = Vec::new();
        let mut missing = Vec::new();
        for k in 0..self.count {
            match fs_err::read(self.dir(k).join(DONE))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            {
                Some(v) if v["plan"] == self.fingerprint.as_str() => done.push(v),
                _ => missing.push(k),
            }
        }
        if missing.is_empty() {
            return Ok(done);
        }
        let n = self.count;
        Err(Error::Invalid(format!(
            "{} of {n} shards are not complete: {}\n  hint: run `recdata build <manifest> --shard K/{n}` for {} (finished work is kept: a re-run redoes nothing it completed)",
            missing.len(),
            missing
                .iter()
                .map(|k| format!("{k}/{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() == 1 { "it" } else { "each" }
        )))
    }

    /// Appends every shard's media fetch journals to the dataset's media stage directory, so
    /// its fetch finds each item finished. Done once per plan (a marker file records it).
    pub fn fold_media_journals(&self, media_dir: &Path) -> Result<()> {
        fs_err::create_dir_all(media_dir)?;
        let marker = media_dir.join(format!(".folded-{}", &self.fingerprint[..16]));
        if marker.exists() {
            return Ok(());
        }
        for k in 0..self.count {
            let dir = self.dir(k).join("media");
            let Ok(rd) = fs_err::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".journal.jsonl"))
                .collect();
            names.sort();
            for name in names {
                let mut text = fs_err::read(dir.join(&name))?;
                if text.last().is_some_and(|b| *b != b'\n') {
                    text.push(b'\n');
                }
                use std::io::Write as _;
                let mut out = fs_err::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(media_dir.join(&name))?;
                out.write_all(&text)?;
                out.sync_all()?;
            }
        }
        fs_err::write(&marker, b"")?;
        Ok(())
    }
}

/// A shard's work directory, locked against a second copy of the same task.
pub struct Workspace {
    pub dir: PathBuf,
    pub items: u64,
    _lock: FileLock,
}

/// Claims shard `s` of `plan` and writes its items (the rows of the filtered `items.parquet`
/// whose raw id hashes to it); `None` when the shard already finished.
pub fn claim(plan: &Plan, s: Shard, filter_dir: &Path) -> Result<Option<Workspace>> {
    let dir = plan.dir(s.index);
    fs_err::create_dir_all(&dir)?;
    let lock_path = plan.root.join(format!("{}.lock", s.index));
    let lock = FileLock::try_take(&lock_path)?.ok_or(Error::Locked {
        path: lock_path.clone(),
    })?;
    if dir.join(DONE).is_file() {
        return Ok(None);
    }
    let items_path = dir.join(ITEMS);
    let all = read_batch(&filter_dir.join("items.parquet"))?;
    let raw: &StringArray = column(&all, "raw_id")?;
    let keep: BooleanArray = (0..raw.len())
        .map(|i| Some(shard_of(raw.value(i), s.count) == s.index))
        .collect();
    let items = keep.true_count() as u64;
    if !items_path.is_file() {
        let subset = arrow_select::filter::filter_record_batch(&all, &keep)?;
        let kv = all
            .schema()
            .metadata()
            .iter()
            .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
            .collect();
        let tmp = dir.join(format!("{ITEMS}.tmp-{}", std::process::id()));
        write_batch(&tmp, subset, Level::Cache, kv)?;
        fs_err::rename(&tmp, &items_path)?;
    }
    Ok(Some(Workspace {
        dir,
        items,
        _lock: lock,
    }))
}

impl Workspace {
    /// Marks the shard complete (the last thing it writes).
    pub fn finish(self, plan: &Plan, s: Shard, stages: serde_json::Value) -> Result<()> {
        let done = json!({
            "shard": s.index,
            "of": s.count,
            "plan": plan.fingerprint,
            "items": self.items,
            "stages": stages,
        });
        let tmp = self.dir.join(format!("{DONE}.tmp-{}", std::process::id()));
        fs_err::write(&tmp, serde_json::to_vec_pretty(&done)?)?;
        fs_err::rename(&tmp, self.dir.join(DONE))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!("4/4".parse::<Shard>().unwrap_err().contains("0 ..= 3"));
        assert!("1".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("a/2".parse::<Shard>().is_err());
    }

    #[test]
    fn every_item_has_exactly_one_shard_and_shards_are_balanced() {
        let n = 4;
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            let s = shard_of(&format!("item-{i}"), n);
            assert!(s < n);
            counts[s as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        // Stable: a fixed value, so a shard's items never move between releases.
        assert_eq!(shard_of("item-0", 4), shard_of("item-0", 4));
    }
}
