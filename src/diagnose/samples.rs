//! Diagnostics of a labelled sample corpus (AgroSense): class balance per split, trivial
//! baselines on the test split, and the media duplicate audit of its image table. What a user
//! should see before trusting an accuracy: how much a majority vote, a nearest centroid or
//! memorising the training images already gets, and how many test images are copies of
//! training images.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::{Array, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
use serde_json::{Value, json};

use super::dups::{self, Media};
use crate::error::Result;
use crate::io::SPLIT_NAMES;
use crate::io::parquet::{column, read_batch};

/// The numeric features of `Crop_recommendation.csv` rows (the nearest-centroid baseline's).
pub const FEATURES: [&str; 7] = ["n", "p", "k", "temperature", "humidity", "ph", "rainfall"];

/// Neighbours of the k-NN baseline on image embeddings.
pub const KNN_K: usize = 5;

/// Duplicate groups listed in full in `diagnostics.json` (cross-split ones first).
const MAX_GROUPS: usize = 50;

/// Options of the sample diagnostics.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub near_threshold: u32,
    /// The encoder whose vectors the k-NN baseline uses (`[stages.diagnostics] embedding`);
    /// default: the first over the image table, by name.
    pub embedding: Option<String>,
    /// Near copies also by embedding: cosine of those vectors at least this (`near_cosine`).
    pub near_cosine: Option<f32>,
    /// Where the image table's `path`s are (the source's data directory), for thumbnails.
    pub media_root: Option<std::path::PathBuf>,
}

fn split_of(name: &str) -> Option<usize> {
    SPLIT_NAMES.iter().position(|n| *n == name)
}

fn accuracy(hits: usize, n: usize) -> Value {
    if n == 0 {
        Value::Null
    } else {
        json!(hits as f64 / n as f64)
    }
}

/// Majority class of `train` (ties: the smallest label), scored on `test`.
pub fn majority<T: Ord + Clone + std::hash::Hash>(train: &[T], test: &[T]) -> (Option<T>, usize) {
    let mut counts: BTreeMap<&T, usize> = BTreeMap::new();
    for t in train {
        *counts.entry(t).or_default() += 1;
    }
    let best = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| (*k).clone());
    let hits = best
        .as_ref()
        .map_or(0, |b| test.iter().filter(|t| *t == b).count());
    (best, hits)
}

/// sklearn's `make_pipeline(StandardScaler(), NearestCentroid())`: features standardised with
/// the train mean and population standard deviation (a constant feature keeps scale 1), a
/// centroid per label, the nearest centroid by Euclidean distance (ties: the smallest label).
pub fn nearest_centroid(xtr: &[Vec<f64>], ytr: &[u32], xte: &[Vec<f64>]) -> Vec<u32> {
    let d = xtr.first().map_or(0, Vec::len);
    let n = xtr.len() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| xtr.iter().map(|x| x[j]).sum::<f64>() / n)
        .collect();
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let var = xtr.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / n;
            if var.sqrt() < 10.0 * f64::EPSILON {
                1.0
            } else {
                var.sqrt()
            }
        })
        .collect();
    let z = |x: &Vec<f64>| -> Vec<f64> { (0..d).map(|j| (x[j] - mean[j]) / scale[j]).collect() };
    let mut sums: BTreeMap<u32, (Vec<f64>, f64)> = BTreeMap::new();
    for (x, &y) in xtr.iter().zip(ytr) {
        let e = sums.entry(y).or_insert_with(|| (vec![0.0; d], 0.0));
        for (s, v) in e.0.iter_mut().zip(z(x)) {
            *s += v;
        }
        e.1 += 1.0;
    }
    let centroids: Vec<(u32, Vec<f64>)> = sums
        .into_iter()
        .map(|(y, (s, c))| (y, s.into_iter().map(|v| v / c).collect()))
        .collect();
    xte.iter()
        .map(|x| {
            let zx = z(x);
            let mut best = (f64::INFINITY, 0u32);
            for (y, c) in &centroids {
                let dist: f64 = zx.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum();
                if dist < best.0 {
                    best = (dist, *y);
                }
            }
            best.1
        })
        .collect()
}

