//! Dataset diagnostics (docs/diagnostics.md): statistics, the split-leakage audit, the
//! transition-graph heuristic against baselines under full ranking, the shortcut statistics and
//! a verdict — `diagnostics.json` and a self-contained `report.html`.

pub mod data;
pub mod dups;
pub mod graph;
pub mod leakage;
pub mod media;
pub mod rank;
pub mod recency;
pub mod report;
pub mod samples;
pub mod stats;
pub mod tgh;

use std::path::Path;

use serde_json::{Value, json};

use crate::error::Result;
use crate::progress::Reporter;
use crate::util::linalg;
use crate::util::rng::Rng;
use data::Dataset;
use graph::Graph;

/// 2: TGH parameters from the manifest (`protocol.tgh`), D3's order-sufficiency curve with the
/// last-n anchors and the shuffle test on 2- and 3-gram rules, boundary ties at both splits.
pub const FORMAT_VERSION: u32 = 2;
pub const JSON: &str = "diagnostics.json";
pub const HTML: &str = "report.html";

/// Shortcut-solvable when the heuristic is within 5% of (or better than) the best baseline.
pub const SHORTCUT_GAP: f64 = -0.05;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Options {
    /// The encoder whose embeddings score items (default: the first by name).
    pub embedding: Option<String>,
    /// The transition-graph heuristic's parameters.
    pub tgh: tgh::Params,
    /// Sample corpora: perceptual-hash bits within which two images are near copies
    /// (default [`dups::DEFAULT_NEAR_THRESHOLD`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_threshold: Option<u32>,
    /// Sample corpora: near copies also by the cosine of the image embeddings (at least this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_cosine: Option<f32>,
    /// Sample corpora: where the image table's files are (thumbnails in the report). Not part
    /// of the fingerprint: the files' hashes already are.
    #[serde(skip)]
    pub media_root: Option<std::path::PathBuf>,
}

/// Manifest thresholds that turn findings into a failed build (exit 1).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Thresholds {
    /// The most error-severity leakage rows/users tolerated (0: none).
    pub max_leakage: Option<u64>,
    pub fail_if_heuristic_ndcg10_above: Option<f64>,
    pub fail_if_shortcut_solvable: bool,
}

/// The reasons `doc` fails `t` (empty when it passes).
pub fn check(doc: &Value, t: &Thresholds) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(max) = t.max_leakage {
        let errors: u64 = doc["leakage"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["severity"] == "error" && f["applicable"] == true)
            .map(|f| f["count"].as_u64().unwrap_or(0))
            .sum();
        if errors > max {
            let ids: Vec<String> = doc["leakage"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["severity"] == "error" && f["count"].as_u64().unwrap_or(0) > 0)
                .map(|f| format!("{} ({})", f["id"].as_str().unwrap_or("?"), f["count"]))
                .collect();
            why.push(format!(
                "leakage: {errors} error-level findings > max_leakage = {max}: {}",
                ids.join(", ")
            ));
        }
    }
    if let Some(max) = t.fail_if_heuristic_ndcg10_above {
        let best = doc["verdict"]["best_heuristic_ndcg10"]
            .as_f64()
            .unwrap_or(0.0);
        if best > max {
            why.push(format!(
                "the transition-graph heuristic reaches NDCG@10 {best:.4} > fail_if_heuristic_ndcg10_above = {max}"
            ));
        }
    }
    if t.fail_if_shortcut_solvable && doc["verdict"]["shortcut_solvable"] == true {
        why.push(format!(
            "shortcut-solvable: heuristic NDCG@10 / best baseline − 1 = {:.3} ≥ {SHORTCUT_GAP}",
            doc["verdict"]["shortcut_gap"].as_f64().unwrap_or(0.0)
        ));
    }
    why
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn quantile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Mean cosine of training transitions (a ≠ b) vs random pairs, and the AUC of a transition's
/// cosine against a random item from the same source.
fn feature_smoothness(ds: &Dataset, g: &Graph, seed: u64) -> Value {
    let Some(e) = &ds.embeddings else {
        return Value::Null;
    };
    let cos = |a: u32, b: u32| -> f64 {
        e.row(a)
            .iter()
            .zip(e.row(b))
            .map(|(x, y)| f64::from(x * y))
            .sum()
    };
    let with: Vec<u32> = (0..ds.n_items as u32)
        .filter(|&i| e.row(i).iter().any(|&v| v != 0.0))
        .collect();
    if with.len() < 2 {
        return Value::Null;
    }
    let mut rng = Rng::derive(seed, "feature-smoothness");
    // Up to 1,000,000 transitions (edges weighted by count), sampled by position.
    let pairs: Vec<(u32, u32)> = (0..g.n_items as u32)
        .flat_map(|a| {
            let (s, c) = g.out(a);
            s.iter()
                .zip(c)
                .filter(move |(b, _)| **b != a)
                .map(move |(&b, &c)| (a, b, c))
        })
        .flat_map(|(a, b, c)| std::iter::repeat_n((a, b), c as usize))
        .collect();
    if pairs.is_empty() {
        return Value::Null;
    }
    let take = linalg::sample(pairs.len(), pairs.len().min(1_000_000), &mut rng);
    let (mut trans, mut rand, mut wins) = (0f64, 0f64, 0f64);
    for &k in &take {
        let (a, b) = pairs[k];
        let r = with[rng.below(with.len() as u64) as usize];
        let (ct, cr) = (cos(a, b), cos(a, r));
        trans += ct;
        rand += cr;
        wins += if ct > cr {
            1.0
        } else if ct == cr {
            0.5
        } else {
            0.0
        };
    }
    let n = take.len() as f64;
    json!({
        "transitions": take.len(),
        "mean_cos_transitions": trans / n,
        "mean_cos_random": rand / n,
        "gap": (trans - rand) / n,
        "auc": wins / n,
    })
}

