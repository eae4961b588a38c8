//! Deterministic k-means (spec A3.1): a seeded sample, k-means++ initialisation, full-batch
//! Lloyd iterations with GEMM distances.
//!
//! Determinism across thread counts: rows are processed in fixed blocks (the GEMM of a block
//! does not depend on which thread runs it), centroid sums are f64 partials over fixed chunks
//! reduced in chunk order, ties go to the lowest index. With [`Kernel::Gemm`] bitwise results
//! depend on the binary and the CPU's SIMD level (the GEMM kernel), which the output records;
//! [`Kernel::Portable`] gives the same bits on every CPU ([`super::portable`]).

use rayon::prelude::*;

use crate::error::Result;
use crate::util::rng::Rng;

/// Rows per GEMM block (fixed: part of the determinism contract).
pub const BLOCK: usize = 4096;
/// Rows per partial-sum chunk (fixed: part of the determinism contract).
const CHUNK: usize = 8192;

/// A row-major matrix of f32.
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub dim: usize,
}

impl Mat<'_> {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// How the dot products behind every distance are computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernel {
    /// matrixmultiply's GEMM, the fastest; its last bits depend on the CPU's SIMD level.
    #[default]
    Gemm,
    /// The fixed-order kernel of [`super::portable`]: the same bits on every CPU, slower.
    Portable,
}

impl Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Gemm => "gemm",
            Kernel::Portable => "portable",
        }
    }
}

/// `out[i * k + j] = x_i · c_j` for a block of rows.
pub fn dots(
    kernel: Kernel,
    x: &[f32],
    rows: usize,
    dim: usize,
    c: &[f32],
    k: usize,
    out: &mut [f32],
) {
    if kernel == Kernel::Portable {
        super::portable::dots(x, rows, dim, c, k, out);
        return;
    }
    crate::util::linalg::dots(x, rows, dim, c, k, out);
}

/// Squared norms of the rows of `c` (sequential sums; the portable kernel's order for it).
pub fn sq_norms(kernel: Kernel, c: &[f32], dim: usize) -> Vec<f32> {
    match kernel {
        Kernel::Gemm => c
            .chunks(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect(),
        Kernel::Portable => super::portable::sq_norms(c, dim),
    }
}

/// The squared norm of one row, in the kernel's order.
pub fn sq_norm(kernel: Kernel, r: &[f32]) -> f32 {
    match kernel {
        Kernel::Gemm => r.iter().map(|v| v * v).sum(),
        Kernel::Portable => super::portable::dot_reference(r, r),
    }
}

/// Nearest centroid of every row and its squared distance (`‖x‖² + ‖c‖² − 2x·c`, clamped at
/// 0). Ties go to the lowest centroid index.
pub fn assign(kernel: Kernel, x: &Mat<'_>, c: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let filled = assign_rows(kernel, x.rows, x.dim, c, k, |lo, hi, out: &mut [f32]| {
        out.copy_from_slice(&x.data[lo * x.dim..hi * x.dim]);
        Ok(())
    });
    filled.unwrap_or_else(|_| unreachable!("copying from memory cannot fail"))
}

/// [`assign`] for rows produced block by block by `fill(lo, hi, out)` (e.g. residuals
/// recomputed from the codes, so no N × d residual matrix is ever held).
pub fn assign_rows(
    kernel: Kernel,
    rows: usize,
    dim: usize,
    c: &[f32],
    k: usize,
    fill: impl Fn(usize, usize, &mut [f32]) -> Result<()> + Sync,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let cn = sq_norms(kernel, c, dim);
    let parts = map_dot_blocks(kernel, rows, dim, c, k, fill, |_, xs, d| {
        let n = xs.len() / dim;
        let mut codes = Vec::with_capacity(n);
        let mut dist = Vec::with_capacity(n);
        for r in 0..n {
            let row = &d[r * k..(r + 1) * k];
            let (mut best, mut bv) = (0usize, f32::INFINITY);
            for (j, &v) in row.iter().enumerate() {
                let s = cn[j] - 2.0 * v;
                if s < bv {
                    bv = s;
                    best = j;
                }
            }
            let xn = sq_norm(kernel, &xs[r * dim..(r + 1) * dim]);
            codes.push(best as u32);
            dist.push((xn + bv).max(0.0));
        }
        (codes, dist)
    })?;
    let mut codes = Vec::with_capacity(rows);
    let mut dist = Vec::with_capacity(rows);
    for (c, d) in parts {
        codes.extend(c);
        dist.extend(d);
    }
    Ok((codes, dist))
}

