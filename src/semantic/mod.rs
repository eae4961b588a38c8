//! Item semantic IDs by residual k-means (spec A3.2): level by level, k-means on a seeded
//! sample of the current residuals, greedy assignment of every item, residual update; then
//! TIGER-style collision handling (an extra level numbering the items that share a tuple) and
//! the quality metrics of A4 ([`metrics`]).

pub mod balance;
pub mod kmeans;
pub mod metrics;
pub mod pca;
pub mod portable;
pub mod standalone;
pub mod vectors;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::util::rng::Rng;
use kmeans::{KmeansOptions, Mat};
use vectors::Vectors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    None,
    L2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedup {
    /// No extra level; collisions are reported.
    None,
    /// TIGER: an extra level 0..g-1 within each group of identical tuples, by item order.
    Append,
    /// Move colliding items to their nearest free code on the last level (the member closest
    /// to the shared centroid keeps it); what cannot move gets the extra level of `append`.
    Reassign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    None,
    /// Entropic OT with exact capacities, then greedy rounding ([`balance`]).
    Sinkhorn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceLevels {
    /// The last level only (LC-Rec): the coarse levels stay nearest-centroid.
    Last,
    /// Every level (OneRec).
    All,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SidOptions {
    /// Codebook size per level (e.g. `[256, 256, 256]`).
    pub codebooks: Vec<usize>,
    pub max_iter: usize,
    pub tol: f64,
    /// Training rows per level (default `min(N, 256·K)`).
    pub sample: Option<usize>,
    pub seed: u64,
    pub normalize: Normalize,
    /// Subtract the mean (estimated on a seeded sample) before quantising.
    pub center: bool,
    /// Project onto the top principal axes (centres too).
    pub pca: Option<usize>,
    /// Scale the principal axes to unit variance (PCA to the input's dimension when `pca` is
    /// not set).
    pub whiten: bool,
    pub balance: Balance,
    pub balance_levels: BalanceLevels,
    /// GRID: L2-normalise the residual before each level.
    pub residual_norm: bool,
    pub dedup: Dedup,
    /// Largest collision group the extra level may number.
    pub dedup_vocab: usize,
    /// The dot-product kernel behind every distance (GEMM, or portable: the same codes on
    /// every CPU).
    pub kernel: kmeans::Kernel,
}

impl Default for SidOptions {
    fn default() -> Self {
        SidOptions {
            codebooks: vec![256, 256, 256],
            max_iter: 25,
            tol: 0.0,
            sample: None,
            seed: 0,
            normalize: Normalize::None,
            center: false,
            pca: None,
            whiten: false,
            balance: Balance::None,
            balance_levels: BalanceLevels::Last,
            residual_norm: false,
            dedup: Dedup::Append,
            dedup_vocab: 256,
            kernel: kmeans::Kernel::Gemm,
        }
    }
}

/// Semantic ids of N items.
pub struct SemanticIds {
    /// N rows of `levels` (+1 with dedup) codes.
    pub codes: Vec<Vec<u16>>,
    /// Per level: `K_l x d` centroids.
    pub codebooks: Vec<Vec<f32>>,
    pub dim: usize,
    pub iterations: Vec<usize>,
    pub metrics: metrics::Metrics,
    /// The preprocessing projection the codebooks live behind, when one was fitted.
    pub projection: Option<pca::Projection>,
}

fn level_seed(seed: u64, l: usize) -> u64 {
    let mut z = seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(l as u64 + 1);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Turns row `i` (already in `out`) into its residual before level `l`: minus the chosen
/// centroid of every earlier level (re-normalised before each level in GRID mode). Residuals
/// are recomputed rather than stored, so only the codes are held in memory.
fn to_residual(
    out: &mut [f32],
    i: usize,
    l: usize,
    codes: &[Vec<u32>],
    codebooks: &[Vec<f32>],
    grid: bool,
) {
    let dim = out.len();
    for j in 0..=l {
        if grid {
            normalize_rows(out, dim);
        }
        if j == l {
            break;
        }
        let c = codes[j][i] as usize;
        out.iter_mut()
            .zip(&codebooks[j][c * dim..(c + 1) * dim])
            .for_each(|(v, cv)| *v -= cv);
    }
}

/// Rows `lo..hi` of `x` as residuals before level `l`.
#[allow(clippy::too_many_arguments)]
fn residual_rows(
    x: &Vectors,
    lo: usize,
    hi: usize,
    l: usize,
    codes: &[Vec<u32>],
    codebooks: &[Vec<f32>],
    grid: bool,
    out: &mut [f32],
) -> Result<()> {
    x.read_rows(lo, hi, out)?;
    for (i, row) in (lo..hi).zip(out.chunks_mut(x.dim)) {
        to_residual(row, i, l, codes, codebooks, grid);
    }
    Ok(())
}

/// [`build_from`] for a matrix in memory (no preprocessing spill directory needed unless the
/// options ask for a projection of a matrix over the memory budget).
pub fn build(x: Vec<f32>, dim: usize, o: &SidOptions) -> Result<SemanticIds> {
    build_from(Vectors::from_vec(x, dim), o, &std::env::temp_dir())
}

/// Builds semantic ids for the rows of `x`; a projection, if asked for, is written beside
/// the input's spill (`spill_dir`) when the matrix is over the memory budget.
pub fn build_from(x: Vectors, o: &SidOptions, spill_dir: &std::path::Path) -> Result<SemanticIds> {
    let (n, dim) = (x.rows, x.dim);
    if dim == 0 || n == 0 {
        return Err(Error::Invalid(
            "semantic ids need a non-empty matrix of vectors".into(),
        ));
    }
    if o.codebooks.is_empty() || o.codebooks.iter().any(|k| !(2..=65_536).contains(k)) {
        return Err(Error::Invalid(
            "every codebook size must be between 2 and 65,536".into(),
        ));
    }
    if let Some(&k) = o.codebooks.iter().find(|&&k| k > n) {
        return Err(Error::Invalid(format!(
            "a codebook of {k} codes needs at least {k} items; there are {n}"
        )));
    }
    let mut bad = None;
    x.for_each_block(|lo, rows| {
        if bad.is_none()
            && let Some(p) = rows.iter().position(|v| !v.is_finite())
        {
            bad = Some(lo + p / dim);
        }
    })?;
    if let Some(row) = bad {
        return Err(Error::Invalid(format!(
            "the vectors contain NaN or infinite values (first in row {row})"
        )));
    }
    let (x, projection) = pca::preprocess(x, o, spill_dir)?;
    let dim = x.dim;
    let mut sq = 0f64;
    x.for_each_block(|_, rows| {
        sq += rows
            .iter()
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum::<f64>();
    })?;
    let total_norm = sq.sqrt();
    let mut balanced = Vec::new();
    let mut level_codes: Vec<Vec<u32>> = Vec::new();
    let mut codebooks: Vec<Vec<f32>> = Vec::new();
    let mut iterations = Vec::new();
    let mut residual_norms = Vec::new();
    for (l, &k) in o.codebooks.iter().enumerate() {
        let mut rng = Rng::new(level_seed(o.seed, l));
        let s = o.sample.unwrap_or(256 * k).clamp(k, n);
        let idx = kmeans::sample(n, s, &mut rng);
        let mut train = x.gather(&idx)?;
        for (t, &i) in train.chunks_mut(dim).zip(&idx) {
            to_residual(t, i, l, &level_codes, &codebooks, o.residual_norm);
        }
        let t = kmeans::train(
            &Mat {
                data: &train,
                rows: idx.len(),
                dim,
            },
            &KmeansOptions {
                k,
                max_iter: o.max_iter,
                tol: o.tol,
                sample: s,
                kernel: o.kernel,
            },
            &mut rng,
        );
        drop(train);
        let fill = |lo: usize, hi: usize, out: &mut [f32]| {
            residual_rows(
                &x,
                lo,
                hi,
                l,
                &level_codes,
                &codebooks,
                o.residual_norm,
                out,
            )
        };
        let balance_here = o.balance == Balance::Sinkhorn
            && (o.balance_levels == BalanceLevels::All || l + 1 == o.codebooks.len());
        let (a, dist) = if balance_here {
            let (a, dist, report) =
                balance::sinkhorn_assign(o.kernel, n, dim, &t.centroids, k, l, &fill, &mut rng)?;
            balanced.push(report);
            (a, dist)
        } else {
            kmeans::assign_rows(o.kernel, n, dim, &t.centroids, k, fill)?
        };
        // The squared distance to the chosen centroid is the next residual's squared norm.
        let rn: f64 = dist.iter().map(|&v| f64::from(v)).sum::<f64>().sqrt();
        residual_norms.push(if total_norm > 0.0 {
            rn / total_norm
        } else {
            0.0
        });
        level_codes.push(a);
        codebooks.push(t.centroids);
        iterations.push(t.iterations);
    }
    let levels = o.codebooks.len();
    let mut codes: Vec<Vec<u16>> = (0..n)
        .map(|i| {
            let mut c = Vec::with_capacity(levels + 1);
            c.extend(level_codes.iter().map(|lc| lc[i] as u16));
            c
        })
        .collect();
    drop(level_codes);
    let before = metrics::collisions(&codes, levels);
    let mut reassigned = None;
    if o.dedup == Dedup::Reassign {
        let r = reassign(&x, &mut codes, &codebooks, o.residual_norm)?;
        let left = metrics::collisions(&codes, levels);
        reassigned = Some(r);
        if left.max_group > 1 {
            append_dedup(&mut codes, levels);
        }
    }
    if o.dedup == Dedup::Append {
        if before.max_group > o.dedup_vocab {
            return Err(Error::Invalid(format!(
                "{} items share one semantic id, more than the extra level's {} codes\n  hint: raise --dedup-vocab, add a level or use larger codebooks",
                before.max_group, o.dedup_vocab
            )));
        }
        append_dedup(&mut codes, levels);
    }
    let mut m = metrics::compute(
        &x,
        &codes,
        &codebooks,
        &o.codebooks,
        o,
        &residual_norms,
        before,
    )?;
    m.reassigned = reassigned;
    m.balance = balanced;
    Ok(SemanticIds {
        codes,
        codebooks,
        dim,
        iterations,
        metrics: m,
        projection,
    })
}

/// Collision re-assignment on the last level. Groups of identical tuples are visited in order
/// of their first item; the member nearest the shared last-level centroid (lowest index on
/// ties) keeps the tuple, the others in item order take the nearest last-level code whose full
/// tuple is still free.
fn reassign(
    x: &Vectors,
    codes: &mut [Vec<u16>],
    codebooks: &[Vec<f32>],
    grid: bool,
) -> Result<metrics::Reassigned> {
    let dim = x.dim;
    let levels = codebooks.len();
    let last = levels - 1;
    let mut groups: HashMap<Vec<u16>, Vec<usize>> = HashMap::new();
    for (i, c) in codes.iter().enumerate() {
        groups.entry(c[..levels].to_vec()).or_default().push(i);
    }
    let mut used: std::collections::HashSet<Vec<u16>> = groups.keys().cloned().collect();
    let mut order: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
    order.sort_by_key(|g| g[0]);
    let level_codes: Vec<Vec<u32>> = (0..levels)
        .map(|l| codes.iter().map(|c| u32::from(c[l])).collect())
        .collect();
    let k = codebooks[last].len() / dim;
    let cb = &codebooks[last];
    let mut r = vec![0f32; dim];
    let (mut moved, mut stuck) = (0usize, 0usize);
    let (mut err_before, mut err_after) = (0f64, 0f64);
    let dist = |r: &[f32], c: usize| -> f64 {
        r.iter()
            .zip(&cb[c * dim..(c + 1) * dim])
            .map(|(a, b)| f64::from(a - b) * f64::from(a - b))
            .sum()
    };
    for g in order {
        // Each member's residual before the last level and its distances to every code.
        let mut per: Vec<Vec<f64>> = Vec::with_capacity(g.len());
        for &i in &g {
            x.read_row(i, &mut r)?;
            to_residual(&mut r, i, last, &level_codes, codebooks, grid);
            per.push((0..k).map(|c| dist(&r, c)).collect());
        }
        let cur = codes[g[0]][last] as usize;
        let keeper = (0..g.len())
            .min_by(|&a, &b| per[a][cur].total_cmp(&per[b][cur]).then(a.cmp(&b)))
            .unwrap_or(0);
        for (m, &i) in g.iter().enumerate() {
            if m == keeper {
                continue;
            }
            let mut cand: Vec<usize> = (0..k).collect();
            cand.sort_by(|&a, &b| per[m][a].total_cmp(&per[m][b]).then(a.cmp(&b)));
            let mut tuple = codes[i][..levels].to_vec();
            let free = cand.into_iter().find(|&c| {
                tuple[last] = c as u16;
                !used.contains(&tuple)
            });
            match free {
                Some(c) => {
                    err_before += per[m][cur];
                    err_after += per[m][c];
                    tuple[last] = c as u16;
                    used.insert(tuple);
                    codes[i][last] = c as u16;
                    moved += 1;
                }
                None => stuck += 1,
            }
        }
    }
    Ok(metrics::Reassigned {
        moved,
        unresolved: stuck,
        mean_sq_error_before: if moved > 0 {
            err_before / moved as f64
        } else {
            0.0
        },
        mean_sq_error_after: if moved > 0 {
            err_after / moved as f64
        } else {
            0.0
        },
    })
}

/// TIGER: within each group of identical tuples, the items in input order get 0, 1, 2, ….
fn append_dedup(codes: &mut [Vec<u16>], levels: usize) {
    let mut seen: HashMap<Vec<u16>, u16> = HashMap::new();
    for c in codes.iter_mut() {
        let key = c[..levels].to_vec();
        let e = seen.entry(key).or_insert(0);
        c.push(*e);
        *e += 1;
    }
}

pub fn normalize_rows(x: &mut [f32], dim: usize) {
    for r in x.chunks_mut(dim) {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            r.iter_mut().for_each(|v| *v /= n);
        }
    }
}
