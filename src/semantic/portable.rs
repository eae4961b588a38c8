//! The portable dot-product kernel: the same bits on every CPU.
//!
//! GEMM libraries pick a kernel at run time (SSE2, AVX2 + FMA, AVX-512, NEON) and each sums the
//! products in its own order, some with fused multiply-adds; the last bits of a distance then
//! depend on the machine, and a near-tie between two centroids can go either way. Here every
//! dot product has one fixed definition:
//!
//! ```text
//! lane[t % 8] = lane[t % 8] + x[t] * c[t]      for t = 0, 1, …, dim − 1 (f32, no FMA)
//! dot = ((lane0 + lane1) + (lane2 + lane3)) + ((lane4 + lane5) + (lane6 + lane7))
//! ```
//!
//! Every operation is a single IEEE-754 f32 multiply or add, rounded to nearest, and Rust never
//! fuses or reorders float operations on its own. The eight lanes are independent, so a SIMD
//! unit of any width computes them lane by lane with exactly these roundings: the AVX build
//! below (chosen at run time) and the baseline SSE2 / NEON / scalar builds give identical
//! results, which the tests check against [`dot_reference`].

/// Lanes of the fixed summation order (part of the portability contract; never change it).
pub const LANES: usize = 8;

/// The definition, written out one term at a time (the reference for the fast paths).
pub fn dot_reference(x: &[f32], c: &[f32]) -> f32 {
    let mut lane = [0f32; LANES];
    for (t, (a, b)) in x.iter().zip(c).enumerate() {
        lane[t % LANES] += a * b;
    }
    reduce(&lane)
}

#[inline(always)]
fn reduce(l: &[f32; LANES]) -> f32 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// `out[i * k + j] = x_i · c_j` (rows of `x` and `c` have `dim` values), every product by the
/// fixed-order definition above.
pub fn dots(x: &[f32], rows: usize, dim: usize, c: &[f32], k: usize, out: &mut [f32]) {
    assert!(x.len() >= rows * dim && c.len() >= k * dim && out.len() >= rows * k);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above).
        unsafe { dots_avx(x, rows, dim, c, k, out) };
        return;
    }
    dots_body(x, rows, dim, c, k, out);
}

/// The same code compiled with AVX enabled: wider registers, the same operations (AVX has no
/// fused multiply-add; that is the separate `fma` feature, deliberately not enabled).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dots_avx(x: &[f32], rows: usize, dim: usize, c: &[f32], k: usize, out: &mut [f32]) {
    dots_body(x, rows, dim, c, k, out);
}

/// The baseline build of the kernel (SSE2 on x86-64), whatever the CPU: for the tests that
/// compare it with the run-time choice.
pub fn dots_baseline(x: &[f32], rows: usize, dim: usize, c: &[f32], k: usize, out: &mut [f32]) {
    assert!(x.len() >= rows * dim && c.len() >= k * dim && out.len() >= rows * k);
    dots_body(x, rows, dim, c, k, out);
}

/// Register-blocked: two rows against four centroids at a time (eight lane accumulators
/// each), so every loaded value is used several times.
#[inline(always)]
fn dots_body(x: &[f32], rows: usize, dim: usize, c: &[f32], k: usize, out: &mut [f32]) {
    let full = dim / LANES * LANES;
    let mut i = 0;
    while i + 2 <= rows {
        let (x0, x1) = (&x[i * dim..(i + 1) * dim], &x[(i + 1) * dim..(i + 2) * dim]);
        let mut j = 0;
        while j + 4 <= k {
            let cs = [
                &c[j * dim..(j + 1) * dim],
                &c[(j + 1) * dim..(j + 2) * dim],
                &c[(j + 2) * dim..(j + 3) * dim],
                &c[(j + 3) * dim..(j + 4) * dim],
            ];
            let mut acc = [[[0f32; LANES]; 4]; 2];
            let mut t = 0;
            while t < full {
                let (a0, a1) = (lanes(x0, t), lanes(x1, t));
                for (q, cq) in cs.iter().enumerate() {
                    let b = lanes(cq, t);
                    for l in 0..LANES {
                        acc[0][q][l] += a0[l] * b[l];
                        acc[1][q][l] += a1[l] * b[l];
                    }
                }
                t += LANES;
            }
            for t in full..dim {
                for (q, cq) in cs.iter().enumerate() {
                    acc[0][q][t - full] += x0[t] * cq[t];
                    acc[1][q][t - full] += x1[t] * cq[t];
                }
            }
            for q in 0..4 {
                out[i * k + j + q] = reduce(&acc[0][q]);
                out[(i + 1) * k + j + q] = reduce(&acc[1][q]);
            }
            j += 4;
        }
        for j in j..k {
            let cj = &c[j * dim..(j + 1) * dim];
            out[i * k + j] = dot_one(x0, cj, full);
            out[(i + 1) * k + j] = dot_one(x1, cj, full);
        }
        i += 2;
    }
    if i < rows {
        let xi = &x[i * dim..(i + 1) * dim];
        for j in 0..k {
            out[i * k + j] = dot_one(xi, &c[j * dim..(j + 1) * dim], full);
        }
    }
}