/// For every fixed block of [`BLOCK`] rows (filled by `fill(lo, hi, out)`), the dot products
/// with the `k` rows of `c` by GEMM, handed to `f(lo, rows, dots)`; results in block order.
pub fn map_dot_blocks<T: Send>(
    kernel: Kernel,
    rows: usize,
    dim: usize,
    c: &[f32],
    k: usize,
    fill: impl Fn(usize, usize, &mut [f32]) -> Result<()> + Sync,
    f: impl Fn(usize, &[f32], &[f32]) -> T + Sync,
) -> Result<Vec<T>> {
    (0..rows.div_ceil(BLOCK))
        .into_par_iter()
        // Buffers per worker, reused across blocks (fresh multi-MiB buffers per block cost
        // more in page faults than the GEMM).
        .map_init(
            || (Vec::new(), Vec::new()),
            |(xs, d): &mut (Vec<f32>, Vec<f32>), b| {
                let lo = b * BLOCK;
                let hi = (lo + BLOCK).min(rows);
                let n = hi - lo;
                xs.resize(n * dim, 0.0);
                fill(lo, hi, &mut xs[..n * dim])?;
                d.resize(n * k, 0.0);
                dots(kernel, &xs[..n * dim], n, dim, c, k, &mut d[..n * k]);
                Ok(f(lo, &xs[..n * dim], &d[..n * k]))
            },
        )
        .collect()
}

/// Options of one k-means run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KmeansOptions {
    pub k: usize,
    pub max_iter: usize,
    pub tol: f64,
    /// Training rows (a seeded sample when smaller than the input).
    pub sample: usize,
    pub kernel: Kernel,
}

pub use crate::util::linalg::sample;

/// Squared distances of every row to one point: `‖x‖² + ‖c‖² − 2x·c` with the dot products
/// from GEMM in fixed blocks (the same values whatever the thread count), clamped at 0.
fn dist_to(kernel: Kernel, x: &Mat<'_>, norms: &[f32], c: &[f32]) -> Vec<f32> {
    let cn = sq_norm(kernel, c);
    let parts: Vec<Vec<f32>> = (0..x.rows.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let lo = b * BLOCK;
            let hi = (lo + BLOCK).min(x.rows);
            let mut d = vec![0f32; hi - lo];
            dots(
                kernel,
                &x.data[lo * x.dim..hi * x.dim],
                hi - lo,
                x.dim,
                c,
                1,
                &mut d,
            );
            d.iter()
                .zip(&norms[lo..hi])
                .map(|(dot, xn)| (xn + cn - 2.0 * dot).max(0.0))
                .collect()
        })
        .collect();
    parts.concat()
}

