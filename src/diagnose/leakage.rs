//! The split-leakage audit (spec B8): each finding with a count, a share, examples and a
//! severity. Findings that do not apply (no timestamps, no embeddings) say so.

use crate::util::linalg;
use std::collections::HashSet;

use rayon::prelude::*;
use serde_json::{Value, json};

use super::data::Dataset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub id: &'static str,
    /// The severity when `count > 0` (a clean check is reported with count 0).
    pub severity: Severity,
    pub count: u64,
    pub share: f64,
    pub examples: Vec<Value>,
    pub description: String,
    /// False when the check could not run (e.g. no timestamps), with the reason.
    pub applicable: bool,
}

impl Finding {
    pub fn found(&self) -> bool {
        self.applicable && self.count > 0
    }
}

fn finding(id: &'static str, severity: Severity, description: impl Into<String>) -> Finding {
    Finding {
        id,
        severity,
        count: 0,
        share: 0.0,
        examples: Vec::new(),
        description: description.into(),
        applicable: true,
    }
}

fn not_applicable(mut f: Finding, why: &str) -> Finding {
    f.applicable = false;
    f.description = format!("{} (not checked: {why})", f.description);
    f
}

const EXAMPLES: usize = 5;
/// Cosine at or above which two items count as near-duplicates.
pub const NEAR_DUPLICATE_COS: f32 = 0.98;
const NEAR_DUPLICATE_SAMPLE: usize = 20_000;

/// First test row time per user (`None` without a test row or time).
fn first_test_ts(ds: &Dataset, u: usize) -> Option<i64> {
    let r = ds.test.user_rows(u);
    if r.is_empty() {
        None
    } else {
        ds.test.ts[r.start]
    }
}

fn has_times(ds: &Dataset) -> bool {
    ds.train.ts.iter().chain(&ds.test.ts).any(Option::is_some)
}

