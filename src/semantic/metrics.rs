//! Quality metrics of semantic ids (spec A4): collisions, per-level code usage, entropy and
//! perplexity, balance, prefix branching (the "hourglass" check), reconstruction error and
//! nearest-neighbour preservation.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::SidOptions;
use super::kmeans::{BLOCK, Kernel, dots};
use super::vectors::Vectors;
use crate::error::Result;
use crate::util::rng::Rng;

#[derive(Debug, Clone, Serialize)]
pub struct Collisions {
    /// (N − distinct tuples) / N.
    pub rate: f64,
    pub distinct: usize,
    pub max_group: usize,
    /// Mean size of the groups with more than one item.
    pub mean_collided_group: f64,
    pub groups_over_one: usize,
}

/// What collision re-assignment did: items moved to a free last-level code, items that found
/// none (they get the extra level), and the moved items' mean squared distance to their
/// last-level centroid before and after (the quantization error the move costs).
#[derive(Debug, Clone, Serialize)]
pub struct Reassigned {
    pub moved: usize,
    pub unresolved: usize,
    pub mean_sq_error_before: f64,
    pub mean_sq_error_after: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub level: usize,
    pub codebook_size: usize,
    pub used: usize,
    pub utilization: f64,
    /// Nats.
    pub entropy: f64,
    pub normalized_entropy: f64,
    pub perplexity: f64,
    /// Largest / smallest count over the used codes.
    pub max_min_ratio: f64,
    /// Coefficient of variation of the counts over all codes.
    pub cv: f64,
    pub gini: f64,
    /// Level ≥ 2: mean number of distinct codes under each used prefix, and H(c_l | c_<l).
    pub mean_branching: Option<f64>,
    pub conditional_entropy: Option<f64>,
    /// ‖R_l‖_F / ‖X‖_F after this level.
    pub residual_norm_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub items: usize,
    pub collisions_before: Collisions,
    pub collision_rate_after: f64,
    pub levels: Vec<Level>,
    pub tuple_entropy: f64,
    /// Mean over elements of (x − x̂)²; null in GRID residual-normalised mode.
    pub reconstruction_mse: Option<f64>,
    /// Mean over elements of |x − x̂| / (max(|x|, |x̂|) + 1e-4).
    pub relative_error: Option<f64>,
    pub nn: NnPreservation,
    /// Largest extra-level value and the share of items with one > 0.
    pub dedup_max: Option<u16>,
    pub dedup_share: Option<f64>,
    /// `dedup = "reassign"` only.
    pub reassigned: Option<Reassigned>,
    /// The balanced levels (`balance = "sinkhorn"`), empty otherwise.
    pub balance: Vec<super::balance::LevelBalance>,
}

/// Writes row `i` of a matrix computed on demand (e.g. a reconstruction) into the buffer.
type RowFn<'a> = dyn Fn(usize, &mut [f32]) + 'a;

/// The most items neighbours are searched among.
const NN_DATABASE: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct NnPreservation {
    /// Items searched among (a seeded sample when the catalogue is larger).
    pub database: usize,
    pub queries: usize,
    pub k: usize,
    /// Recall@k of the true cosine top-k when searching with reconstructed vectors.
    pub recall_reconstructed: Option<f64>,
    /// Share of the true top-k neighbours that share the query's level-1 code.
    pub prefix1_agreement: f64,
    /// … the query's level 1–2 prefix.
    pub prefix2_agreement: Option<f64>,
}

pub fn collisions(codes: &[Vec<u16>], levels: usize) -> Collisions {
    let mut groups: HashMap<&[u16], usize> = HashMap::new();
    for c in codes {
        *groups.entry(&c[..levels]).or_default() += 1;
    }
    let over: Vec<usize> = groups.values().copied().filter(|&g| g > 1).collect();
    Collisions {
        rate: (codes.len() - groups.len()) as f64 / codes.len().max(1) as f64,
        distinct: groups.len(),
        max_group: groups.values().copied().max().unwrap_or(0),
        mean_collided_group: if over.is_empty() {
            0.0
        } else {
            over.iter().sum::<usize>() as f64 / over.len() as f64
        },
        groups_over_one: over.len(),
    }
}

/// Entropy in nats of the counts (summed in sorted order: hash-map iteration order differs
/// between runs and would change the last bits).
fn entropy(counts: impl Iterator<Item = usize>, n: usize) -> f64 {
    let mut counts: Vec<usize> = counts.filter(|&c| c > 0).collect();
    counts.sort_unstable();
    counts
        .into_iter()
        .map(|c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum()
}

fn gini(counts: &[usize]) -> f64 {
    let mut v: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let sum: f64 = v.iter().sum();
    if sum == 0.0 || v.is_empty() {
        return 0.0;
    }
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, x)| (i as f64 + 1.0) * x)
        .sum();
    (2.0 * weighted) / (n * sum) - (n + 1.0) / n
}

