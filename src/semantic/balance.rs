//! Balanced codebooks (spec A3.3-b): entropic optimal transport between the items and the
//! codes of a level, with exact capacities, then greedy rounding — the MiniOneRec / LC-Rec
//! style fix for codebooks where a few codes take most items.
//!
//! The transport runs in the log domain on a sparse kernel: each item keeps its `m` nearest
//! codes (the others cost +∞), so an iteration is O(N·m) and memory is N·m·6 bytes rather
//! than an N × K matrix. Capacities are ⌊N/K⌋ (+1 for the first N mod K codes), so every code
//! is used by ⌊N/K⌋ or ⌈N/K⌉ items after rounding.

use rayon::prelude::*;

use super::kmeans::{Kernel, map_dot_blocks, sq_norm, sq_norms};
use crate::error::Result;
use crate::util::rng::Rng;

/// Candidate codes kept per item.
pub const CANDIDATES: usize = 32;
/// Sinkhorn iterations (each one updates f, then g).
pub const ITERATIONS: usize = 30;
/// Rows the temperature is estimated on.
const TAU_SAMPLE: usize = 4000;
/// Rows per partial log-sum-exp chunk (fixed: results do not depend on the thread count).
const CHUNK: usize = 8192;

/// What balancing did on one level (recorded in the metrics).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LevelBalance {
    pub level: usize,
    pub method: &'static str,
    pub candidates: usize,
    pub iterations: usize,
    /// Entropic temperature: 0.1 × the median over sampled items of the 90th percentile of
    /// (distance − nearest distance).
    pub tau: f64,
    pub capacity_min: usize,
    pub capacity_max: usize,
    /// Items whose candidates were all full; they took the code with the most room left.
    pub fallback: usize,
    /// Items not on their nearest code after balancing.
    pub moved_from_nearest: usize,
}