/// k-means++ seeding: the first centre uniform, each next one with probability ∝ D(x)²
/// (D updated incrementally, one GEMV per new centre).
fn kmeanspp(kernel: Kernel, x: &Mat<'_>, k: usize, rng: &mut Rng) -> Vec<f32> {
    let d = x.dim;
    let norms = sq_norms(kernel, x.data, d);
    let mut c = Vec::with_capacity(k * d);
    let first = rng.below(x.rows as u64) as usize;
    c.extend_from_slice(x.row(first));
    let mut dmin = dist_to(kernel, x, &norms, x.row(first));
    let mut chosen = vec![first];
    while chosen.len() < k {
        let total: f64 = dmin.iter().map(|&v| f64::from(v)).sum();
        let next = if total <= 0.0 {
            // Every row coincides with a centre: take distinct unused rows in order.
            (0..x.rows)
                .find(|i| !chosen.contains(i))
                .unwrap_or(chosen[0])
        } else {
            let mut t = rng.next_f64() * total;
            let mut pick = x.rows - 1;
            for (i, &v) in dmin.iter().enumerate() {
                let v = f64::from(v);
                if t < v {
                    pick = i;
                    break;
                }
                t -= v;
            }
            pick
        };
        chosen.push(next);
        c.extend_from_slice(x.row(next));
        let dn = dist_to(kernel, x, &norms, x.row(next));
        dmin.iter_mut().zip(dn).for_each(|(m, v)| {
            if v < *m {
                *m = v;
            }
        });
    }
    c
}

/// The result of training on a sample.
pub struct Trained {
    pub centroids: Vec<f32>,
    pub iterations: usize,
    pub objective: f64,
}

/// k-means on `x` (already the training sample).
pub fn train(x: &Mat<'_>, o: &KmeansOptions, rng: &mut Rng) -> Trained {
    let (k, d) = (o.k, x.dim);
    // k-means++ over a seeded subset of at most 32·K rows: the seeding is O(K²·32·d) instead
    // of O(K·S·d) memory-bound passes over the whole sample, and Lloyd refines on all of it.
    let init_rows = sample(x.rows, (32 * k).min(x.rows), rng);
    let sub: Vec<f32> = init_rows
        .iter()
        .flat_map(|&i| x.row(i).iter().copied())
        .collect();
    let mut c = kmeanspp(
        o.kernel,
        &Mat {
            data: &sub,
            rows: init_rows.len(),
            dim: d,
        },
        k,
        rng,
    );
    let mut prev = f64::INFINITY;
    let mut objective = 0.0;
    let mut iterations = 0;
    for it in 0..o.max_iter {
        iterations = it + 1;
        let (codes, dist) = assign(o.kernel, x, &c, k);
        objective = dist.iter().map(|&v| f64::from(v)).sum();
        // f64 partial sums per fixed chunk, reduced in chunk order.
        let parts: Vec<(Vec<f64>, Vec<u64>)> = (0..x.rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|ch| {
                let mut s = vec![0f64; k * d];
                let mut n = vec![0u64; k];
                let lo = ch * CHUNK;
                let hi = (lo + CHUNK).min(x.rows);
                for (i, &a) in codes.iter().enumerate().take(hi).skip(lo) {
                    let a = a as usize;
                    n[a] += 1;
                    for (acc, v) in s[a * d..(a + 1) * d].iter_mut().zip(x.row(i)) {
                        *acc += f64::from(*v);
                    }
                }
                (s, n)
            })
            .collect();
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0u64; k];
        for (s, n) in parts {
            sums.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
            counts.iter_mut().zip(&n).for_each(|(a, b)| *a += b);
        }
        let mut taken = vec![false; x.rows];
        for j in 0..k {
            if counts[j] > 0 {
                for t in 0..d {
                    c[j * d + t] = (sums[j * d + t] / counts[j] as f64) as f32;
                }
            } else {
                // An empty cluster takes the row farthest from its centroid (lowest index on
                // ties), once per iteration.
                let far =
                    (0..x.rows)
                        .filter(|&i| !taken[i])
                        .fold(None::<(usize, f32)>, |best, i| match best {
                            Some((_, bv)) if dist[i] <= bv => best,
                            _ => Some((i, dist[i])),
                        });
                if let Some((i, _)) = far {
                    taken[i] = true;
                    c[j * d..(j + 1) * d].copy_from_slice(x.row(i));
                }
            }
        }
        if prev.is_finite() && prev > 0.0 && ((prev - objective).abs() / prev) < o.tol {
            break;
        }
        prev = objective;
    }
    Trained {
        centroids: c,
        iterations,
        objective,
    }
}
