//! The split of a labelled sample corpus (`[stages.split] method = "stratified"`; AgroSense):
//! samples stratified by label, and the corpus' image table either kept in its upstream split
//! folders or re-split by duplicate group so that copies never straddle two splits.
//!
//! Stratification: each label's samples (in `sample_id` order) are shuffled with the seeded
//! generator; the first `round(n * r_train)` go to train, the next `round(n * r_valid)` to valid,
//! the rest to test, so every label's counts are within one sample of `n * r`. The group-aware
//! image split does the same over duplicate groups: a group goes to the split furthest below its
//! target (by image count) within the group's majority class.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::{Array, StringArray, UInt32Array, UInt64Array};
use serde_json::{Value, json};

use super::split::{NAMES, SplitStats};
use crate::diagnose::dups::{self, Media};
use crate::error::{Error, Result};
use crate::io::parquet::{Level, arc, column, read_batch, write_table};
use crate::util::rng::Rng;

/// Published paths and the image table (defined in `io`: the diagnostics read them too).
pub use crate::io::{
    IMAGE_SPLIT_FILE as IMAGES, SAMPLE_IMAGE_TABLE as IMAGE_TABLE, SAMPLE_SPLIT_FILE as SAMPLES,
};

/// How the image table is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSplit {
    /// The upstream split folders as they are (`Train` → train, `test` → test, …).
    Upstream,
    /// A seeded, class-stratified re-split of duplicate groups.
    Group,
}

/// `stratified`'s options.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stratified {
    pub ratios: [f64; 3],
    pub images: ImageSplit,
    /// Group near copies too (perceptual hash within `near_threshold` bits), not only exact ones.
    pub near_duplicates: bool,
    pub near_threshold: u32,
}

/// Split counts per label: `[train, valid, test]` for `n` samples.
pub fn counts(n: usize, r: [f64; 3]) -> [usize; 3] {
    let train = ((n as f64) * r[0]).round() as usize;
    let valid = (((n as f64) * r[1]).round() as usize).min(n - train.min(n));
    let train = train.min(n);
    [train, valid, n - train - valid]
}

/// The upstream folder name as a split name, if it is one.
pub fn upstream_split(folder: &str) -> Option<u8> {
    match folder.to_ascii_lowercase().as_str() {
        "train" | "training" => Some(0),
        "valid" | "val" | "validation" | "dev" => Some(1),
        "test" | "testing" => Some(2),
        _ => None,
    }
}

/// Assigns a split to each of `labels` (stratified; see the module doc).
pub fn stratify(labels: &[u32], ratios: [f64; 3], seed: u64) -> Vec<u8> {
    let mut by_label: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_label.entry(l).or_default().push(i);
    }
    let mut out = vec![0u8; labels.len()];
    for (label, mut rows) in by_label {
        let mut rng = Rng::derive(seed, &format!("stratified-{label}"));
        rng.shuffle(&mut rows);
        let [tr, va, _] = counts(rows.len(), ratios);
        for (k, &i) in rows.iter().enumerate() {
            out[i] = if k < tr {
                0
            } else if k < tr + va {
                1
            } else {
                2
            };
        }
    }
    out
}

/// Assigns a split to each group (given as its members' indices), stratified by the group's
/// majority class; returns a split per image.
pub fn split_groups(
    n: usize,
    groups: &BTreeMap<u32, Vec<usize>>,
    class: &[&str],
    ratios: [f64; 3],
    seed: u64,
) -> Vec<u8> {
    let mut by_class: BTreeMap<&str, Vec<(u32, &Vec<usize>)>> = BTreeMap::new();
    for (root, members) in groups {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in members {
            *votes.entry(class[i]).or_default() += 1;
        }
        // Most images; ties to the first class name.
        let major = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| *c)
            .unwrap_or("");
        by_class.entry(major).or_default().push((*root, members));
    }
    let mut out = vec![0u8; n];
    for (c, mut gs) in by_class {
        let mut rng = Rng::derive(seed, &format!("group-split-{c}"));
        rng.shuffle(&mut gs);
        let total: usize = gs.iter().map(|g| g.1.len()).sum();
        let target = counts(total, ratios);
        let mut have = [0usize; 3];
        for (_, members) in gs {
            // The split furthest below its target (relative), train first on ties.
            let s = (0..3)
                .max_by(|&a, &b| {
                    let da = target[a] as f64 - have[a] as f64;
                    let db = target[b] as f64 - have[b] as f64;
                    da.total_cmp(&db).then(b.cmp(&a))
                })
                .unwrap_or(0);
            have[s] += members.len();
            for &i in members {
                out[i] = s as u8;
            }
        }
    }
    out
}

