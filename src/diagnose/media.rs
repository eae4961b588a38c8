//! The media duplicate audit of an item corpus (MicroLens covers, Qilin note images, any
//! `[[stages.media]]` of images): distinct items whose pictures are exact copies (sha256) or
//! near copies (perceptual hash within the threshold). For a content-based recommender two
//! such items are the same input; when one is a test target and the other a training item, the
//! model can "recognise" the target from its twin.

use std::collections::HashSet;
use std::path::Path;

use arrow_array::{Array, StringArray, UInt32Array};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::dups::{self, Media};
use crate::error::Result;
use crate::io::parquet::{cell_text, column, read_batch};

/// Groups listed in full in `diagnostics.json`.
const MAX_GROUPS: usize = 50;

/// One item's picture.
struct Pic {
    item: u32,
    path: String,
    sha256: String,
    phash: Option<u64>,
}

/// The audit of the published `media.parquet` (ok image rows; their files are in the version
/// folder). `train_items` / `test_items`: the items of the train rows and the test targets.
/// `None` when the dataset has no images.
pub fn audit(
    dir: &Path,
    near_threshold: u32,
    train_items: &HashSet<u32>,
    test_items: &HashSet<u32>,
) -> Result<Option<Value>> {
    let f = dir.join("media.parquet");
    if !f.is_file() {
        return Ok(None);
    }
    let b = read_batch(&f)?;
    let item: &UInt32Array = column(&b, "item_id")?;
    let sha: &StringArray = column(&b, "sha256")?;
    let path: &StringArray = column(&b, "path")?;
    let modality = b
        .column_by_name("modality")
        .ok_or_else(|| crate::error::Error::Internal("media.parquet has no modality".into()))?;
    let status = b
        .column_by_name("status")
        .ok_or_else(|| crate::error::Error::Internal("media.parquet has no status".into()))?;
    let rows: Vec<usize> = (0..b.num_rows())
        .filter(|&i| {
            cell_text(modality.as_ref(), i).as_deref() == Some("image")
                && cell_text(status.as_ref(), i).as_deref() == Some("ok")
                && path.is_valid(i)
                && sha.is_valid(i)
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    // Perceptual hashes of the published files, decoded in parallel (bounded decode).
    let pics: Vec<Pic> = rows
        .par_iter()
        .map(|&i| {
            let phash = fs_err::read(dir.join(path.value(i)))
                .ok()
                .and_then(|bytes| crate::encode::image::decode(&bytes).ok())
                .and_then(|img| crate::encode::phash::phash(&img));
            Pic {
                item: item.value(i),
                path: path.value(i).to_owned(),
                sha256: sha.value(i).to_owned(),
                phash,
            }
        })
        .collect();
    let media: Vec<Media<'_>> = pics
        .iter()
        .map(|p| Media {
            sha256: &p.sha256,
            phash: p.phash,
        })
        .collect();
    let g = dups::group(&media, Some(near_threshold));
    let comps = dups::duplicate_groups(&g.root);
    let exact = comps
        .iter()
        .filter(|m| m.iter().all(|&i| g.exact_root[i] == g.exact_root[m[0]]))
        .count();
    // Test targets whose picture is shared with another item seen in training.
    let mut twins = 0usize;
    let mut twin_examples = Vec::new();
    for m in &comps {
        for &i in m {
            let it = pics[i].item;
            if !test_items.contains(&it) {
                continue;
            }
            // A twin is an exact copy or within the threshold itself (not only chained to it
            // through other near copies of the group).
            let (sha_i, ph_i) = (&pics[i].sha256, pics[i].phash);
            let mut other: Vec<u32> = m
                .iter()
                .filter(|&&j| {
                    pics[j].sha256 == *sha_i
                        || matches!((ph_i, pics[j].phash), (Some(a), Some(b)) if (a ^ b).count_ones() <= near_threshold)
                })
                .map(|&j| pics[j].item)
                .filter(|&j| j != it && train_items.contains(&j))
                .collect();
            other.sort_unstable();
            other.dedup();
            if !other.is_empty() {
                twins += 1;
                if twin_examples.len() < 10 {
                    twin_examples.push(json!({ "item_id": it, "train_twins": other }));
                }
            }
        }
    }
    let mut listed: Vec<&Vec<usize>> = comps.iter().collect();
    listed.sort_by_key(|m| (std::cmp::Reverse(m.len()), m[0]));
    let groups: Vec<Value> = listed
        .iter()
        .take(MAX_GROUPS)
        .map(|m| {
            let is_exact = m.iter().all(|&i| g.exact_root[i] == g.exact_root[m[0]]);
            json!({
                "kind": if is_exact { "exact" } else { "near" },
                "max_distance": g.max_distance.get(&g.root[m[0]]).copied().unwrap_or(0),
                "images": m.iter().map(|&i| json!({
                    "item_id": pics[i].item, "path": pics[i].path,
                    "sha256": &pics[i].sha256[..16.min(pics[i].sha256.len())],
                    "phash": pics[i].phash.map(|h| format!("{h:016x}")),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let distinct: HashSet<&str> = pics.iter().map(|p| p.sha256.as_str()).collect();
    Ok(Some(json!({
        "table": "media",
        "images": pics.len(),
        "hashed": pics.iter().filter(|p| p.phash.is_some()).count(),
        "distinct_contents": distinct.len(),
        "near_threshold": near_threshold,
        "groups": comps.len(),
        "exact_groups": exact,
        "near_groups": comps.len() - exact,
        "items_in_groups": comps.iter().map(Vec::len).sum::<usize>(),
        "test_targets_with_train_twin": twins,
        "twin_examples": twin_examples,
        "duplicate_groups": groups,
    })))
}
