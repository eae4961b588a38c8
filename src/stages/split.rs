//! The split stage: leave-last-n (leave-one-out), global temporal cutoff, per-user
//! chronological ratio, and seeded random ratio.
//!
//! Input rows arrive in canonical order (user, ts, source tie-break). With
//! `tie_break = "source_order"` (the default) that order decides which of two events with the
//! same timestamp is "later"; with `"random"` the rows of each (user, timestamp) group are
//! shuffled by a generator seeded with `seed`, and the split files are written in that order.
//! The resolved protocol (method, parameters, cutoffs in ms and ISO form, seed, tie rule) goes
//! into `dataset.json` and the card.

use serde::Serialize;
use serde_json::json;

use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::util::rng::Rng;
use crate::util::time::{format_ms, parse_manifest_time};

mod output;

pub use output::write;

/// The split stage's statistics file in its output directory.
pub const STATS: &str = "split_stats.json";

pub const METHODS: &[&str] = &[
    "leave_one_out",
    "leave_last_n",
    "temporal",
    "user_ratio",
    "random",
    "stratified",
];

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    At(i64),
    Quantile(f64),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Method {
    LeaveLastN {
        valid_n: u32,
        test_n: u32,
        min_train: u32,
    },
    Temporal {
        valid_start: Option<Cut>,
        test_start: Cut,
    },
    UserRatio {
        ratios: [f64; 3],
    },
    Random {
        ratios: [f64; 3],
    },
    /// Labelled sample corpora (AgroSense): see `sample_split`.
    Stratified(super::sample_split::Stratified),
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    SourceOrder,
    Random,
}

/// `[stages.split]`.
#[derive(Debug, Clone, Serialize)]
pub struct SplitConfig {
    /// As written in the manifest (`leave_one_out` is `leave_last_n` with 1 and 1).
    pub name: String,
    pub method: Method,
    pub tie_break: TieBreak,
    pub seed: u64,
}