#[inline(always)]
fn lanes(s: &[f32], t: usize) -> &[f32; LANES] {
    s[t..t + LANES].try_into().expect("a slice of LANES values")
}

#[inline(always)]
fn dot_one(x: &[f32], c: &[f32], full: usize) -> f32 {
    let mut lane = [0f32; LANES];
    let mut t = 0;
    while t < full {
        for l in 0..LANES {
            lane[l] += x[t + l] * c[t + l];
        }
        t += LANES;
    }
    for t in full..x.len() {
        lane[t - full] += x[t] * c[t];
    }
    reduce(&lane)
}

/// `Σ_t x_t²` of every row by the same fixed order (squared norms for the distances).
pub fn sq_norms(x: &[f32], dim: usize) -> Vec<f32> {
    x.chunks(dim).map(|r| dot_reference(r, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
            .collect()
    }

    /// Every shape the blocking has a branch for (odd rows, k not a multiple of 4, dim not a
    /// multiple of 8, dim below 8): the run-time build, the baseline build and the written-out
    /// definition agree bit for bit.
    #[test]
    fn every_build_gives_the_definitions_bits() {
        let mut rng = Rng::new(7);
        for &(rows, k, dim) in &[
            (1, 1, 1),
            (3, 5, 7),
            (2, 4, 8),
            (5, 9, 19),
            (8, 17, 384),
            (7, 6, 3),
        ] {
            let x = random(rows * dim, &mut rng);
            let c = random(k * dim, &mut rng);
            let mut fast = vec![0f32; rows * k];
            let mut base = vec![0f32; rows * k];
            dots(&x, rows, dim, &c, k, &mut fast);
            dots_baseline(&x, rows, dim, &c, k, &mut base);
            for i in 0..rows {
                for j in 0..k {
                    let r = dot_reference(&x[i * dim..(i + 1) * dim], &c[j * dim..(j + 1) * dim]);
                    assert_eq!(
                        fast[i * k + j].to_bits(),
                        r.to_bits(),
                        "{rows}x{k}x{dim} ({i},{j})"
                    );
                    assert_eq!(
                        base[i * k + j].to_bits(),
                        r.to_bits(),
                        "{rows}x{k}x{dim} ({i},{j})"
                    );
                }
            }
        }
    }

    /// The order is the documented one, not merely some fixed one: with 1e8 in lane 0 the
    /// small terms of lane 0 vanish while those of the other lanes survive.
    #[test]
    fn the_summation_order_is_the_documented_one() {
        let mut x = vec![1f32; 16];
        x[0] = 1e8;
        let ones = vec![1f32; 16];
        // f32 values near 1e8 are 8 apart. lane0 = 1e8 + 1 → 1e8; lanes 1..7 = 2 each;
        // (1e8 + 2) → 1e8, (2 + 2) = 4, 1e8 + 4 → 1e8 (ties to even), and the right half adds
        // 8: 1e8 + 8. Summing the 16 terms in sequence loses every 1 and gives 1e8.
        let want = 1e8f32 + 8.0;
        assert_eq!(
            want,
            ((1e8f32 + 2.0) + (2.0 + 2.0)) + ((2.0 + 2.0) + (2.0 + 2.0))
        );
        assert_eq!(dot_reference(&x, &ones), want);
        let mut out = [0f32];
        dots(&x, 1, 16, &ones, 1, &mut out);
        assert_eq!(out[0], want);
        assert_ne!(want, x.iter().sum::<f32>());
    }
}
