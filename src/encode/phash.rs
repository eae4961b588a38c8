//! The perceptual hash of an image, bit for bit the one of Python's `imagehash.phash` (the
//! library people reach for to find near-duplicate images), so thresholds and hashes carry over:
//! the image made grey like PIL's `convert("L")` (ITU-R 601-2 luma in PIL's fixed point),
//! resized to 32 x 32 with PIL's LANCZOS filter (PIL's own fixed-point resampler), a 2-D DCT-II
//! (scipy.fftpack's, unnormalised), the 8 x 8 lowest frequencies compared with their median.
//! Bit 63 is the top-left coefficient, so the hash printed as 16 hex digits is `str(phash)`.
//!
//! Two differences from `imagehash` on purpose: EXIF orientation is applied first (a rotated
//! copy of a photo is the same photo), and Pillow versions that run the vertical resampling pass
//! first round a few grey levels differently (a bit may flip near the median).

use image::RgbImage;

use super::image::{Filter, resample};

/// Side of the grey thumbnail the DCT runs on (`hash_size * highfreq_factor` = 8 x 4).
const SIDE: usize = 32;
/// Side of the low-frequency block that makes the 64 bits.
const LOW: usize = 8;

/// Fewer non-zero low frequencies than this and a picture has too little structure for its
/// hash to mean anything (flat, or constant along one axis: a colour field with a stripe); two
/// such pictures share most bits whatever they show, so they get no hash (exact copies are
/// still found by sha256).
pub const MIN_STRUCTURE: usize = 16;

/// The 64-bit perceptual hash of `img`, or `None` when it has too little structure (see
/// [`MIN_STRUCTURE`]).
pub fn phash(img: &RgbImage) -> Option<u64> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey: Vec<u8> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000)
                >> 16) as u8
        })
        .collect();
    let small = resample(&grey, 1, w, h, SIDE, SIDE, Filter::Lanczos);
    // cos(pi k (2n + 1) / 2N) for the 8 lowest k.
    let cos: Vec<f64> = (0..LOW)
        .flat_map(|k| {
            (0..SIDE).map(move |n| {
                (std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * SIDE) as f64).cos()
            })
        })
        .collect();
    // Along the columns (axis 0) first, then the rows, as scipy does.
    let mut d0 = [[0f64; SIDE]; LOW];
    for (k, row) in d0.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = 2.0
                * (0..SIDE)
                    .map(|n| f64::from(small[n * SIDE + j]) * cos[k * SIDE + n])
                    .sum::<f64>();
        }
    }
    let mut low = [0f64; LOW * LOW];
    for k in 0..LOW {
        for l in 0..LOW {
            low[k * LOW + l] = 2.0 * (0..SIDE).map(|j| d0[k][j] * cos[l * SIDE + j]).sum::<f64>();
        }
    }
    // A picture constant along a direction has coefficients that are zero in exact arithmetic;
    // summed here they come out as +-1e-13 noise (scipy's FFT gives exact zeros), and noise
    // compared with a median of zeros would decide bits at random. Snap them to zero.
    let scale = low.iter().fold(0f64, |m, v| m.max(v.abs()));
    for v in low.iter_mut() {
        if v.abs() <= scale * 1e-9 {
            *v = 0.0;
        }
    }
    if low.iter().filter(|v| **v != 0.0).count() < MIN_STRUCTURE {
        return None;
    }
    let mut sorted = low;
    sorted.sort_by(f64::total_cmp);
    // numpy's median of an even count: the mean of the two middle values.
    let median = (sorted[LOW * LOW / 2 - 1] + sorted[LOW * LOW / 2]) / 2.0;
    Some(
        low.iter()
            .fold(0u64, |acc, &v| (acc << 1) | u64::from(v > median)),
    )
}

/// Bits in which two hashes differ.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_striped_pictures_have_no_hash_structured_ones_do() {
        let flat = RgbImage::from_pixel(48, 32, image::Rgb([120, 40, 200]));
        assert_eq!(phash(&flat), None);
        // Constant along the vertical axis: only the first DCT row carries anything.
        let striped = RgbImage::from_fn(48, 32, |x, _| {
            image::Rgb(if (20..26).contains(&x) {
                [20, 200, 20]
            } else {
                [120, 40, 200]
            })
        });
        assert_eq!(phash(&striped), None);
        let structured = RgbImage::from_fn(64, 48, |x, y| {
            let (dx, dy) = (x as i32 - 30, y as i32 - 20);
            let disc = if dx * dx + dy * dy < 100 { 150 } else { 0 };
            let v = ((x * 7 + y * 3) % 50 + disc) as u8;
            image::Rgb([v, v / 2, 255 - v])
        });
        let h = phash(&structured).expect("a hash");
        // Resizing keeps it (within a few bits).
        let half =
            image::imageops::resize(&structured, 32, 24, image::imageops::FilterType::Triangle);
        assert!(distance(h, phash(&half).expect("a hash")) <= 4);
    }
}
