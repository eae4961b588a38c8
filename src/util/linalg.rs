//! Two numeric helpers shared by the semantic ids and the diagnostics: a row-block GEMM and a
//! seeded sample.

use crate::util::rng::Rng;

/// `out[i * k + j] = x_i · c_j` for `rows` rows of `x` against `k` rows of `c` (row-major, `dim`
/// columns each), with matrixmultiply's f32 GEMM.
pub fn dots(x: &[f32], rows: usize, dim: usize, c: &[f32], k: usize, out: &mut [f32]) {
    assert!(x.len() >= rows * dim && c.len() >= k * dim && out.len() >= rows * k);
    // SAFETY: the slices have the sizes sgemm reads and writes (rows x dim, k x dim, rows x k,
    // checked above), with row-major strides; C is read as its transpose (column stride dim).
    unsafe {
        matrixmultiply::sgemm(
            rows,
            dim,
            k,
            1.0,
            x.as_ptr(),
            dim as isize,
            1,
            c.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            k as isize,
            1,
        );
    }
}

/// `s` distinct indices of `0..n` (all when `s >= n`), ascending: a partial Fisher–Yates draw.
pub fn sample(n: usize, s: usize, rng: &mut Rng) -> Vec<usize> {
    if s >= n {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..s {
        let j = i + rng.below((n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut out = idx[..s].to_vec();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_and_sample_by_hand() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let c = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut out = [0f32; 6];
        dots(&x, 2, 2, &c, 3, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 3.0, 4.0, 7.0]);
        let s = sample(10, 4, &mut Rng::new(1));
        assert_eq!(s.len(), 4);
        assert!(s.windows(2).all(|w| w[0] < w[1]) && s[3] < 10);
        assert_eq!(sample(3, 5, &mut Rng::new(1)), vec![0, 1, 2]);
    }
}