/// Runs the stratified split of the sample corpus in `filter_dir`, writing `splits/samples.parquet`
/// and, with an image table, `splits/images.parquet` under `out`.
pub fn run(
    cfg: &Stratified,
    seed: u64,
    filter_dir: &Path,
    out: &Path,
    corpus: &str,
    meta: &[(&str, String)],
) -> Result<SplitStats> {
    let labels_path = filter_dir.join("labels.parquet");
    if !labels_path.is_file() {
        return Err(Error::Invalid(format!(
            "[stages.split] method = \"stratified\" splits the samples of a labelled sample corpus (agrosense); {corpus} has no `labels` table (use leave_one_out, temporal, user_ratio or random)"
        )));
    }
    let b = read_batch(&labels_path)?;
    let sample_id: &UInt64Array = column(&b, "sample_id")?;
    let label: &UInt32Array = column(&b, "item_id")?;
    let split = stratify(label.values(), cfg.ratios, seed);
    fs_err::create_dir_all(out.join("splits"))?;
    write_table(
        &out.join(SAMPLES),
        "sample_split",
        corpus,
        vec![
            arc(sample_id.clone()),
            arc(label.clone()),
            arc(StringArray::from_iter_values(
                split.iter().map(|&s| NAMES[s as usize]),
            )),
        ],
        meta,
        Level::Publish,
    )?;
    let mut per_label: BTreeMap<u32, [u64; 3]> = BTreeMap::new();
    for (&l, &s) in label.values().iter().zip(&split) {
        per_label.entry(l).or_default()[s as usize] += 1;
    }
    let mut totals = [0u64; 3];
    split.iter().for_each(|&s| totals[s as usize] += 1);

    let images_path = filter_dir.join(format!("{IMAGE_TABLE}.parquet"));
    if cfg.images == ImageSplit::Group && filter_dir.join("sample_soil.parquet").is_file() {
        return Err(Error::Invalid(
            "[stages.split] images = \"group\" re-splits the soil images, but `source.pairing = \"random-by-class\"` drew the samples' images from an upstream split folder (`pairing_split`): some paired images would land in valid or test. Use images = \"upstream\", or pairing = \"none\"".into(),
        ));
    }
    let images = if images_path.is_file() {
        Some(split_images(cfg, seed, &images_path, out, corpus, meta)?)
    } else {
        None
    };
    Ok(SplitStats {
        train: totals[0],
        valid: totals[1],
        test: totals[2],
        users_train_only: 0,
        protocol: json!({
            "method": "stratified",
            "unit": "samples",
            "stratified_by": "label (labels.item_id)",
            "ratios": cfg.ratios,
            "seed": seed,
            "file": SAMPLES,
            "per_label": per_label.iter().map(|(l, c)| json!({ "item_id": l, "train": c[0], "valid": c[1], "test": c[2] })).collect::<Vec<_>>(),
            "images": images,
        }),
    })
}