/// Runs every diagnostic on the published dataset in `dir`; returns the `diagnostics.json`
/// document.
pub fn compute(dir: &Path, o: &Options, p: &Reporter) -> Result<Value> {
    compute_with_meta(dir, None, o, p)
}

/// [`compute`] with the dataset's metadata given (a dataset being built has no `dataset.json`
/// yet).
// Long on purpose: the diagnostics in one pass: D1–D3, leakage and the verdict all read the train
// graph, the rankings and the hit lists made at the top; as separate functions each would take most
// of them as arguments, and the order of the report is the order here.
pub fn compute_with_meta(
    dir: &Path,
    meta: Option<Value>,
    o: &Options,
    p: &Reporter,
) -> Result<Value> {
    if dir.join(crate::io::SAMPLE_SPLIT_FILE).is_file() {
        return compute_samples(dir, meta, o, p);
    }
    let t0 = std::time::Instant::now();
    let tp = &o.tgh;
    let mut ds = Dataset::load(dir, o.embedding.as_deref())?;
    if let Some(m) = meta {
        ds.meta = m;
    }
    let split_method = ds.meta["split"]["method"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let (ds_name, ds_version) = (
        ds.meta["dataset"]["name"].clone(),
        ds.meta["dataset"]["version"].clone(),
    );
    p.info(format!(
        "Diagnosing {} users, {} items, {} train / {} valid / {} test rows{}",
        ds.users(),
        ds.items(),
        ds.train.rows(),
        ds.valid.rows(),
        ds.test.rows(),
        ds.embeddings.as_ref().map_or(String::new(), |e| format!(
            ", embeddings `{}` ({} dims)",
            e.name, e.dim
        ))
    ));
    let stats = stats::compute(&ds);
    let g = Graph::build(&ds.train, ds.n_users, ds.n_items);
    let (qs, skipped) = rank::queries(&ds);
    let pop = rank::Popularity::new(&ds);
    let inc = rank::Incidence::new(&ds);
    let ranked = rank::per_source_pass(&ds, &g, &pop, &inc, &qs, tp);
    let hits = rank::evaluate(&ds, &g, &pop, &ranked, &qs, tp);
    let nq = qs.len();
    let mut rankers = serde_json::Map::new();
    for (name, h) in rank::RANKERS.iter().zip(&hits) {
        if *name == "embnn" && ds.embeddings.is_none() {
            continue;
        }
        rankers.insert(name.to_string(), h.json(nq));
    }
    let nd = |name: &str| -> f64 {
        rank::RANKERS
            .iter()
            .position(|r| *r == name)
            .map_or(0.0, |k| hits[k].ndcg10(nq))
    };

    // D1: locality of the graph at the query source.
    let src_of = |q: &rank::Query| &ranked.per_source[ranked.source_index[q.src as usize] as usize];
    let mut deg: Vec<f64> = qs.iter().map(|q| src_of(q).out_degree as f64).collect();
    let mut ent: Vec<f64> = qs.iter().map(|q| src_of(q).entropy).collect();
    let norm_ent: Vec<f64> = qs
        .iter()
        .map(|q| {
            let s = src_of(q);
            s.entropy / (s.out_degree.max(2) as f64).ln()
        })
        .collect();
    let ring_share =
        |h: u8| ranked.target.iter().filter(|t| t.ring == h).count() as f64 / nq.max(1) as f64;
    let s10 = qs
        .iter()
        .zip(&ranked.target)
        .filter(|(q, t)| t.ring == 1 && src_of(q).out_degree <= 10)
        .count() as f64
        / nq.max(1) as f64;
    let deg_zero = deg.iter().filter(|&&d| d == 0.0).count() as f64 / nq.max(1) as f64;
    let deg_hist = stats::distribution(qs.iter().map(|q| src_of(q).out_degree as u64).collect());
    let d1 = json!({
        "out_degree_mean": mean(&deg),
        "out_degree_median": quantile(&mut deg, 0.5),
        "out_degree_p90": quantile(&mut deg, 0.9),
        "out_degree_zero_share": deg_zero,
        "out_degree_distribution": deg_hist,
        "entropy_mean": mean(&ent),
        "entropy_median": quantile(&mut ent, 0.5),
        "entropy_normalized_mean": mean(&norm_ent),
        "ring_coverage": { "c1": ring_share(1), "c2": ring_share(2), "c3": ring_share(3), "c_inf": ring_share(0) },
        "s10": s10,
        "markov_ndcg10": nd("markov"),
    });
    // D2: feature smoothness.
    let mut sem: Vec<f64> = ranked
        .target
        .iter()
        .filter_map(|t| t.semantic_rank.map(f64::from))
        .collect();
    let d2 = json!({
        "smoothness": feature_smoothness(&ds, &g, tp.seed),
        "embnn_ndcg10": ds.embeddings.as_ref().map(|_| nd("embnn")),
        "semantic_rank_median": (!sem.is_empty()).then(|| quantile(&mut sem, 0.5)),
        "semantic_rank_sample": sem.len(),
    });
    // D3: recency — the order-sufficiency curve on one set of users, and the shuffle test.
    let (t1, t2) = (nd("tgh1"), nd("tgh2"));
    let sample = recency::curve_sample(&qs, tp.last_n_sample, tp.seed);
    let cu = sample.len();
    let sampled = cu < nq;
    let (h1, h2) = if sampled {
        rank::tgh_hits_on(&ds, &g, &ranked, &qs, &sample, tp)
    } else {
        (hits[4], hits[5])
    };
    let last_n = recency::last_n_hits(&ds, &g, &qs, &sample, tp);
    let point = |history: String, ranker: String, n: Value, h: &rank::Hits| json!({ "history": history, "ranker": ranker, "last_n": n, "ndcg@10": h.ndcg10(cu), "recall@10": h.recall10(cu) });
    let mut curve = vec![
        point("last 1".into(), "tgh1".into(), json!(1), &h1),
        point("last 2".into(), "tgh2".into(), json!(2), &h2),
    ];
    for (&n, h) in tp.last_n.iter().zip(&last_n) {
        let (history, ranker) = if n == 0 {
            ("full history".to_string(), "tgh1_anchor_all".to_string())
        } else {
            (format!("last {n}"), format!("tgh1_anchor_last{n}"))
        };
        curve.push(point(history, ranker, tgh::Params::last_n_label(n), h));
    }
    let (l1, longer) = (
        h1.ndcg10(cu),
        curve[1..]
            .iter()
            .filter_map(|c| c["ndcg@10"].as_f64())
            .fold(0.0, f64::max),
    );
    let sufficiency = (longer > 0.0).then(|| l1 / longer);
    let full_history = tp
        .last_n
        .iter()
        .zip(&last_n)
        .find(|(n, _)| **n == 0)
        .map(|(_, h)| h.ndcg10(cu));
    let st = recency::shuffle_test(&ds, &g, tp.seed);
    let change = |orig: u64, shuf: u64| (orig > 0).then(|| shuf as f64 / orig as f64 - 1.0);
    let repeat_share = qs.iter().filter(|q| q.target_in_history).count() as f64 / nq.max(1) as f64;
    let d3 = json!({
        "tgh1_ndcg10": t1,
        "tgh2_ndcg10": t2,
        "curve": curve,
        "curve_users": cu,
        "curve_sampled": sampled,
        "curve_note": if ds.embeddings.is_none() {
            "no embeddings: a last-n anchor changes no score (every cosine is 0), so only last 1 and last 2 are reported"
        } else {
            "TGH-1 around the last item with the cosine anchor = the normalised mean of the last n history embeddings"
        },
        "full_history_ndcg10": full_history,
        "order_sufficiency": sufficiency,
        "shuffle_test": {
            "min_support": recency::MIN_SUPPORT,
            "min_confidence": recency::MIN_CONFIDENCE,
            "rules_2gram": { "original": st.rules2, "shuffled": st.rules2_shuffled, "change": change(st.rules2, st.rules2_shuffled) },
            "rules_3gram": { "original": st.rules3, "shuffled": st.rules3_shuffled, "change": change(st.rules3, st.rules3_shuffled) },
        },
        "target_repeat_share": repeat_share,
    });

    // Leakage, with the tie-break sensitivity from the rankings.
    let mut findings = leakage::audit(&ds, &split_method);
    let (id10, hash10) = (t1.max(t2), nd("tgh1_hash").max(nd("tgh2_hash")));
    let delta = if id10 > 0.0 {
        (id10 - hash10).abs() / id10
    } else {
        0.0
    };
    findings.push(leakage::Finding {
        id: "tiebreak_sensitivity",
        severity: leakage::Severity::Warning,
        count: u64::from(delta > 0.01),
        share: delta,
        examples: vec![json!({ "ndcg10_id": id10, "ndcg10_hash": hash10 })],
        description: "relative change of the heuristic's NDCG@10 when equal scores are ordered by a hash instead of the item id (> 1%: item ids carry information)".into(),
        applicable: true,
    });

    // Media duplicates among the items' pictures.
    let train_items: std::collections::HashSet<u32> = ds.train.item.iter().copied().collect();
    let test_items: std::collections::HashSet<u32> = ds.test.item.iter().copied().collect();
    let media_audit = media::audit(
        dir,
        o.near_threshold.unwrap_or(dups::DEFAULT_NEAR_THRESHOLD),
        &train_items,
        &test_items,
    )?;
    if let Some(m) = &media_audit {
        findings.push(leakage::Finding {
            id: "media_duplicate_items",
            severity: leakage::Severity::Warning,
            count: m["test_targets_with_train_twin"].as_u64().unwrap_or(0),
            share: m["test_targets_with_train_twin"].as_f64().unwrap_or(0.0)
                / test_items.len().max(1) as f64,
            examples: m["twin_examples"].as_array().cloned().unwrap_or_default(),
            description: format!(
                "test target items whose picture is an exact or near copy (perceptual hash within {} bits) of another item's that appears in training",
                m["near_threshold"]
            ),
            applicable: true,
        });
    }

    // Verdict.
    let best_h = [("tgh1", t1), ("tgh2", t2)]
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("tgh1", 0.0));
    let base: Vec<&str> = ["mostpop", "markov", "itemknn", "embnn"]
        .into_iter()
        .filter(|n| *n != "embnn" || ds.embeddings.is_some())
        .collect();
    let best_b = base
        .iter()
        .map(|n| (*n, nd(n)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("mostpop", 0.0));
    let gap = if best_b.1 > 0.0 {
        best_h.1 / best_b.1 - 1.0
    } else if best_h.1 > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let gap_json = if gap.is_finite() {
        json!(gap)
    } else {
        Value::Null
    };
    let mut flags = Vec::new();
    if s10 > 0.2 {
        flags.push(json!({ "id": "low_branching", "value": s10, "threshold": 0.2, "statistic": "S_10: share of targets in ring 1 of a source with out-degree <= 10" }));
    }
    if let Some(auc) = d2["smoothness"]["auc"].as_f64()
        && auc > 0.8
    {
        flags.push(json!({ "id": "feature_smooth", "value": auc, "threshold": 0.8, "statistic": "AUC of cos(a, next) over cos(a, random)" }));
    }
    // A flat or falling curve: the last item alone does (almost) as well as any longer context
    // (also when no longer context scores at all).
    if sufficiency.map_or(l1 > 0.0, |r| r > 0.95) {
        flags.push(json!({ "id": "short_history", "value": sufficiency, "threshold": 0.95, "statistic": "order sufficiency: NDCG@10 of TGH-1 (last item) / the best of TGH-2 (last two) and TGH-1 anchored on the last n items (up to the full history)" }));
    }
    let solvable = gap >= SHORTCUT_GAP && best_h.1 > 0.0;
    // D3 in words: last 1 vs last 2 vs the full history (or the longest last-n anchor).
    let longest = d3["curve"].as_array().and_then(|c| {
        c.iter()
            .skip(2)
            .find(|x| x["last_n"] == "all")
            .or(c.get(2..).and_then(|r| r.last()))
    });
    let recency_text = format!(
        "NDCG@10 by history used ({cu}{} users): last 1 {:.4}, last 2 {:.4}{}; order sufficiency {}",
        if sampled { " sampled" } else { "" },
        l1,
        h2.ndcg10(cu),
        longest.map_or(String::new(), |x| format!(
            ", {} {:.4}",
            x["history"].as_str().unwrap_or("?"),
            x["ndcg@10"].as_f64().unwrap_or(0.0)
        )),
        sufficiency.map_or("undefined".to_string(), |r| format!("{r:.3}"))
    );
    let verdict = json!({
        "best_heuristic": best_h.0,
        "best_heuristic_ndcg10": best_h.1,
        "best_baseline": best_b.0,
        "best_baseline_ndcg10": best_b.1,
        "shortcut_gap": gap_json,
        "shortcut_solvable": solvable,
        "flags": flags,
        "summary": format!("{}; {recency_text}", if solvable {
            format!("shortcut-solvable: {} reaches NDCG@10 {:.4} vs {:.4} for the best baseline ({})", best_h.0, best_h.1, best_b.1, best_b.0)
        } else {
            format!("not shortcut-solvable by the heuristic: {} NDCG@10 {:.4} vs {:.4} for {}", best_h.0, best_h.1, best_b.1, best_b.0)
        }),
        "note": "thresholds are recdata's (the 2026 paper's exact statistics are not public); statistics are named by formula in docs/diagnostics.md",
    });

    // Popularity long tail (train): counts at ~100 log-spaced ranks.
    let mut counts: Vec<u32> = pop.count.clone();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut curve = Vec::new();
    let mut r = 1usize;
    while r <= counts.len() {
        curve.push(json!([r, counts[r - 1]]));
        let next = ((r as f64) * 1.1).ceil() as usize;
        r = next.max(r + 1);
    }
    let hist_len = stats::distribution(qs.iter().map(|q| q.history_len as u64).collect());
    let coverage = modality_coverage(&ds);
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "dataset": { "name": ds_name, "version": ds_version },
        "tool": { "name": "recdata", "version": env!("CARGO_PKG_VERSION") },
        "protocol": {
            "split_method": split_method,
            "history": "train then valid rows, merged by time",
            "target": "first test row",
            "min_history": 2,
            "mask_history": false,
            "ranking": "full (no sampled negatives)",
            "ks": rank::KS,
            "tiebreak": "score desc, then item id (tgh*) or splitmix64(seed ^ id) (tgh*_hash); baselines: popularity desc, then id",
            "tgh": tp.json(),
            "embedding": ds.embeddings.as_ref().map(|e| json!({ "name": e.name, "dim": e.dim, "items_with_vector": e.present })),
        },
        "test_users": nq,
        "skipped_short_history": skipped,
        "stats": stats,
        "graph": { "edges": g.edges(), "transitions": g.transitions, "nodes": g.nodes.len() },
        "rankers": rankers,
        "shortcuts": { "d1": d1, "d2": d2, "d3": d3 },
        "leakage": findings,
        "media": media_audit,
        "verdict": verdict,
        "plots": { "popularity_curve": curve, "history_length": hist_len },
        "coverage": coverage,
    });
    p.info(format!(
        "Diagnostics in {:.1}s: {}",
        t0.elapsed().as_secs_f64(),
        doc["verdict"]["summary"].as_str().unwrap_or("")
    ));
    Ok(doc)
}

