//! Preprocessing before quantisation (spec A3.0): optional L2 normalisation, centring, and a
//! PCA projection (optionally whitened), fitted on a seeded sample and applied to every row in
//! one streaming pass. The projection is part of the output (`projection.parquet`), so new
//! items can be encoded into the same space.

use std::path::Path;

use super::kmeans::{BLOCK, Kernel, sample};
use super::vectors::Vectors;
use super::{Normalize, SidOptions, normalize_rows};
use crate::error::{Error, Result};
use crate::util::rng::Rng;

/// Rows the mean and covariance are estimated from (a seeded sample in larger catalogues).
pub const FIT_SAMPLE: usize = 262_144;

/// `y = (x − mean) · components[..out_dim]ᵀ / scale` (each part optional).
#[derive(Debug, Clone)]
pub struct Projection {
    pub in_dim: usize,
    pub mean: Option<Vec<f32>>,
    /// `out_dim × in_dim`, rows are principal axes by decreasing variance.
    pub components: Option<Vec<f32>>,
    /// The variance along each kept axis (eigenvalues of the sample covariance).
    pub eigenvalues: Vec<f64>,
    /// Whitening: each output coordinate divided by sqrt(eigenvalue).
    pub whiten: bool,
    /// The share of the total variance the kept axes explain.
    pub explained_variance: Option<f64>,
    pub fit_rows: usize,
}

impl Projection {
    pub fn out_dim(&self) -> usize {
        match &self.components {
            Some(c) => c.len() / self.in_dim,
            None => self.in_dim,
        }
    }

    /// Applies the projection to a block of (already normalised) rows.
    pub fn apply(&self, kernel: Kernel, rows: &mut [f32], out: &mut [f32]) {
        let d = self.in_dim;
        if let Some(m) = &self.mean {
            for r in rows.chunks_mut(d) {
                r.iter_mut().zip(m).for_each(|(v, mu)| *v -= mu);
            }
        }
        match &self.components {
            None => out.copy_from_slice(rows),
            Some(c) => {
                let k = c.len() / d;
                super::kmeans::dots(kernel, rows, rows.len() / d, d, c, k, out);
                if self.whiten {
                    let s: Vec<f32> = self
                        .eigenvalues
                        .iter()
                        .map(|&l| (1.0 / l.max(1e-12).sqrt()) as f32)
                        .collect();
                    for r in out.chunks_mut(k) {
                        r.iter_mut().zip(&s).for_each(|(v, s)| *v *= s);
                    }
                }
            }
        }
    }
}

/// Normalises / centres / projects `x` as the options ask; returns the new matrix and the
/// projection when one was fitted.
pub fn preprocess(
    x: Vectors,
    o: &SidOptions,
    spill_dir: &Path,
) -> Result<(Vectors, Option<Projection>)> {
    let l2 = o.normalize == Normalize::L2;
    let wants_pca = o.pca.is_some() || o.whiten;
    if !l2 && !o.center && !wants_pca {
        return Ok((x, None));
    }
    let d = x.dim;
    let projection = if o.center || wants_pca {
        Some(fit(&x, o)?)
    } else {
        None
    };
    let out_dim = projection.as_ref().map_or(d, Projection::out_dim);
    let y = x.map_blocks(out_dim, spill_dir, |rows, out| {
        let mut r = rows.to_vec();
        if l2 {
            normalize_rows(&mut r, d);
        }
        match &projection {
            Some(p) => p.apply(o.kernel, &mut r, out),
            None => out.copy_from_slice(&r),
        }
    })?;
    Ok((y, projection))
}