/// The sample diagnostics of the published dataset in `dir`.
pub fn compute(dir: &Path, meta: &Value, o: &SampleOptions) -> Result<Value> {
    let items = read_batch(&dir.join("items.parquet"))?;
    let item_id: &UInt32Array = column(&items, "item_id")?;
    let title = items
        .column_by_name("title")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let label_name: HashMap<u32, String> = (0..items.num_rows())
        .map(|i| {
            let t = title
                .as_ref()
                .filter(|t| t.is_valid(i))
                .map_or_else(|| item_id.value(i).to_string(), |t| t.value(i).to_owned());
            (item_id.value(i), t)
        })
        .collect();

    let sp = read_batch(&dir.join(crate::io::SAMPLE_SPLIT_FILE))?;
    let sid: &UInt64Array = column(&sp, "sample_id")?;
    let label: &UInt32Array = column(&sp, "item_id")?;
    let split: &StringArray = column(&sp, "split")?;
    let split_idx: Vec<usize> = (0..sp.num_rows())
        .map(|i| split_of(split.value(i)).unwrap_or(0))
        .collect();

    // Class balance per split.
    let mut balance: BTreeMap<u32, [u64; 3]> = BTreeMap::new();
    for (i, &s) in split_idx.iter().enumerate() {
        balance.entry(label.value(i)).or_default()[s] += 1;
    }
    let totals: [u64; 3] = [0, 1, 2].map(|s| balance.values().map(|c| c[s]).sum());
    let class_balance: Vec<Value> = balance
        .iter()
        .map(|(l, c)| {
            let share = [0, 1, 2].map(|s| {
                if totals[s] == 0 {
                    0.0
                } else {
                    c[s] as f64 / totals[s] as f64
                }
            });
            json!({
                "item_id": l, "label": label_name.get(l),
                "train": c[0], "valid": c[1], "test": c[2],
                "share": share,
            })
        })
        .collect();

    // Baselines on the test samples.
    let ys = |s: usize| -> Vec<u32> {
        (0..sp.num_rows())
            .filter(|&i| split_idx[i] == s)
            .map(|i| label.value(i))
            .collect()
    };
    let (ytr, yte) = (ys(0), ys(2));
    let (maj, maj_hits) = majority(&ytr, &yte);
    let samples = read_batch(&dir.join("samples.parquet"))?;
    let s_id: &UInt64Array = column(&samples, "sample_id")?;
    let row_of: HashMap<u64, usize> = (0..samples.num_rows())
        .map(|i| (s_id.value(i), i))
        .collect();
    let feat: Vec<Vec<Option<f64>>> = FEATURES
        .iter()
        .map(|f| -> Result<Vec<Option<f64>>> {
            let c = samples.column_by_name(f);
            Ok(match c {
                Some(c) if c.as_any().is::<Int64Array>() => {
                    let a: &Int64Array = column(&samples, f)?;
                    (0..a.len())
                        .map(|i| a.is_valid(i).then(|| a.value(i) as f64))
                        .collect()
                }
                Some(_) => {
                    let a: &Float64Array = column(&samples, f)?;
                    (0..a.len())
                        .map(|i| a.is_valid(i).then(|| a.value(i)))
                        .collect()
                }
                None => vec![None; samples.num_rows()],
            })
        })
        .collect::<Result<_>>()?;
    let features_of = |i: usize| -> Option<Vec<f64>> {
        let r = *row_of.get(&sid.value(i))?;
        feat.iter().map(|c| c[r]).collect()
    };
    let (mut xtr, mut ytr_f, mut xte, mut yte_f) = (vec![], vec![], vec![], vec![]);
    for (i, &split) in split_idx.iter().enumerate() {
        if let Some(x) = features_of(i) {
            match split {
                0 => {
                    xtr.push(x);
                    ytr_f.push(label.value(i));
                }
                2 => {
                    xte.push(x);
                    yte_f.push(label.value(i));
                }
                _ => {}
            }
        }
    }
    let centroid = if xtr.is_empty() || xte.is_empty() {
        json!({ "applicable": false, "reason": "no train or test sample has all of n, p, k, temperature, humidity, ph, rainfall" })
    } else {
        let pred = nearest_centroid(&xtr, &ytr_f, &xte);
        let hits = pred.iter().zip(&yte_f).filter(|(a, b)| a == b).count();
        json!({
            "applicable": true, "features": FEATURES, "test_samples": xte.len(),
            "train_samples": xtr.len(),
            "excluded_test_samples": yte.len() - xte.len(),
            "accuracy": accuracy(hits, xte.len()),
            "method": "standardise with the train mean and population std, then the nearest class centroid (Euclidean), as sklearn make_pipeline(StandardScaler(), NearestCentroid())",
        })
    };
    let mut baselines = json!({
        "samples": {
            "test_samples": yte.len(),
            "majority_class": {
                "label": maj.map(|m| label_name.get(&m).cloned().unwrap_or_default()),
                "item_id": maj, "accuracy": accuracy(maj_hits, yte.len()),
            },
            "nearest_centroid": centroid,
        }
    });

    let images_file = dir.join(crate::io::IMAGE_SPLIT_FILE);
    let media = if images_file.is_file() {
        let (audit, image_baselines) = audit_images(dir, &images_file, meta, o)?;
        baselines["images"] = image_baselines;
        Some(audit)
    } else {
        None
    };
    Ok(json!({
        "class_balance": { "totals": { "train": totals[0], "valid": totals[1], "test": totals[2] }, "labels": class_balance },
        "baselines": baselines,
        "media": media,
    }))
}