/// Media and embedding coverage from `dataset.json` (what the build recorded), and the
/// vectors the diagnostics used.
fn modality_coverage(ds: &Dataset) -> Value {
    let mut rows = Vec::new();
    for c in ds.meta["media_coverage"].as_array().into_iter().flatten() {
        rows.push(json!({ "what": format!("media: {}", c["modality"].as_str().unwrap_or("?")), "ok": c["ok"], "total": c["items"], "detail": c["missing_by_status"] }));
    }
    for e in ds.meta["encoders"].as_array().into_iter().flatten() {
        rows.push(json!({ "what": format!("embedding: {} ({})", e["name"].as_str().unwrap_or("?"), e["model"].as_str().unwrap_or("?")), "ok": e["ok"], "total": e["items"], "detail": e["missing_by_status"] }));
    }
    if let Some(e) = &ds.embeddings {
        rows.push(json!({ "what": format!("vectors used by the diagnostics: {}", e.name), "ok": e.present, "total": ds.items(), "detail": null }));
    }
    Value::Array(rows)
}

/// The diagnostics of a labelled sample corpus (class balance, baselines, media audit).
fn compute_samples(dir: &Path, meta: Option<Value>, o: &Options, p: &Reporter) -> Result<Value> {
    let meta = match meta {
        Some(m) => m,
        None => serde_json::from_slice(&fs_err::read(dir.join("dataset.json"))?)?,
    };
    let near_threshold = o.near_threshold.unwrap_or(dups::DEFAULT_NEAR_THRESHOLD);
    p.info("Diagnosing a labelled sample corpus: class balance, baselines, media duplicates");
    let s = samples::compute(
        dir,
        &meta,
        &samples::SampleOptions {
            near_threshold,
            embedding: o.embedding.clone(),
            near_cosine: o.near_cosine,
            media_root: o.media_root.clone(),
        },
    )?;
    let leakage = samples::leakage(&s);
    let cross = s["media"]["test_images_with_train_copy"]["any"]
        .as_u64()
        .unwrap_or(0);
    let summary = if s["media"].is_null() {
        "no image table: class balance and sample baselines only".to_string()
    } else if s["media"]["test_images"].as_u64().unwrap_or(0) == 0 {
        "the image split has no test images: there is nothing to check for copies across splits"
            .to_string()
    } else if cross > 0 {
        format!(
            "{cross} of {} test images have a copy in train ({} exact, {} near): an image classifier evaluated on this split is partly tested on its training images",
            s["media"]["test_images"],
            s["media"]["test_images_with_train_copy"]["exact"],
            s["media"]["test_images_with_train_copy"]["near"]
        )
    } else {
        "no test image has an exact or near copy in train".to_string()
    };
    Ok(json!({
        "format_version": FORMAT_VERSION,
        "kind": "samples",
        "dataset": { "name": meta["dataset"]["name"], "version": meta["dataset"]["version"] },
        "tool": { "name": "recdata", "version": crate::TOOL_VERSION },
        "protocol": { "split_method": meta["split"]["method"], "near_threshold": near_threshold, "images": meta["split"]["images"] },
        "verdict": { "summary": summary, "shortcut_solvable": false, "media_leakage": cross },
        "leakage": leakage,
        "class_balance": s["class_balance"],
        "baselines": s["baselines"],
        "media": s["media"],
    }))
}

/// `report.html` from a `diagnostics.json` document: the one renderer the writer and `verify`
/// share (the sample corpora's report carries its thumbnails in the document, so it is
/// regenerated byte for byte too).
pub fn render_html(doc: &Value) -> String {
    if doc["kind"] == "samples" {
        report::render_samples(doc)
    } else {
        report::render(doc)
    }
}

/// Writes `diagnostics.json` and `report.html` into `out`.
pub fn write(out: &Path, doc: &Value) -> Result<()> {
    fs_err::create_dir_all(out)?;
    let mut text = serde_json::to_vec_pretty(doc)?;
    text.push(b'\n');
    fs_err::write(out.join(JSON), text)?;
    fs_err::write(out.join(HTML), render_html(doc))?;
    Ok(())
}
