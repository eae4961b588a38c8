//! Image preprocessing and image encoders.
//!
//! The format is sniffed from the bytes (a `.png` holding a JPEG is fine), EXIF orientation is
//! applied, the image becomes RGB (alpha dropped, like PIL's `convert("RGB")`), and it is
//! resized with PIL's antialiased bilinear filter in PIL's own fixed-point arithmetic, so the
//! resized pixels are PIL's and embeddings match a PIL + onnxruntime pipeline. Decoding is bounded against
//! image bombs: dimensions and allocation are checked before pixels are decoded.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};
use ort::session::Session;

use super::text::ort_err;
use super::{EncodeError, Model, Pooling, Resize, l2_normalize};
use crate::error::{Error, Result};

/// Decode limits: no side over 16,384 px, no more than 512 MiB for the pixels.
pub const MAX_SIDE: u32 = 16_384;
pub const MAX_ALLOC: u64 = 512 << 20;

/// How an image is prepared for a model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImagePrep {
    pub size: u32,
    pub resize: Resize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Decodes `bytes` into RGB, with the orientation applied.
pub fn decode(bytes: &[u8]) -> std::result::Result<RgbImage, EncodeError> {
    let fmt = image::guess_format(bytes).map_err(|_| {
        EncodeError::new(
            "unsupported_format",
            format!(
                "not a JPEG, PNG, WebP, GIF or BMP image (starts with {:02x?})",
                &bytes[..bytes.len().min(8)]
            ),
        )
    })?;
    // JPEG decoders fill a cut-off scan with grey instead of failing; a file whose last scan
    // has no end-of-image marker after it is truncated.
    if fmt == image::ImageFormat::Jpeg && jpeg_truncated(bytes) {
        return Err(EncodeError::new(
            "truncated",
            format!(
                "the JPEG ends after {} bytes without its end-of-image marker",
                bytes.len()
            ),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), fmt);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let orientation = decoder.orientation().ok();
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(EncodeError::new("decode_error", "the image has no pixels"));
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img.into_rgb8())
}