fn read_ratios(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<[f64; 3]> {
    let Some(v) = r.float_array(diags, "ratios") else {
        if !r.has("ratios") {
            r.missing(diags, "ratios", "[0.8, 0.1, 0.1]");
        }
        return None;
    };
    let ok = v.value.len() == 3
        && v.value.iter().all(|x| *x >= 0.0)
        && (v.value.iter().sum::<f64>() - 1.0).abs() < 1e-9;
    if !ok {
        diags.push(Diagnostic::error(
            "`ratios` must be three non-negative numbers (train, valid, test) that sum to 1",
            Some(v.span),
            "invalid ratios",
        ));
        return None;
    }
    Some([v.value[0], v.value[1], v.value[2]])
}

fn read_cut(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
    at: &'static str,
    q: &'static str,
) -> Option<Option<Cut>> {
    let t = r.time_text(diags, at);
    let quant = r.float(diags, q, 0.0, 1.0);
    match (t, quant) {
        (Some(t), None) => match parse_manifest_time(&t.value) {
            Some(ms) => Some(Some(Cut::At(ms))),
            None => {
                diags.push(Diagnostic::error(
                    format!("cannot read `{}` as a time", t.value),
                    Some(t.span),
                    "expected `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or epoch seconds",
                ));
                None
            }
        },
        (None, Some(q)) => Some(Some(Cut::Quantile(q.value))),
        (Some(t), Some(_)) => {
            diags.push(Diagnostic::error(
                format!("set either `{at}` or `{q}`, not both"),
                Some(t.span),
                "conflicting cutoff",
            ));
            None
        }
        (None, None) => Some(None),
    }
}

impl SplitConfig {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let before = diags.len();
        let name = r.choice(diags, "method", METHODS);
        if name.is_none() && !r.has("method") {
            r.missing(diags, "method", "\"leave_one_out\"");
        }
        let name = name?.value;
        let seed = r
            .int(diags, "seed", 0, i64::MAX)
            .map_or(0, |s| s.value as u64);
        let tie_break = match r
            .choice(diags, "tie_break", &["source_order", "random"])
            .map(|c| c.value)
        {
            Some("random") => TieBreak::Random,
            _ => TieBreak::SourceOrder,
        };
        let method = match name {
            "leave_one_out" | "leave_last_n" => {
                let d = i64::from(name == "leave_one_out");
                let (valid_n, test_n) = if name == "leave_one_out" {
                    (1, 1)
                } else {
                    (
                        r.int(diags, "valid_n", 0, 1_000_000).map_or(d, |v| v.value),
                        r.int(diags, "test_n", 1, 1_000_000).map_or(1, |v| v.value),
                    )
                };
                let min_train = r
                    .int(diags, "min_train", 0, 1_000_000)
                    .map_or(1, |v| v.value);
                Method::LeaveLastN {
                    valid_n: valid_n as u32,
                    test_n: test_n as u32,
                    min_train: min_train as u32,
                }
            }
            "temporal" => {
                let valid = read_cut(r, diags, "valid_start", "valid_quantile").flatten();
                let test = read_cut(r, diags, "test_start", "test_quantile").flatten();
                let Some(test) = test else {
                    if diags.len() == before {
                        diags.push(
                            Diagnostic::error(
                                "temporal split needs a test cutoff",
                                Some(r.span),
                                "in this table",
                            )
                            .with_help(
                                "set `test_start = \"2009-01-01\"` or `test_quantile = 0.9`",
                            ),
                        );
                    }
                    return None;
                };
                let out_of_order = match (valid, test) {
                    (Some(Cut::At(v)), Cut::At(t)) => v > t,
                    (Some(Cut::Quantile(v)), Cut::Quantile(t)) => v > t,
                    _ => false,
                };
                if out_of_order {
                    diags.push(Diagnostic::error(
                        "the validation cutoff must not be after the test cutoff",
                        Some(r.span),
                        "cutoffs out of order",
                    ));
                }
                Method::Temporal {
                    valid_start: valid,
                    test_start: test,
                }
            }
            "user_ratio" => Method::UserRatio {
                ratios: read_ratios(r, diags)?,
            },
            "stratified" => {
                use super::sample_split::{ImageSplit, Stratified};
                let ratios = if r.has("ratios") {
                    read_ratios(r, diags)?
                } else {
                    [0.8, 0.1, 0.1]
                };
                let images = match r
                    .choice(diags, "images", &["upstream", "group"])
                    .map(|c| c.value)
                {
                    Some("group") => ImageSplit::Group,
                    _ => ImageSplit::Upstream,
                };
                let near_duplicates = r.bool(diags, "near_duplicates").is_some_and(|b| b.value);
                let threshold = r.int(diags, "near_threshold", 0, 32);
                if let Some(t) = &threshold
                    && !(near_duplicates && images == ImageSplit::Group)
                {
                    diags.push(Diagnostic::error(
                        "`near_threshold` sets the near copies a group re-split keeps together; it needs `images = \"group\"` and `near_duplicates = true`",
                        Some(t.span),
                        "no effect here",
                    ).with_help("the media audit's threshold is [stages.diagnostics] near_threshold"));
                }
                let near_threshold = threshold
                    .map_or(crate::diagnose::dups::DEFAULT_NEAR_THRESHOLD, |v| {
                        v.value as u32
                    });
                if near_duplicates && images != ImageSplit::Group {
                    diags.push(
                        Diagnostic::error(
                            "`near_duplicates` groups images for a re-split; it needs `images = \"group\"`",
                            Some(r.span),
                            "the upstream split folders are kept as they are",
                        )
                        .with_help("set images = \"group\", or leave near_duplicates out (the media audit reports near copies either way)"),
                    );
                }
                Method::Stratified(Stratified {
                    ratios,
                    images,
                    near_duplicates,
                    near_threshold,
                })
            }
            _ => Method::Random {
                ratios: read_ratios(r, diags)?,
            },
        };
        (diags.len() == before).then(|| SplitConfig {
            name: name.to_owned(),
            method,
            tie_break,
            seed,
        })
    }
}

/// Which split each row goes to.
pub const TRAIN: u8 = 0;
pub const VALID: u8 = 1;
pub const TEST: u8 = 2;
pub use crate::io::SPLIT_NAMES as NAMES;

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct SplitStats {
    pub train: u64,
    pub valid: u64,
    pub test: u64,
    /// leave_last_n: users with too few rows for valid + test + min_train; all their rows are train.
    pub users_train_only: u64,
    /// The resolved protocol: method, parameters, cutoffs, seed, tie rule.
    pub protocol: serde_json::Value,
}

/// The assignment: `order` is the row order of the split files (a permutation of the input
/// rows; the identity unless ties are shuffled) and `split[k]` the split of row `order[k]`.
pub struct Assignment {
    pub order: Vec<u32>,
    pub split: Vec<u8>,
    pub stats: SplitStats,
}