fn fit(x: &Vectors, o: &SidOptions) -> Result<Projection> {
    let d = x.dim;
    let mut rng = Rng::derive(o.seed, "pca");
    let idx = sample(x.rows, FIT_SAMPLE.min(x.rows), &mut rng);
    let mut s = x.gather(&idx)?;
    if o.normalize == Normalize::L2 {
        normalize_rows(&mut s, d);
    }
    let n = idx.len();
    let mut mean = vec![0f64; d];
    for r in s.chunks(d) {
        mean.iter_mut()
            .zip(r)
            .for_each(|(m, v)| *m += f64::from(*v));
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let pca = if o.whiten { o.pca.or(Some(d)) } else { o.pca };
    let Some(keep) = pca else {
        return Ok(Projection {
            in_dim: d,
            mean: Some(mean32),
            components: None,
            eigenvalues: Vec::new(),
            whiten: false,
            explained_variance: None,
            fit_rows: n,
        });
    };
    if keep == 0 || keep > d {
        return Err(Error::Invalid(format!(
            "pca = {keep}: the projection keeps between 1 and {d} dimensions (the input's)"
        )));
    }
    for r in s.chunks_mut(d) {
        r.iter_mut().zip(&mean32).for_each(|(v, m)| *v -= m);
    }
    // Covariance: XᵀX per fixed block by GEMM in f32, accumulated in f64 in block order.
    let mut cov = vec![0f64; d * d];
    let mut part = vec![0f32; d * d];
    for blk in s.chunks(BLOCK * d) {
        let rows = blk.len() / d;
        if o.kernel == Kernel::Portable {
            // XᵀX as dot products of the block's columns, in the portable order.
            let mut t = vec![0f32; d * rows];
            for (r, row) in blk.chunks(d).enumerate() {
                for (a, v) in row.iter().enumerate() {
                    t[a * rows + r] = *v;
                }
            }
            super::portable::dots(&t, d, rows, &t, d, &mut part);
            cov.iter_mut()
                .zip(&part)
                .for_each(|(c, p)| *c += f64::from(*p));
            continue;
        }
        // SAFETY: blk is rows × d row-major, read as its transpose (d × rows) for the left
        // operand; part is d × d.
        unsafe {
            matrixmultiply::sgemm(
                d,
                rows,
                d,
                1.0,
                blk.as_ptr(),
                1,
                d as isize,
                blk.as_ptr(),
                d as isize,
                1,
                0.0,
                part.as_mut_ptr(),
                d as isize,
                1,
            );
        }
        cov.iter_mut()
            .zip(&part)
            .for_each(|(c, p)| *c += f64::from(*p));
    }
    let denom = (n.max(2) - 1) as f64;
    cov.iter_mut().for_each(|c| *c /= denom);
    let (values, vectors) = symmetric_eigen(cov, d);
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut components = Vec::with_capacity(keep * d);
    let mut eigenvalues = Vec::with_capacity(keep);
    for &j in &order[..keep] {
        let mut axis: Vec<f64> = (0..d).map(|i| vectors[i * d + j]).collect();
        // Sign convention: the largest-magnitude coordinate is positive (first on ties).
        let big = (0..d)
            .max_by(|&a, &b| axis[a].abs().total_cmp(&axis[b].abs()).then(b.cmp(&a)))
            .unwrap_or(0);
        if axis[big] < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
        components.extend(axis.iter().map(|&v| v as f32));
        eigenvalues.push(values[j].max(0.0));
    }
    let kept: f64 = eigenvalues.iter().sum();
    Ok(Projection {
        in_dim: d,
        mean: Some(mean32),
        components: Some(components),
        eigenvalues,
        whiten: o.whiten,
        explained_variance: (total > 0.0).then(|| kept / total),
        fit_rows: n,
    })
}

/// Eigen-decomposition of a symmetric `n × n` matrix by cyclic Jacobi rotations (f64):
/// returns the eigenvalues and the eigenvectors as the columns of a row-major `n × n` matrix.
/// Jacobi is slower than tridiagonal QR (O(n³) per sweep, ~6–10 sweeps) but simple, accurate
/// and deterministic, and d ≤ ~1,000 costs seconds.
pub fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|p| (p + 1..n).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q] * a[p * n + q])
            .sum();
        if off <= scale * 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 || apq * apq <= scale * 1e-36 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← A·J (columns p, q), then A ← Jᵀ·A (rows p, q); V ← V·J.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let n = 6;
        let mut rng = Rng::new(5);
        let b: Vec<f64> = (0..n * n).map(|_| rng.next_f64() - 0.5).collect();
        // A = BᵀB is symmetric positive semi-definite.
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[k * n + i] * b[k * n + j]).sum();
            }
        }
        let (vals, vecs) = symmetric_eigen(a.clone(), n);
        // A·v_j = λ_j·v_j and the vectors are orthonormal.
        for j in 0..n {
            for i in 0..n {
                let av: f64 = (0..n).map(|k| a[i * n + k] * vecs[k * n + j]).sum();
                assert!((av - vals[j] * vecs[i * n + j]).abs() < 1e-10);
            }
            for j2 in 0..n {
                let dot: f64 = (0..n).map(|k| vecs[k * n + j] * vecs[k * n + j2]).sum();
                let want = if j == j2 { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10);
            }
        }
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((vals.iter().sum::<f64>() - trace).abs() < 1e-10);
    }
}