#[allow(clippy::too_many_arguments)]
pub fn compute(
    x: &Vectors,
    codes: &[Vec<u16>],
    codebooks: &[Vec<f32>],
    ks: &[usize],
    o: &SidOptions,
    residual_norms: &[f64],
    before: Collisions,
) -> Result<Metrics> {
    let dim = x.dim;
    let n = codes.len();
    let levels = ks.len();
    let mut out_levels = Vec::new();
    for l in 0..levels {
        let mut counts = vec![0usize; ks[l]];
        for c in codes {
            counts[c[l] as usize] += 1;
        }
        let used: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
        let h = entropy(counts.iter().copied(), n);
        let mean = n as f64 / ks[l] as f64;
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / ks[l] as f64;
        let (mean_branching, conditional_entropy) = if l == 0 {
            (None, None)
        } else {
            let mut children: BTreeMap<&[u16], HashSet<u16>> = BTreeMap::new();
            let mut prefix_counts: HashMap<&[u16], usize> = HashMap::new();
            let mut full_counts: HashMap<&[u16], usize> = HashMap::new();
            for c in codes {
                children.entry(&c[..l]).or_default().insert(c[l]);
                *prefix_counts.entry(&c[..l]).or_default() += 1;
                *full_counts.entry(&c[..=l]).or_default() += 1;
            }
            let mb =
                children.values().map(|s| s.len()).sum::<usize>() as f64 / children.len() as f64;
            // H(c_l | c_<l) = H(c_≤l) − H(c_<l).
            let ce = entropy(full_counts.values().copied(), n)
                - entropy(prefix_counts.values().copied(), n);
            (Some(mb), Some(ce))
        };
        out_levels.push(Level {
            level: l + 1,
            codebook_size: ks[l],
            used: used.len(),
            utilization: used.len() as f64 / ks[l] as f64,
            entropy: h,
            normalized_entropy: h / (ks[l] as f64).ln(),
            perplexity: h.exp(),
            max_min_ratio: match (used.iter().max(), used.iter().min()) {
                (Some(&a), Some(&b)) if b > 0 => a as f64 / b as f64,
                _ => 0.0,
            },
            cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            gini: gini(&counts),
            mean_branching,
            conditional_entropy,
            residual_norm_ratio: residual_norms.get(l).copied().unwrap_or(0.0),
        });
    }
    let mut tuples: HashMap<&[u16], usize> = HashMap::new();
    for c in codes {
        *tuples.entry(&c[..levels]).or_default() += 1;
    }
    let tuple_entropy = entropy(tuples.values().copied(), n);
    // x̂ = Σ_l C_l[c_l] (not defined when residuals were re-normalised between levels),
    // computed row by row: no N × d reconstruction is held.
    let recon_row = |i: usize, out: &mut [f32]| {
        out.iter_mut().for_each(|v| *v = 0.0);
        for l in 0..levels {
            let c = codes[i][l] as usize;
            out.iter_mut()
                .zip(&codebooks[l][c * dim..(c + 1) * dim])
                .for_each(|(a, b)| *a += b);
        }
    };
    let (mse, rel) = if o.residual_norm {
        (None, None)
    } else {
        let mut buf = vec![0f32; dim];
        let mut se = 0f64;
        let mut re = 0f64;
        x.for_each_block(|lo, rows| {
            for (i, row) in (lo..).zip(rows.chunks(dim)) {
                recon_row(i, &mut buf);
                for (a, b) in row.iter().zip(&buf) {
                    let d = f64::from(a - b);
                    se += d * d;
                    re += d.abs() / (f64::from(a.abs().max(b.abs())) + 1e-4);
                }
            }
        })?;
        let cells = (n * dim) as f64;
        (Some(se / cells), Some(re / cells))
    };
    // The final codes (after re-assignment and/or the extra level).
    let after = {
        let all: HashSet<&[u16]> = codes.iter().map(Vec::as_slice).collect();
        (n - all.len()) as f64 / n as f64
    };
    let (dedup_max, dedup_share) = if codes.first().is_some_and(|c| c.len() > levels) {
        (
            codes.iter().map(|c| c[levels]).max(),
            Some(codes.iter().filter(|c| c[levels] > 0).count() as f64 / n as f64),
        )
    } else {
        (None, None)
    };
    let nn = nn_preservation(
        x,
        (!o.residual_norm).then_some(&recon_row),
        codes,
        levels,
        o.seed,
        o.kernel,
    )?;
    Ok(Metrics {
        items: n,
        collisions_before: before,
        collision_rate_after: after,
        levels: out_levels,
        tuple_entropy,
        reconstruction_mse: mse,
        relative_error: rel,
        nn,
        dedup_max,
        dedup_share,
        reassigned: None,
        balance: Vec::new(),
    })
}