fn split_images(
    cfg: &Stratified,
    seed: u64,
    path: &Path,
    out: &Path,
    corpus: &str,
    meta: &[(&str, String)],
) -> Result<Value> {
    let b = read_batch(path)?;
    let ids: &UInt64Array = column(&b, "image_id")?;
    let folder: &StringArray = column(&b, "split")?;
    let class: &StringArray = column(&b, "soil_class")?;
    let sha: &StringArray = column(&b, "sha256")?;
    let phash: &UInt64Array = column(&b, "phash")?;
    let n = b.num_rows();
    let media: Vec<Media<'_>> = (0..n)
        .map(|i| Media {
            sha256: sha.value(i),
            phash: phash.is_valid(i).then(|| phash.value(i)),
        })
        .collect();
    let near = cfg.near_duplicates.then_some(cfg.near_threshold);
    let groups = dups::group(&media, near);
    let split: Vec<Option<u8>> = match cfg.images {
        ImageSplit::Upstream => {
            // A split folder that is not a known name would silently leave its images out of
            // every split (and out of the cross-split audit): refuse it instead.
            let unknown: std::collections::BTreeSet<&str> = (0..n)
                .filter(|&i| folder.is_valid(i) && upstream_split(folder.value(i)).is_none())
                .map(|i| folder.value(i))
                .collect();
            if !unknown.is_empty() {
                return Err(Error::Invalid(format!(
                    "[stages.split] images = \"upstream\": the image tree has split folder(s) {} that are not a train, valid or test name (train/training, valid/val/validation/dev, test/testing, any case): rename them, or re-split with images = \"group\"",
                    unknown
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            (0..n)
                .map(|i| {
                    folder
                        .is_valid(i)
                        .then(|| upstream_split(folder.value(i)))
                        .flatten()
                })
                .collect()
        }
        ImageSplit::Group => {
            let members = dups::members(&groups.root);
            let classes: Vec<&str> = (0..n).map(|i| class.value(i)).collect();
            split_groups(n, &members, &classes, cfg.ratios, seed)
                .into_iter()
                .map(Some)
                .collect()
        }
    };
    let group_id: Vec<u64> = groups.root.iter().map(|&r| ids.value(r as usize)).collect();
    write_table(
        &out.join(IMAGES),
        "image_split",
        corpus,
        vec![
            arc(ids.clone()),
            arc(StringArray::from(
                split
                    .iter()
                    .map(|s| s.map(|s| NAMES[s as usize]))
                    .collect::<Vec<_>>(),
            )),
            arc(UInt64Array::from(group_id)),
        ],
        meta,
        Level::Publish,
    )?;
    let mut totals = [0u64; 4];
    split
        .iter()
        .for_each(|s| totals[s.map_or(3, usize::from)] += 1);
    let n_groups = {
        let mut r = groups.root.clone();
        r.sort_unstable();
        r.dedup();
        r.len()
    };
    Ok(json!({
        "table": IMAGE_TABLE,
        "file": IMAGES,
        "method": cfg.images,
        "grouped_by": if cfg.near_duplicates { format!("identical sha256 or perceptual hash within {} bits", cfg.near_threshold) } else { "identical sha256".to_string() },
        "groups": n_groups,
        "train": totals[0], "valid": totals[1], "test": totals[2], "no_split": totals[3],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_counts_are_within_one_of_the_target() {
        let labels: Vec<u32> = (0..1000u32).map(|i| (i * 7 + i / 13) % 9).collect();
        let r = [0.7, 0.15, 0.15];
        let s = stratify(&labels, r, 3);
        for l in 0..9 {
            let n = labels.iter().filter(|&&x| x == l).count() as f64;
            for k in 0..3u8 {
                let got = labels
                    .iter()
                    .zip(&s)
                    .filter(|(x, y)| **x == l && **y == k)
                    .count() as f64;
                assert!(
                    (got - n * r[k as usize]).abs() <= 1.0,
                    "{l} {k}: {got} vs {n}"
                );
            }
        }
        assert_eq!(s, stratify(&labels, r, 3));
        assert_ne!(s, stratify(&labels, r, 4));
    }

    #[test]
    fn counts_sum() {
        for n in 0..50 {
            let c = counts(n, [0.8, 0.1, 0.1]);
            assert_eq!(c.iter().sum::<usize>(), n);
        }
        assert_eq!(counts(3, [0.0, 0.0, 1.0]), [0, 0, 3]);
    }
}