/// One image of the audited table.
struct Img {
    id: u64,
    path: String,
    class: String,
    sha256: String,
    phash: Option<u64>,
    split: Option<usize>,
}

/// Test images with a copy in train, and what memorising the train images answers.
struct Lookup {
    /// Test images whose sha256 is a train image's.
    exact: usize,
    /// Test images without an exact copy but in a duplicate group with train images.
    near: usize,
    /// Correct classes from the exact copies, and from exact or near copies.
    exact_hits: usize,
    any_hits: usize,
}

/// The exact- and near-hash lookups: a test image gets the majority class of its train copies
/// (by sha256, else the train images of its duplicate group `root` within `t` bits of it).
fn train_copy_lookup(
    imgs: &[Img],
    root: &[u32],
    test: &[usize],
    t: u32,
    cos_pairs: &std::collections::HashSet<(u32, u32)>,
) -> Lookup {
    let mut train_sha: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut train_in_comp: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, m) in imgs.iter().enumerate() {
        if m.split == Some(0) {
            train_sha.entry(m.sha256.as_str()).or_default().push(i);
            train_in_comp.entry(root[i]).or_default().push(i);
        }
    }
    let vote = |cands: &[usize]| -> String {
        let classes: Vec<String> = cands.iter().map(|&i| imgs[i].class.clone()).collect();
        majority(&classes, &[]).0.unwrap_or_default()
    };
    let mut l = Lookup {
        exact: 0,
        near: 0,
        exact_hits: 0,
        any_hits: 0,
    };
    for &i in test {
        if let Some(c) = train_sha.get(imgs[i].sha256.as_str()) {
            l.exact += 1;
            let hit = usize::from(vote(c) == imgs[i].class);
            l.exact_hits += hit;
            l.any_hits += hit;
        } else if let Some(c) = train_in_comp.get(&root[i]) {
            // Within `t` bits of a train image itself (or above the cosine threshold with it),
            // not only linked to one through a chain of near copies in its group.
            let h = imgs[i].phash;
            let close: Vec<usize> = c
                .iter()
                .copied()
                .filter(|&j| {
                    matches!((h, imgs[j].phash), (Some(a), Some(b)) if (a ^ b).count_ones() <= t)
                        || cos_pairs.contains(&((i.min(j)) as u32, (i.max(j)) as u32))
                })
                .collect();
            if !close.is_empty() {
                l.near += 1;
                l.any_hits += usize::from(vote(&close) == imgs[i].class);
            }
        }
    }
    l
}