/// `users` and `ts` are the filtered rows in canonical order.
pub fn run(cfg: &SplitConfig, users: &[u32], ts: &[i64]) -> Assignment {
    let n = users.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    if cfg.tie_break == TieBreak::Random {
        let mut rng = Rng::derive(cfg.seed, "tie_break");
        let mut s = 0;
        while s < n {
            let mut e = s + 1;
            while e < n && users[e] == users[s] && ts[e] == ts[s] {
                e += 1;
            }
            if e - s > 1 {
                rng.shuffle(&mut order[s..e]);
            }
            s = e;
        }
    }
    let mut split = vec![TRAIN; n];
    let mut stats = SplitStats::default();
    let mut protocol = json!({
        "method": cfg.name,
        "tie_break": cfg.tie_break,
        "tie_rule": match cfg.tie_break {
            TieBreak::SourceOrder => "rows with equal (user, timestamp) keep the corpus adapter's chronological source order",
            TieBreak::Random => "rows with equal (user, timestamp) are shuffled with the seeded generator",
        },
        "seed": cfg.seed,
    });
    let user_runs = || {
        let mut runs = Vec::new();
        let mut s = 0;
        for k in 1..=n {
            if k == n || users[order[k] as usize] != users[order[s] as usize] {
                runs.push((s, k));
                s = k;
            }
        }
        runs
    };
    match &cfg.method {
        // Not a split of interactions: sample_split::run does it (the build dispatches there).
        Method::Stratified(_) => {}
        Method::LeaveLastN {
            valid_n,
            test_n,
            min_train,
        } => {
            let (v, t, m) = (*valid_n as usize, *test_n as usize, *min_train as usize);
            for (s, e) in user_runs() {
                if e - s < v + t + m {
                    stats.users_train_only += 1;
                    continue;
                }
                split[e - t..e].iter_mut().for_each(|x| *x = TEST);
                split[e - t - v..e - t].iter_mut().for_each(|x| *x = VALID);
            }
            protocol["valid_n"] = (*valid_n).into();
            protocol["test_n"] = (*test_n).into();
            protocol["min_train"] = (*min_train).into();
        }
        Method::Temporal {
            valid_start,
            test_start,
        } => {
            let mut sorted: Vec<i64> = ts.to_vec();
            sorted.sort_unstable();
            let resolve = |c: &Cut| match c {
                Cut::At(ms) => *ms,
                Cut::Quantile(_) if sorted.is_empty() => i64::MIN,
                // The value at rank floor((n - 1) * q) of the sorted timestamps.
                Cut::Quantile(q) => sorted[((sorted.len() - 1) as f64 * q).floor() as usize],
            };
            let test_cut = resolve(test_start);
            let valid_cut = valid_start.as_ref().map_or(test_cut, resolve);
            for k in 0..n {
                let t = ts[order[k] as usize];
                split[k] = if t >= test_cut {
                    TEST
                } else if t >= valid_cut {
                    VALID
                } else {
                    TRAIN
                };
            }
            protocol["test_start_ms"] = test_cut.into();
            protocol["test_start"] = format_ms(test_cut).into();
            protocol["test_cut"] = serde_json::to_value(test_start).unwrap_or_default();
            if valid_start.is_some() {
                protocol["valid_start_ms"] = valid_cut.into();
                protocol["valid_start"] = format_ms(valid_cut).into();
                protocol["valid_cut"] = serde_json::to_value(valid_start).unwrap_or_default();
            }
            protocol["rule"] = "train: ts < valid_start; valid: valid_start <= ts < test_start; test: ts >= test_start".into();
        }
        Method::UserRatio { ratios } => {
            for (s, e) in user_runs() {
                let m = e - s;
                let n_train = (((m as f64) * ratios[0]).floor() as usize).max(1).min(m);
                let n_tv =
                    (((m as f64) * (ratios[0] + ratios[1])).floor() as usize).clamp(n_train, m);
                split[s + n_train..s + n_tv]
                    .iter_mut()
                    .for_each(|x| *x = VALID);
                split[s + n_tv..e].iter_mut().for_each(|x| *x = TEST);
            }
            protocol["ratios"] = json!(ratios);
            protocol["rule"] = "per user of m rows: train = max(1, floor(m*r_train)), valid up to floor(m*(r_train+r_valid)), test the rest".into();
        }
        Method::Random { ratios } => {
            let mut rng = Rng::derive(cfg.seed, "random_split");
            for x in &mut split {
                let u = rng.next_f64();
                *x = if u < ratios[0] {
                    TRAIN
                } else if u < ratios[0] + ratios[1] {
                    VALID
                } else {
                    TEST
                };
            }
            protocol["ratios"] = json!(ratios);
        }
    }
    for s in &split {
        match *s {
            TRAIN => stats.train += 1,
            VALID => stats.valid += 1,
            _ => stats.test += 1,
        }
    }
    stats.protocol = protocol;
    Assignment {
        order,
        split,
        stats,
    }
}