/// Fills rows `lo..hi` of the vectors into the buffer.
type FillRows<'a> = dyn Fn(usize, usize, &mut [f32]) -> Result<()> + Sync + 'a;
/// Balanced codes of `rows` residuals (`fill(lo, hi, out)`) against centroids `c` (`k × dim`).
/// Returns the codes, each item's squared distance to its code, and the report.
#[allow(clippy::too_many_arguments)]
// Long on purpose: the numbered steps of the balanced assignment (candidates by GEMM, capacities,
// Sinkhorn iterations, rounding, fallback distances) share the candidate matrices; it follows
// the algorithm step by step, each commented.
pub fn sinkhorn_assign(
    kernel: Kernel,
    rows: usize,
    dim: usize,
    c: &[f32],
    k: usize,
    level: usize,
    fill: &FillRows<'_>,
    rng: &mut Rng,
) -> Result<(Vec<u32>, Vec<f32>, LevelBalance)> {
    let m = CANDIDATES.min(k);
    let cn = sq_norms(kernel, c, dim);
    let tau_rows = super::kmeans::sample(rows, TAU_SAMPLE.min(rows), rng);
    let mut in_tau = vec![false; rows];
    tau_rows.iter().for_each(|&i| in_tau[i] = true);
    // One GEMM pass: each item's m nearest codes (by (distance, code)) and, for the sampled
    // items, the 90th percentile of its distance gaps.
    let blocks = map_dot_blocks(kernel, rows, dim, c, k, fill, |lo, xs, dots| {
        let n = xs.len() / dim;
        let mut codes = Vec::with_capacity(n * m);
        let mut dist = Vec::with_capacity(n * m);
        let mut p90 = Vec::new();
        let mut row: Vec<(f32, u32)> = Vec::with_capacity(k);
        for r in 0..n {
            let xn = sq_norm(kernel, &xs[r * dim..(r + 1) * dim]);
            row.clear();
            row.extend(
                dots[r * k..(r + 1) * k]
                    .iter()
                    .zip(&cn)
                    .enumerate()
                    .map(|(j, (v, cj))| ((xn + cj - 2.0 * v).max(0.0), j as u32)),
            );
            let by = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if in_tau[lo + r] {
                let mut d: Vec<f32> = row.iter().map(|p| p.0).collect();
                d.sort_by(f32::total_cmp);
                let q = d[((k - 1) as f64 * 0.9).round() as usize];
                p90.push(f64::from(q - d[0]));
            }
            if m < k {
                row.select_nth_unstable_by(m - 1, by);
            }
            row[..m].sort_by(by);
            for &(d, j) in &row[..m] {
                codes.push(j);
                dist.push(d);
            }
        }
        (codes, dist, p90)
    })?;
    let mut cand = Vec::with_capacity(rows * m);
    let mut cost = Vec::with_capacity(rows * m);
    let mut gaps = Vec::new();
    for (c, d, p) in blocks {
        cand.extend(c);
        cost.extend(d);
        gaps.extend(p);
    }
    gaps.sort_by(f64::total_cmp);
    let tau = gaps
        .get(gaps.len() / 2)
        .map_or(1e-6, |&g| (0.1 * g).max(1e-6));

    // Capacities and marginals.
    let cap: Vec<usize> = (0..k)
        .map(|j| rows / k + usize::from(j < rows % k))
        .collect();
    let log_a = -(rows as f64).ln();
    let log_b: Vec<f64> = cap
        .iter()
        .map(|&c| (c.max(1) as f64 / rows as f64).ln())
        .collect();
    let mut f = vec![0f64; rows];
    let mut g = vec![0f64; k];
    for _ in 0..ITERATIONS {
        // f_i = −τ·LSE_j((g_j − D_ij)/τ) + τ·log a_i, row by row.
        f.par_chunks_mut(CHUNK).enumerate().for_each(|(ch, fs)| {
            for (r, fi) in fs.iter_mut().enumerate() {
                let i = ch * CHUNK + r;
                let terms = (0..m)
                    .map(|t| (g[cand[i * m + t] as usize] - f64::from(cost[i * m + t])) / tau);
                *fi = -tau * lse(terms) + tau * log_a;
            }
        });
        // g_j = −τ·LSE_{i: j ∈ cand(i)}((f_i − D_ij)/τ) + τ·log b_j: partial (max, sum) per
        // fixed chunk, merged in chunk order.
        let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|ch| {
                let mut mx = vec![f64::NEG_INFINITY; k];
                let mut sm = vec![0f64; k];
                let hi = ((ch + 1) * CHUNK).min(rows);
                for i in ch * CHUNK..hi {
                    for t in 0..m {
                        let j = cand[i * m + t] as usize;
                        let v = (f[i] - f64::from(cost[i * m + t])) / tau;
                        merge(&mut mx[j], &mut sm[j], v, 1.0);
                    }
                }
                (mx, sm)
            })
            .collect();
        let mut mx = vec![f64::NEG_INFINITY; k];
        let mut sm = vec![0f64; k];
        for (pm, ps) in parts {
            for j in 0..k {
                if ps[j] > 0.0 {
                    merge(&mut mx[j], &mut sm[j], pm[j], ps[j]);
                }
            }
        }
        for j in 0..k {
            // A code no item has among its candidates keeps g = 0 (it is only reached by the
            // rounding's fallback).
            g[j] = if sm[j] > 0.0 {
                -tau * (mx[j] + sm[j].ln()) + tau * log_b[j]
            } else {
                0.0
            };
        }
    }

    // Rounding: items in a seeded order take their best candidate by g_j − D_ij (f_i is the
    // same for all of an item's candidates) that still has room.
    let mut order: Vec<usize> = (0..rows).collect();
    rng.shuffle(&mut order);
    let mut left = cap.clone();
    let mut codes = vec![0u32; rows];
    let mut dist = vec![f32::NAN; rows];
    let mut fallback_rows = Vec::new();
    let mut ranked: Vec<(f64, usize)> = Vec::with_capacity(m);
    for &i in &order {
        ranked.clear();
        ranked
            .extend((0..m).map(|t| (g[cand[i * m + t] as usize] - f64::from(cost[i * m + t]), t)));
        ranked.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(cand[i * m + a.1].cmp(&cand[i * m + b.1]))
        });
        match ranked
            .iter()
            .find(|(_, t)| left[cand[i * m + t] as usize] > 0)
        {
            Some(&(_, t)) => {
                let j = cand[i * m + t] as usize;
                left[j] -= 1;
                codes[i] = j as u32;
                dist[i] = cost[i * m + t];
            }
            None => {
                // The code with the most room left (lowest index on ties).
                let j = (0..k)
                    .max_by(|&a, &b| left[a].cmp(&left[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                left[j] -= 1;
                codes[i] = j as u32;
                fallback_rows.push(i);
            }
        }
    }
    // Distances of the fallback items to their (non-candidate) codes.
    let mut buf = vec![0f32; dim];
    for &i in &fallback_rows {
        fill(i, i + 1, &mut buf)?;
        let j = codes[i] as usize;
        dist[i] = buf
            .iter()
            .zip(&c[j * dim..(j + 1) * dim])
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
    }
    let moved = (0..rows).filter(|&i| codes[i] != cand[i * m]).count();
    Ok((
        codes,
        dist,
        LevelBalance {
            level: level + 1,
            method: "sinkhorn",
            candidates: m,
            iterations: ITERATIONS,
            tau,
            capacity_min: cap.iter().copied().min().unwrap_or(0),
            capacity_max: cap.iter().copied().max().unwrap_or(0),
            fallback: fallback_rows.len(),
            moved_from_nearest: moved,
        },
    ))
}

/// Adds `weight · e^v` to a running (max, Σ e^(x − max)) pair.
fn merge(mx: &mut f64, sm: &mut f64, v: f64, weight: f64) {
    if v > *mx {
        *sm = *sm * (*mx - v).exp() + weight;
        *mx = v;
    } else {
        *sm += weight * (v - *mx).exp();
    }
}

fn lse(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let mx = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if !mx.is_finite() {
        return mx;
    }
    mx + terms.map(|t| (t - mx).exp()).sum::<f64>().ln()
}