// Long on purpose: the checks of docs/diagnostics.md in their numbered order, reading the same
// per-user train and test indexes; each block is one finding.
pub fn audit(ds: &Dataset, split_method: &str) -> Vec<Finding> {
    let timed = has_times(ds);
    let mut out = Vec::new();

    // 1. Train events after a test user's target time, on the global timeline.
    let temporal = split_method == "temporal";
    let mut f = finding(
        "future_train_events",
        if temporal {
            Severity::Error
        } else {
            Severity::Warning
        },
        "train rows later than a test user's target time (the model learns from interactions not available at prediction time); share = mean over test users of the fraction of train rows after their target",
    );
    if timed {
        let mut train_ts: Vec<i64> = ds.train.ts.iter().flatten().copied().collect();
        train_ts.sort_unstable();
        let total = train_ts.len().max(1) as f64;
        let per: Vec<(usize, u64)> = (0..ds.n_users)
            .into_par_iter()
            .filter_map(|u| {
                first_test_ts(ds, u).map(|t| {
                    let after = train_ts.len() - train_ts.partition_point(|&x| x <= t);
                    (u, after as u64)
                })
            })
            .collect();
        f.count = per.iter().filter(|p| p.1 > 0).count() as u64;
        f.share = per.iter().map(|p| p.1 as f64 / total).sum::<f64>() / per.len().max(1) as f64;
        let mut worst: Vec<&(usize, u64)> = per.iter().filter(|p| p.1 > 0).collect();
        worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        f.examples = worst
            .iter()
            .take(EXAMPLES)
            .map(|p| json!({ "user_id": p.0, "train_rows_after_target": p.1 }))
            .collect();
    } else {
        f = not_applicable(f, "no timestamps");
    }
    out.push(f);

    // 2–3. A user's own later events in their training history.
    let own = |id: &'static str,
               desc: &str,
               earlier: &super::data::Split,
               later: &[&super::data::Split]| {
        let mut f = finding(id, Severity::Error, desc);
        if !timed {
            return not_applicable(f, "no timestamps");
        }
        let mut rows = 0u64;
        let mut users = 0u64;
        for u in 0..ds.n_users {
            let cut = later
                .iter()
                .filter_map(|s| {
                    let r = s.user_rows(u);
                    s.ts[r].iter().flatten().min().copied()
                })
                .min();
            let Some(cut) = cut else { continue };
            let mut hit = false;
            for r in earlier.user_rows(u) {
                if let Some(t) = earlier.ts[r]
                    && t > cut
                {
                    rows += 1;
                    hit = true;
                    if f.examples.len() < EXAMPLES {
                        f.examples.push(json!({ "user_id": u, "item_id": earlier.item[r], "ts": t, "later_split_starts": cut }));
                    }
                }
            }
            users += u64::from(hit);
        }
        f.count = rows;
        f.share = rows as f64 / earlier.rows().max(1) as f64;
        f.description = format!("{} ({users} users)", f.description);
        f
    };
    out.push(own(
        "train_after_eval",
        "train rows later than the same user's first valid or test row",
        &ds.train,
        &[&ds.valid, &ds.test],
    ));
    out.push(own(
        "valid_after_test",
        "valid rows later than the same user's first test row",
        &ds.valid,
        &[&ds.test],
    ));

    // 4–5. The same event or the same (user, item) pair on both sides of the split.
    let mut dup = finding(
        "duplicate_events_across_splits",
        Severity::Error,
        "identical (user, item, timestamp) rows in train and in valid or test",
    );
    let mut rep = finding(
        "repeat_pairs_across_splits",
        Severity::Info,
        "test rows whose (user, item) pair is also in that user's train rows (repeat consumption; legitimate in many domains, but an easy case)",
    );
    let per: Vec<(u64, u64, Vec<Value>, Vec<Value>)> = (0..ds.n_users)
        .into_par_iter()
        .with_min_len(1024)
        .map(|u| {
            let tr = ds.train.user_rows(u);
            let pairs: HashSet<u32> = ds.train.item[tr.clone()].iter().copied().collect();
            let events: HashSet<(u32, i64)> = tr
                .clone()
                .filter_map(|r| ds.train.ts[r].map(|t| (ds.train.item[r], t)))
                .collect();
            let (mut d, mut p) = (0u64, 0u64);
            let (mut de, mut pe) = (Vec::new(), Vec::new());
            for s in [&ds.valid, &ds.test] {
                for r in s.user_rows(u) {
                    let i = s.item[r];
                    if let Some(t) = s.ts[r]
                        && events.contains(&(i, t))
                    {
                        d += 1;
                        if de.len() < EXAMPLES {
                            de.push(json!({ "user_id": u, "item_id": i, "ts": t }));
                        }
                    }
                }
            }
            for r in ds.test.user_rows(u) {
                if pairs.contains(&ds.test.item[r]) {
                    p += 1;
                    if pe.len() < EXAMPLES {
                        pe.push(json!({ "user_id": u, "item_id": ds.test.item[r] }));
                    }
                }
            }
            (d, p, de, pe)
        })
        .collect();
    for (d, p, de, pe) in per {
        dup.count += d;
        rep.count += p;
        for e in de {
            if dup.examples.len() < EXAMPLES {
                dup.examples.push(e);
            }
        }
        for e in pe {
            if rep.examples.len() < EXAMPLES {
                rep.examples.push(e);
            }
        }
    }
    dup.share = dup.count as f64 / (ds.valid.rows() + ds.test.rows()).max(1) as f64;
    rep.share = rep.count as f64 / ds.test.rows().max(1) as f64;
    if !timed {
        dup = not_applicable(dup, "no timestamps");
    }
    out.push(dup);
    out.push(rep);

    // 6. Ties across a boundary: the train/valid and the history/test boundary of a user fall
    // on one timestamp, so the order across the split is arbitrary.
    let mut ties = finding(
        "boundary_ties",
        Severity::Warning,
        "users whose last train event and first valid event, or whose last history event and first test event, have the same timestamp (their order across the split is arbitrary)",
    );
    if timed {
        let (mut users, mut at_valid, mut at_test, mut with_boundary) = (0u64, 0u64, 0u64, 0u64);
        for u in 0..ds.n_users {
            let (tr, va) = (ds.train.user_rows(u), ds.valid.user_rows(u));
            let has_valid_boundary = !tr.is_empty() && !va.is_empty();
            let valid_tie = if has_valid_boundary {
                let last_train = ds.train.ts[tr.clone()].iter().flatten().max().copied();
                let first_valid = ds.valid.ts[va.clone()].iter().flatten().min().copied();
                last_train.filter(|t| Some(*t) == first_valid)
            } else {
                None
            };
            let first_test = first_test_ts(ds, u);
            let has_test_boundary = first_test.is_some() && !(tr.is_empty() && va.is_empty());
            let test_tie = first_test.filter(|_| has_test_boundary).and_then(|t| {
                let (_, times) = ds.history(u);
                (times.last().copied().flatten() == Some(t)).then_some(t)
            });
            with_boundary += u64::from(has_valid_boundary || has_test_boundary);
            at_valid += u64::from(valid_tie.is_some());
            at_test += u64::from(test_tie.is_some());
            if valid_tie.is_some() || test_tie.is_some() {
                users += 1;
            }
            for (boundary, t) in [("train/valid", valid_tie), ("history/test", test_tie)] {
                if let Some(t) = t
                    && ties.examples.len() < EXAMPLES
                {
                    ties.examples
                        .push(json!({ "user_id": u, "ts": t, "boundary": boundary }));
                }
            }
        }
        ties.count = users;
        ties.share = users as f64 / with_boundary.max(1) as f64;
        ties.description = format!(
            "{} ({at_valid} at train/valid, {at_test} at history/test)",
            ties.description
        );
    } else {
        ties = not_applicable(ties, "no timestamps");
    }
    out.push(ties);

    // 7. Item ids that follow time.
    let mut ord = finding(
        "id_order_time",
        Severity::Warning,
        "Spearman correlation between item id and the item's first appearance time (|rho| >= 0.5: id tie-breaks can leak time)",
    );
    if timed {
        let mut first = vec![i64::MAX; ds.n_items];
        for s in [&ds.train, &ds.valid, &ds.test] {
            for (i, t) in s.item.iter().zip(&s.ts) {
                if let Some(t) = t {
                    let f = &mut first[*i as usize];
                    *f = (*f).min(*t);
                }
            }
        }
        let pts: Vec<(f64, f64)> = first
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != i64::MAX)
            .map(|(i, t)| (i as f64, *t as f64))
            .collect();
        let rho = spearman(&pts);
        ord.share = rho;
        ord.count = u64::from(rho.abs() >= 0.5);
        ord.examples = vec![json!({ "spearman_rho": rho, "items": pts.len() })];
    } else {
        ord = not_applicable(ord, "no timestamps");
    }
    out.push(ord);

    // 9. Near-duplicate items across the split.
    let mut nd = finding(
        "near_duplicate_items",
        Severity::Warning,
        format!(
            "test target items with a different train item at cosine >= {NEAR_DUPLICATE_COS} (the same content under two ids)"
        ),
    );
    match &ds.embeddings {
        Some(e) => near_duplicates(ds, e, &mut nd),
        None => nd = not_applicable(nd, "no embeddings"),
    }
    out.push(nd);
    out
}