/// Cosine top-k of `queries` among all rows of `db` (the query row itself excluded).
fn topk(kernel: Kernel, db: &[f32], dim: usize, queries: &[usize], k: usize) -> Vec<Vec<usize>> {
    let n = db.len() / dim;
    let mut unit = db.to_vec();
    super::normalize_rows(&mut unit, dim);
    let q: Vec<f32> = queries
        .iter()
        .flat_map(|&i| unit[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let nq = queries.len();
    let mut best: Vec<Vec<(f32, usize)>> = vec![Vec::new(); nq];
    let mut scores = vec![0f32; nq * BLOCK];
    for lo in (0..n).step_by(BLOCK) {
        let hi = (lo + BLOCK).min(n);
        let b = hi - lo;
        dots(
            kernel,
            &q,
            nq,
            dim,
            &unit[lo * dim..hi * dim],
            b,
            &mut scores[..nq * b],
        );
        for (qi, list) in best.iter_mut().enumerate() {
            // Only candidates at least as good as the current k-th best can enter.
            let floor = if list.len() >= k {
                list[k - 1].0
            } else {
                f32::NEG_INFINITY
            };
            for j in 0..b {
                let sc = scores[qi * b + j];
                if lo + j != queries[qi] && sc >= floor {
                    list.push((sc, lo + j));
                }
            }
            list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            list.truncate(k);
        }
    }
    best.into_iter()
        .map(|mut l| {
            l.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            l.into_iter().take(k).map(|p| p.1).collect()
        })
        .collect()
}

fn nn_preservation(
    x: &Vectors,
    recon: Option<&RowFn<'_>>,
    codes: &[Vec<u16>],
    levels: usize,
    seed: u64,
    kernel: Kernel,
) -> Result<NnPreservation> {
    let dim = x.dim;
    // Neighbours are searched within a seeded sample of at most 50,000 items (all of them in
    // smaller catalogues), for 1,000 queries drawn from it: the cost stays bounded at any N.
    let n_all = codes.len();
    let mut rng = Rng::derive(seed, "nn-preservation");
    let db = super::kmeans::sample(n_all, NN_DATABASE.min(n_all), &mut rng);
    let x = &x.gather(&db)?;
    let recon_sub = recon.map(|f| {
        let mut r = vec![0f32; db.len() * dim];
        for (row, &i) in r.chunks_mut(dim).zip(&db) {
            f(i, row);
        }
        r
    });
    let recon = recon_sub.as_deref();
    let codes: Vec<Vec<u16>> = db.iter().map(|&i| codes[i].clone()).collect();
    let codes = &codes;
    let n = codes.len();
    let k = 10.min(n.saturating_sub(1));
    let q = 1000.min(n);
    let queries = super::kmeans::sample(n, q, &mut rng);
    if k == 0 {
        return Ok(NnPreservation {
            database: n,
            queries: 0,
            k,
            recall_reconstructed: None,
            prefix1_agreement: 0.0,
            prefix2_agreement: None,
        });
    }
    let truth = topk(kernel, x, dim, &queries, k);
    let recall = recon.map(|r| {
        let got = topk(kernel, r, dim, &queries, k);
        let hit: usize = truth
            .iter()
            .zip(&got)
            .map(|(t, g)| {
                let g: HashSet<&usize> = g.iter().collect();
                t.iter().filter(|i| g.contains(i)).count()
            })
            .sum();
        hit as f64 / (truth.len() * k) as f64
    });
    let share = |len: usize| -> f64 {
        let same: usize = queries
            .iter()
            .zip(&truth)
            .map(|(&qi, t)| {
                t.iter()
                    .filter(|&&j| codes[j][..len] == codes[qi][..len])
                    .count()
            })
            .sum();
        same as f64 / (truth.len() * k) as f64
    };
    Ok(NnPreservation {
        database: n,
        queries: queries.len(),
        k,
        recall_reconstructed: recall,
        prefix1_agreement: share(1),
        prefix2_agreement: (levels >= 2).then(|| share(2)),
    })
}