/// The image table with each image's split (from `splits/images.parquet`).
fn load_images(dir: &Path, images_file: &Path) -> Result<Vec<Img>> {
    let table = crate::io::SAMPLE_IMAGE_TABLE;
    let t = read_batch(&dir.join(format!("{table}.parquet")))?;
    let ids: &UInt64Array = column(&t, "image_id")?;
    let path: &StringArray = column(&t, "path")?;
    let class: &StringArray = column(&t, "soil_class")?;
    let sha: &StringArray = column(&t, "sha256")?;
    let ph: &UInt64Array = column(&t, "phash")?;
    let s = read_batch(images_file)?;
    let s_ids: &UInt64Array = column(&s, "image_id")?;
    let s_split: &StringArray = column(&s, "split")?;
    let split_by_id: HashMap<u64, Option<usize>> = (0..s.num_rows())
        .map(|i| {
            (
                s_ids.value(i),
                s_split
                    .is_valid(i)
                    .then(|| split_of(s_split.value(i)))
                    .flatten(),
            )
        })
        .collect();
    let imgs: Vec<Img> = (0..t.num_rows())
        .map(|i| Img {
            id: ids.value(i),
            path: path.value(i).to_owned(),
            class: class.value(i).to_owned(),
            sha256: sha.value(i).to_owned(),
            phash: ph.is_valid(i).then(|| ph.value(i)),
            split: split_by_id.get(&ids.value(i)).copied().flatten(),
        })
        .collect();
    Ok(imgs)
}

/// Near copies by embedding cosine (`near_cosine`, opt-in): the pairs at or above it and the
/// report of whether the search was applicable.
fn cosine_near_pairs(
    imgs: &[Img],
    emb: Option<&ImageVectors>,
    near_cosine: Option<f32>,
) -> (Value, Vec<(u32, u32)>) {
    let Some(c) = near_cosine else {
        return (Value::Null, Vec::new());
    };
    match emb {
        None => (
            json!({ "applicable": false, "min_cosine": c, "reason": "no encoder over the image table" }),
            Vec::new(),
        ),
        Some(_) if imgs.len() > dups::MAX_COSINE_IMAGES => (
            json!({ "applicable": false, "min_cosine": c,
            "reason": format!("{} images: the all-pairs cosine search runs up to {}", imgs.len(), dups::MAX_COSINE_IMAGES) }),
            Vec::new(),
        ),
        Some((name, vecs)) => {
            let v: Vec<Option<&[f32]>> = imgs
                .iter()
                .map(|m| vecs.get(&m.id).map(Vec::as_slice))
                .collect();
            let pairs = dups::cosine_pairs(&v, c);
            let report = json!({ "applicable": true, "min_cosine": c, "encoder": name, "pairs": pairs.len() });
            (report, pairs)
        }
    }
}