fn near_duplicates(ds: &Dataset, e: &super::data::Embeddings, f: &mut Finding) {
    let mut in_train = vec![false; ds.n_items];
    for &i in &ds.train.item {
        in_train[i as usize] = true;
    }
    let train_items: Vec<u32> = (0..ds.n_items as u32)
        .filter(|&i| in_train[i as usize] && e.row(i).iter().any(|&v| v != 0.0))
        .collect();
    let mut targets: Vec<u32> = (0..ds.n_users)
        .filter_map(|u| {
            let r = ds.test.user_rows(u);
            (!r.is_empty()).then(|| ds.test.item[r.start])
        })
        .collect();
    targets.sort_unstable();
    targets.dedup();
    targets.retain(|&t| e.row(t).iter().any(|&v| v != 0.0));
    let mut rng = crate::util::rng::Rng::derive(0, "near-duplicates");
    let pick = linalg::sample(
        targets.len(),
        NEAR_DUPLICATE_SAMPLE.min(targets.len()),
        &mut rng,
    );
    let targets: Vec<u32> = pick.into_iter().map(|i| targets[i]).collect();
    let db: Vec<f32> = train_items
        .iter()
        .flat_map(|&i| e.row(i).iter().copied())
        .collect();
    let hits: Vec<Option<(u32, u32, f32)>> = targets
        .par_chunks(256)
        .flat_map_iter(|chunk| {
            let q: Vec<f32> = chunk
                .iter()
                .flat_map(|&t| e.row(t).iter().copied())
                .collect();
            let mut s = vec![0f32; chunk.len() * train_items.len()];
            if !train_items.is_empty() {
                linalg::dots(&q, chunk.len(), e.dim, &db, train_items.len(), &mut s);
            }
            let n = train_items.len();
            chunk
                .iter()
                .enumerate()
                .map(|(r, &t)| {
                    let mut best: Option<(u32, u32, f32)> = None;
                    for (k, &c) in s[r * n..(r + 1) * n].iter().enumerate() {
                        let j = train_items[k];
                        if j != t && c >= NEAR_DUPLICATE_COS && best.is_none_or(|b| c > b.2) {
                            best = Some((t, j, c));
                        }
                    }
                    best
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let found: Vec<(u32, u32, f32)> = hits.into_iter().flatten().collect();
    f.count = found.len() as u64;
    f.share = found.len() as f64 / targets.len().max(1) as f64;
    f.examples = found
        .iter()
        .take(EXAMPLES)
        .map(|(t, j, c)| json!({ "test_item": t, "train_item": j, "cosine": c }))
        .collect();
    f.description = format!("{} ({} targets checked)", f.description, targets.len());
}

/// Spearman's rank correlation (average ranks on ties).
pub fn spearman(pts: &[(f64, f64)]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0f64; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for &k in &idx[i..=j] {
                r[k] = avg;
            }
            i = j + 1;
        }
        r
    }
    if pts.len() < 2 {
        return 0.0;
    }
    let a = ranks(&pts.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = ranks(&pts.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_by_hand() {
        assert!((spearman(&[(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[(1.0, 30.0), (2.0, 20.0), (3.0, 10.0)]) + 1.0).abs() < 1e-12);
        // Ranks (1,2,3,4) vs (1,3,2,4): 1 − 6·2/(4·15) = 0.8.
        assert!((spearman(&[(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (4.0, 4.0)]) - 0.8).abs() < 1e-12);
    }
}