/// Whether the last start-of-scan (FFDA) has no end-of-image (FFD9) after it. Entropy-coded
/// data stuffs every 0xFF, so both byte pairs only occur as markers (an EXIF thumbnail's
/// markers come before the main image's scans).
fn jpeg_truncated(b: &[u8]) -> bool {
    let sos = memchr::memmem::rfind(b, &[0xFF, 0xDA]);
    let eoi = memchr::memmem::rfind(b, &[0xFF, 0xD9]);
    match (sos, eoi) {
        (Some(s), Some(e)) => e < s,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn image_error(e: ImageError) -> EncodeError {
    match e {
        ImageError::Limits(l) => EncodeError::new(
            "too_large",
            format!(
                "over the decode limits ({MAX_SIDE} px per side, {} MiB): {l}",
                MAX_ALLOC >> 20
            ),
        ),
        ImageError::Unsupported(u) => EncodeError::new("unsupported_format", u.to_string()),
        other => EncodeError::new("decode_error", other.to_string()),
    }
}

/// PIL's fixed-point precision for 8-bit resampling (`PRECISION_BITS` in Resample.c).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL's resampling filters: the weight at distance `t` (in input pixels at scale 1) and the
/// support radius.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Filter {
    /// `Image.BILINEAR` (a triangle, support 1).
    Bilinear,
    /// `Image.LANCZOS` (sinc windowed by sinc(x/3), support 3).
    Lanczos,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        fn sinc(x: f64) -> f64 {
            if x == 0.0 {
                1.0
            } else {
                let x = x * std::f64::consts::PI;
                x.sin() / x
            }
        }
        match self {
            Filter::Bilinear => {
                let t = x.abs();
                if t < 1.0 { 1.0 - t } else { 0.0 }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// PIL's resampling coefficients (`precompute_coeffs`, then `normalize_coeffs_8bpc`): for each
/// output pixel, the first input pixel and the fixed-point weights.
fn coeffs(in_size: usize, out_size: usize, filter: Filter) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = (((center + support + 0.5) as i64).min(in_size as i64) as usize).max(xmin);
            // As in C: multiplied by the reciprocal (not divided), so the weights' last bits
            // and hence the fixed-point rounding are PIL's.
            let ss = 1.0 / filterscale;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| filter.weight((x as f64 - center + 0.5) * ss))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum != 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            }
            let fixed = w
                .into_iter()
                .map(|v| {
                    let scaled = v * f64::from(1u32 << PRECISION_BITS);
                    (if v < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

/// PIL's `clip8`: back from fixed point to a byte.
fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes interleaved RGB `px` (`w x h`) to `ow x oh` like PIL's
/// `Image.resize((ow, oh), Image.BILINEAR)`.
fn resize(px: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    resample(px, 3, w, h, ow, oh, Filter::Bilinear)
}

/// PIL's `Image.resize` of an 8-bit image with `ch` interleaved channels: a horizontal then a
/// vertical pass in PIL's fixed point, rounded to bytes in between (each pass is skipped when
/// its size does not change). Recent Pillow versions sometimes run the vertical pass first;
/// then a few pixels differ by one level (embeddings still agree to cosine > 0.9997 on the
/// tests' photos).
pub(crate) fn resample(
    px: &[u8],
    ch: usize,
    w: usize,
    h: usize,
    ow: usize,
    oh: usize,
    filter: Filter,
) -> Vec<u8> {
    let half = 1i64 << (PRECISION_BITS - 1);
    let horizontal = if ow != w {
        let hc = coeffs(w, ow, filter);
        let mut out = vec![0u8; h * ow * ch];
        let mut acc = vec![0i64; ch];
        for y in 0..h {
            let row = &px[y * w * ch..(y + 1) * w * ch];
            let dst = &mut out[y * ow * ch..(y + 1) * ow * ch];
            for (x, (x0, ws)) in hc.iter().enumerate() {
                acc.iter_mut().for_each(|a| *a = half);
                for (k, &wt) in ws.iter().enumerate() {
                    let p = &row[(x0 + k) * ch..(x0 + k + 1) * ch];
                    for c in 0..ch {
                        acc[c] += i64::from(p[c]) * i64::from(wt);
                    }
                }
                for c in 0..ch {
                    dst[x * ch + c] = clip8(acc[c]);
                }
            }
        }
        Some(out)
    } else {
        None
    };
    let src: &[u8] = horizontal.as_deref().unwrap_or(px);
    if oh == h {
        return src.to_vec();
    }
    let vc = coeffs(h, oh, filter);
    let mut out = vec![0u8; oh * ow * ch];
    let mut acc = vec![0i64; ow * ch];
    for (y, (y0, ws)) in vc.iter().enumerate() {
        acc.iter_mut().for_each(|a| *a = half);
        for (k, &wt) in ws.iter().enumerate() {
            let row = &src[(y0 + k) * ow * ch..(y0 + k + 1) * ow * ch];
            acc.iter_mut()
                .zip(row)
                .for_each(|(a, &p)| *a += i64::from(p) * i64::from(wt));
        }
        out[y * ow * ch..(y + 1) * ow * ch]
            .iter_mut()
            .zip(&acc)
            .for_each(|(o, &a)| *o = clip8(a));
    }
    out
}

/// The model input for one image: CHW float32, normalised.
pub fn preprocess(img: &RgbImage, prep: &ImagePrep) -> Vec<f32> {
    let s = prep.size as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    // (resized width, height) and the placement of the s x s window within it.
    let (rw, rh, ox, oy): (usize, usize, isize, isize) = match prep.resize {
        Resize::Squash => (s, s, 0, 0),
        Resize::CenterCrop => {
            // torchvision: Resize(s) on the short side, then CenterCrop(s).
            let (rw, rh) = if w <= h {
                (s, ((s * h) as f64 / w as f64) as usize)
            } else {
                (((s * w) as f64 / h as f64) as usize, s)
            };
            let (rw, rh) = (rw.max(s), rh.max(s));
            let ox = ((rw - s) as f64 / 2.0).round() as isize;
            let oy = ((rh - s) as f64 / 2.0).round() as isize;
            (rw, rh, ox, oy)
        }
        Resize::Letterbox => {
            let (rw, rh) = if w >= h {
                (s, ((s * h) as f64 / w as f64).round().max(1.0) as usize)
            } else {
                (((s * w) as f64 / h as f64).round().max(1.0) as usize, s)
            };
            (
                rw,
                rh,
                -(((s - rw) / 2) as isize),
                -(((s - rh) / 2) as isize),
            )
        }
    };
    let pix = resize(img.as_raw(), w, h, rw, rh);
    let mut out = vec![0f32; 3 * s * s];
    let plane = s * s;
    for y in 0..s {
        let sy = y as isize + oy;
        for x in 0..s {
            let sx = x as isize + ox;
            let inside = sy >= 0 && sx >= 0 && (sy as usize) < rh && (sx as usize) < rw;
            for c in 0..3 {
                // Letterbox padding is the mean colour, i.e. 0 after normalisation.
                out[c * plane + y * s + x] = if inside {
                    let v = f32::from(pix[(sy as usize * rw + sx as usize) * 3 + c]) / 255.0;
                    (v - prep.mean[c]) / prep.std[c]
                } else {
                    0.0
                };
            }
        }
    }
    out
}

/// An image model: preprocessed CHW tensors in, one vector per image out.
pub struct ImageModel {
    session: Session,
    input: String,
    /// float32, or float16 for fp16 exports.
    input_type: ort::value::TensorElementType,
    output: String,
    pub prep: ImagePrep,
    dim: usize,
    normalize: bool,
    pooling: Pooling,
    /// A batch size fixed in the graph (the last batch is padded to it).
    fixed_batch: Option<usize>,
}

impl ImageModel {
    pub fn new(session: Session, model: &Model) -> Result<ImageModel> {
        let spec = &model.spec;
        let input = super::input_name(&session, &spec.input, &model.id)?;
        let output = super::output_name(&session, &spec.output, &model.id)?;
        let shape = session
            .inputs()
            .iter()
            .find(|i| i.name() == input)
            .and_then(|i| i.dtype().tensor_shape().map(|s| s.to_vec()))
            .unwrap_or_default();
        if shape.len() != 4 || (shape[1] > 0 && shape[1] != 3) {
            return Err(Error::Invalid(format!(
                "image model `{}`: input `{input}` has shape {shape:?}; recdata feeds [batch, 3, size, size]",
                model.id
            )));
        }
        if session.inputs().len() > 1 {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            return Err(Error::Invalid(format!(
                "image model `{}` takes {} inputs ({}); recdata feeds one image tensor\n  hint: export the image tower alone (for CLIP / SigLIP: the vision model with its projection) and register the text tower as a text model with the same `space`",
                model.id,
                names.len(),
                names.join(", ")
            )));
        }
        let input_type = super::tensor::input_type(&session, &input)
            .unwrap_or(ort::value::TensorElementType::Float32);
        let size = model.spec.size;
        if (shape[2] > 0 && shape[2] != i64::from(size))
            || (shape[3] > 0 && shape[3] != i64::from(size))
        {
            return Err(Error::Invalid(format!(
                "image model `{}`: input `{input}` has shape {shape:?} but the registry says size = {size}",
                model.id
            )));
        }
        Ok(ImageModel {
            session,
            input,
            input_type,
            output,
            prep: ImagePrep {
                size,
                resize: model.resize,
                mean: [spec.mean[0], spec.mean[1], spec.mean[2]],
                std: [spec.std[0], spec.std[1], spec.std[2]],
            },
            dim: spec.dim,
            normalize: model.normalize,
            pooling: model.pooling,
            fixed_batch: (shape[0] > 0).then_some(shape[0] as usize),
        })
    }

    pub fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// Runs preprocessed images (CHW each) through the model; one raw vector per image
    /// (not normalised: frames are pooled first).
    pub fn run_raw(&mut self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let n = images.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(fb) = self.fixed_batch
            && fb != n
        {
            let mut out = Vec::with_capacity(n);
            let zeros = vec![0f32; images[0].len()];
            for chunk in images.chunks(fb) {
                let mut padded: Vec<&[f32]> = chunk.to_vec();
                padded.resize(fb, &zeros);
                let saved = self.fixed_batch.take();
                let r = self.run_raw(&padded);
                self.fixed_batch = saved;
                out.extend(r?.into_iter().take(chunk.len()));
            }
            return Ok(out);
        }
        let s = self.prep.size as usize;
        let mut data = Vec::with_capacity(n * 3 * s * s);
        for im in images {
            data.extend_from_slice(im);
        }
        let x = super::tensor::float(self.input_type, vec![n, 3, s, s], data)?;
        let out = self
            .session
            .run(ort::inputs![self.input.as_str() => x])
            .map_err(ort_err)?;
        let (dims, values) = super::tensor::floats(&out[self.output.as_str()], &self.output)?;
        let per = values.len() / n.max(1);
        let rows: Vec<Vec<f32>> = match dims.as_slice() {
            // [N, C, H, W] feature maps: global average pooling.
            [_, c, hh, ww] if hh * ww > 1 && self.pooling == Pooling::Mean => values
                .chunks(per)
                .map(|m| {
                    m.chunks(hh * ww)
                        .take(*c)
                        .map(|p| p.iter().sum::<f32>() / p.len() as f32)
                        .collect()
                })
                .collect(),
            _ => values.chunks(per).map(<[f32]>::to_vec).collect(),
        };
        if let Some(r) = rows.first()
            && r.len() != self.dim
        {
            return Err(Error::Invalid(format!(
                "image model output `{}` has shape {dims:?} ({} values per image), the registry says dim = {}",
                self.output,
                r.len(),
                self.dim
            )));
        }
        Ok(rows)
    }

    pub fn finish(&self, mut v: Vec<f32>) -> Vec<f32> {
        if self.normalize {
            l2_normalize(&mut v);
        }
        v
    }
}