fn audit_images(
    dir: &Path,
    images_file: &Path,
    _meta: &Value,
    o: &SampleOptions,
) -> Result<(Value, Value)> {
    let table = crate::io::SAMPLE_IMAGE_TABLE;
    let imgs = load_images(dir, images_file)?;
    let media: Vec<Media<'_>> = imgs
        .iter()
        .map(|m| Media {
            sha256: &m.sha256,
            phash: m.phash,
        })
        .collect();
    // Near copies by embedding cosine too, when asked and the image table has vectors: catches
    // copies a perceptual hash misses (mirrored, cropped, recoloured pictures).
    // The image table's vectors, read once: the cosine pairs and the k-NN baseline use them.
    let emb = image_embeddings(dir, o.embedding.as_deref())?;
    let (cosine_report, cos_pairs) = cosine_near_pairs(&imgs, emb.as_ref(), o.near_cosine);
    let g = dups::group_with(&media, Some(o.near_threshold), &cos_pairs);
    let comps = dups::duplicate_groups(&g.root);
    let exact_sets = dups::members(&g.exact_root);
    let exact_groups: Vec<&Vec<usize>> = exact_sets.values().filter(|m| m.len() > 1).collect();
    let splits_of = |m: &[usize]| -> Vec<usize> {
        let mut v: Vec<usize> = m.iter().filter_map(|&i| imgs[i].split).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let exact_across = exact_groups
        .iter()
        .filter(|m| splits_of(m).len() > 1)
        .count();
    let near_only: Vec<&Vec<usize>> = comps
        .iter()
        .filter(|m| m.iter().any(|&i| g.exact_root[i] != g.exact_root[m[0]]))
        .collect();
    let near_across = near_only.iter().filter(|m| splits_of(m).len() > 1).count();
    let conflicting = comps
        .iter()
        .filter(|m| m.iter().any(|&i| imgs[i].class != imgs[m[0]].class))
        .count();
    let test: Vec<usize> = (0..imgs.len())
        .filter(|&i| imgs[i].split == Some(2))
        .collect();
    let cos_set: std::collections::HashSet<(u32, u32)> = cos_pairs.iter().copied().collect();
    let look = train_copy_lookup(&imgs, &g.root, &test, o.near_threshold, &cos_set);
    let (t_exact, t_near, lookup_exact_hits, lookup_any_hits) =
        (look.exact, look.near, look.exact_hits, look.any_hits);
    // Groups listed: across splits first, then by size.
    let mut listed: Vec<&Vec<usize>> = comps.iter().collect();
    listed.sort_by_key(|m| {
        (
            std::cmp::Reverse(splits_of(m).len()),
            std::cmp::Reverse(m.len()),
            m[0],
        )
    });
    let groups: Vec<Value> = listed
        .iter()
        .take(MAX_GROUPS)
        .map(|m| {
            let exact = m.iter().all(|&i| g.exact_root[i] == g.exact_root[m[0]]);
            json!({
                "kind": if exact { "exact" } else { "near" },
                "max_distance": g.max_distance.get(&g.root[m[0]]).copied().unwrap_or(0),
                "splits": splits_of(m).iter().map(|&s| SPLIT_NAMES[s]).collect::<Vec<_>>(),
                "images": m.iter().map(|&i| json!({
                    "image_id": imgs[i].id, "path": imgs[i].path, "class": imgs[i].class,
                    "split": imgs[i].split.map(|s| SPLIT_NAMES[s]), "sha256": &imgs[i].sha256[..16.min(imgs[i].sha256.len())],
                    "phash": imgs[i].phash.map(|h| format!("{h:016x}")),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let thumbs = o
        .media_root
        .as_deref()
        .map(|root| thumbnails(root, &listed, &imgs))
        .unwrap_or_default();
    let train_classes: Vec<String> = imgs
        .iter()
        .filter(|m| m.split == Some(0))
        .map(|m| m.class.clone())
        .collect();
    let test_classes: Vec<String> = test.iter().map(|&i| imgs[i].class.clone()).collect();
    let (img_major, img_major_hits) = majority(&train_classes, &test_classes);
    let audit = json!({
        "table": table,
        "images": imgs.len(),
        "hashed": imgs.iter().filter(|m| m.phash.is_some()).count(),
        "distinct_contents": exact_sets.len(),
        "near_threshold": o.near_threshold,
        "near_cosine": cosine_report,
        "phash": "64-bit DCT perceptual hash, the bits of Python imagehash.phash; near copies: Hamming distance <= near_threshold",
        "exact": {
            "groups": exact_groups.len(),
            "images": exact_groups.iter().map(|m| m.len()).sum::<usize>(),
            "redundant": exact_groups.iter().map(|m| m.len() - 1).sum::<usize>(),
            "groups_across_splits": exact_across,
        },
        "near": {
            "groups": near_only.len(),
            "images": near_only.iter().map(|m| m.len()).sum::<usize>(),
            "groups_across_splits": near_across,
        },
        "groups_with_conflicting_classes": conflicting,
        "test_images": test.len(),
        "test_images_with_train_copy": { "exact": t_exact, "near": t_near, "any": t_exact + t_near,
            "share": accuracy(t_exact + t_near, test.len()) },
        "groups": groups,
        "thumbnails": thumbs,
    });
    let knn = knn_baseline(&imgs, &test, emb.as_ref(), o.embedding.as_deref())?;
    let image_baselines = json!({
        "knn_embeddings": knn,
        "test_images": test.len(),
        "majority_class": { "class": img_major, "accuracy": accuracy(img_major_hits, test.len()) },
        "exact_hash_lookup": {
            "answered": t_exact,
            "accuracy": accuracy(lookup_exact_hits, test.len()),
            "method": "a test image whose sha256 is a train image's gets that train image's class (majority over copies); unanswered images count as wrong",
        },
        "near_hash_lookup": {
            "answered": t_exact + t_near,
            "accuracy": accuracy(lookup_any_hits, test.len()),
            "method": format!("as exact_hash_lookup, then a test image in a duplicate group (perceptual hash within {} bits) with train images gets their majority class", o.near_threshold),
        },
    });
    Ok((audit, image_baselines))
}

/// The first `embeddings/*.parquet` (by name) keyed by `image_id`: (encoder, id -> unit vector).
/// An encoder's name and its unit vectors by image id.
type ImageVectors = (String, HashMap<u64, Vec<f32>>);

fn image_embeddings(dir: &Path, requested: Option<&str>) -> Result<Option<ImageVectors>> {
    let d = dir.join("embeddings");
    if !d.is_dir() {
        return Ok(None);
    }
    let mut files: Vec<std::path::PathBuf> = match requested {
        Some(name) => vec![d.join(format!("{name}.parquet"))],
        None => fs_err::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect(),
    };
    files.retain(|f| f.is_file());
    files.sort();
    for f in files {
        let b = read_batch(&f)?;
        if b.column_by_name("image_id").is_none() {
            continue;
        }
        let ids: &UInt64Array = column(&b, "image_id")?;
        let list = b
            .column_by_name("embedding")
            .and_then(|c| arrow_array::cast::AsArray::as_fixed_size_list_opt(c))
            .ok_or_else(|| crate::error::Error::BadInput {
                path: f.clone(),
                message: "expected an `embedding` column of fixed-size lists of floats".into(),
            })?;
        let emb = super::data::list_values_f32(list, &f)?;
        let dim = emb.len() / b.num_rows().max(1);
        let mut out = HashMap::new();
        for i in 0..b.num_rows() {
            let mut v = emb[i * dim..(i + 1) * dim].to_vec();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                v.iter_mut().for_each(|x| *x /= n);
            }
            out.insert(ids.value(i), v);
        }
        let name = f
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned());
        return Ok(Some((name, out)));
    }
    Ok(None)
}

/// k-NN on the image embeddings: each test image gets the majority class of its `KNN_K` most
/// cosine-similar train images (ties between classes: the smallest class name; between equal
/// similarities: the lower image id), as scikit-learn's
/// `KNeighborsClassifier(n_neighbors=5, metric="cosine")`.
fn knn_baseline(
    imgs: &[Img],
    test: &[usize],
    vectors: Option<&ImageVectors>,
    requested: Option<&str>,
) -> Result<Value> {
    let Some((encoder, emb)) = vectors else {
        if let Some(name) = requested {
            return Ok(
                json!({ "applicable": false, "reason": format!("[stages.diagnostics] embedding = \"{name}\" is not an encoder over the image table (no embeddings/{name}.parquet keyed by image_id)") }),
            );
        }
        return Ok(
            json!({ "applicable": false, "reason": "no encoder over the image table (add [[stages.encode]] with table = \"soil_images\", media = \"image\")" }),
        );
    };
    let train: Vec<(&Vec<f32>, &str, u64)> = imgs
        .iter()
        .filter(|m| m.split == Some(0))
        .filter_map(|m| emb.get(&m.id).map(|v| (v, m.class.as_str(), m.id)))
        .collect();
    if train.is_empty() {
        return Ok(json!({ "applicable": false, "reason": "no train image has an embedding" }));
    }
    let (mut hits, mut scored) = (0usize, 0usize);
    for &i in test {
        let Some(q) = emb.get(&imgs[i].id) else {
            continue;
        };
        scored += 1;
        let mut sims: Vec<(f32, u64, &str)> = train
            .iter()
            .map(|(v, c, id)| {
                (
                    q.iter().zip(v.iter()).map(|(a, b)| a * b).sum::<f32>(),
                    *id,
                    *c,
                )
            })
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let classes: Vec<&str> = sims.iter().take(KNN_K).map(|s| s.2).collect();
        let pred = majority(&classes, &[]).0.unwrap_or_default();
        hits += usize::from(pred == imgs[i].class);
    }
    Ok(json!({
        "applicable": true, "encoder": encoder, "k": KNN_K, "metric": "cosine",
        "test_images_with_embedding": scored,
        "accuracy": accuracy(hits, test.len()),
        "method": "majority class of the 5 most cosine-similar train images (ties: smallest class name); test images without an embedding count as wrong",
    }))
}

/// Small JPEG thumbnails (data URIs) of the listed groups' images, for `report.html`.
fn thumbnails(root: &Path, listed: &[&Vec<usize>], imgs: &[Img]) -> BTreeMap<String, String> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for m in listed.iter().take(12) {
        for &i in m.iter().take(6) {
            let Ok(bytes) = fs_err::read(root.join(&imgs[i].path)) else {
                continue;
            };
            let Ok(img) = crate::encode::image::decode(&bytes) else {
                continue;
            };
            let h = 96u32;
            let w = ((img.width() as f64 * f64::from(h) / img.height().max(1) as f64).round()
                as u32)
                .clamp(8, 256);
            let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
            let mut buf = Vec::new();
            if image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 80)
                .encode_image(&small)
                .is_ok()
            {
                out.insert(
                    imgs[i].id.to_string(),
                    format!(
                        "data:image/jpeg;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(&buf)
                    ),
                );
            }
        }
    }
    out
}

/// The leakage findings (the shape of the interaction audit's, so `max_leakage` counts them).
pub fn leakage(doc: &Value) -> Vec<Value> {
    let m = &doc["media"];
    if m.is_null() {
        return Vec::new();
    }
    let t = &m["test_images_with_train_copy"];
    // Without test images there is nothing to check across splits (an unmapped split folder,
    // a tree without split folders): not applicable, so a threshold cannot pass on nothing.
    let has_test = m["test_images"].as_u64().unwrap_or(0) > 0;
    vec![
        json!({
            "id": "media_exact_copy_across_splits", "severity": "error", "applicable": has_test,
            "count": t["exact"],
            "description": "test images whose exact bytes (sha256) are also a train image",
        }),
        json!({
            "id": "media_near_copy_across_splits", "severity": "error", "applicable": has_test,
            "count": t["near"],
            "description": if m["near_cosine"]["applicable"] == true {
                format!("test images within {} perceptual-hash bits of a train image, or at embedding cosine >= {} with one, with no exact copy in train", m["near_threshold"], m["near_cosine"]["min_cosine"])
            } else {
                format!("test images within {} perceptual-hash bits of a train image, with no exact copy in train", m["near_threshold"])
            },
        }),
        json!({
            "id": "media_duplicates_within_table", "severity": "warning", "applicable": true,
            "count": m["exact"]["redundant"],
            "description": "images that repeat another image's exact bytes (redundant copies)",
        }),
        json!({
            "id": "media_groups_with_conflicting_classes", "severity": "warning", "applicable": true,
            "count": m["groups_with_conflicting_classes"],
            "description": "duplicate groups whose images carry different class labels",
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: u64, split: Option<usize>, phash: u64, sha: &str) -> Img {
        Img {
            id,
            path: format!("{id}.jpg"),
            class: "c".into(),
            sha256: sha.into(),
            phash: Some(phash),
            split,
        }
    }

    #[test]
    fn a_test_image_chained_to_train_through_a_third_image_is_not_a_near_copy() {
        // A (train) - B (no split) 6 bits, B - C (test) 6 bits, A - C 12 bits: one group, but
        // C is not within 8 bits of any train image (adversary finding).
        let (a, b, c) = (0u64, 0b11_1111u64, 0b1111_1111_1111u64);
        let imgs = vec![
            img(0, Some(0), a, "a"),
            img(1, None, b, "b"),
            img(2, Some(2), c, "c"),
        ];
        let none = std::collections::HashSet::new();
        let l = train_copy_lookup(&imgs, &[0, 0, 0], &[2], 8, &none);
        assert_eq!((l.exact, l.near), (0, 0));
        // Within the threshold of the train image itself: a near copy.
        let imgs = vec![img(0, Some(0), a, "a"), img(2, Some(2), b, "c")];
        let l = train_copy_lookup(&imgs, &[0, 0], &[1], 8, &none);
        assert_eq!((l.exact, l.near, l.any_hits), (0, 1, 1));
        // Far apart in hash, but a cosine pair: a near copy.
        let imgs = vec![img(0, Some(0), a, "a"), img(2, Some(2), !a, "c")];
        let l = train_copy_lookup(&imgs, &[0, 0], &[1], 8, &[(0, 1)].into_iter().collect());
        assert_eq!((l.exact, l.near), (0, 1));
    }
}
