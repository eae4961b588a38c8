//! An AgroSense-format corpus (`sources/agrosense.rs`): the crop CSVs and the two soil-image
//! trees, with every quirk of the real files.
//!
//! - `Crop_recommendation.csv`: the exact header, LF line ends, a trailing newline, no quoting;
//!   `rows` rows (default 24) whose labels run in contiguous blocks in the upstream order
//!   (`rice, maize, chickpea, …`; 3 labels for a small file, 22 × 100 at `--users 2200`);
//!   integer N/P/K; floats printed the way pandas prints them (shortest round-trip repr), so
//!   repr artifacts occur naturally, and the first row is the real file's first row
//!   (`…,6.502985292000001,…`).
//! - `dataset.csv` with a UTF-8 BOM and the header `N,P,K,ph,EC,S,Cu,Fe,Mn,Zn,B,label`.
//! - `Crop Recommendation using Soil Properties and Weather Prediction.csv`: the real file has
//!   29 columns, of which corpora.md names `Soilcolor,Ph,K,P,N,Zn,S,QV2M-W,…,PS,label`; the
//!   fixture writes only those named ones (the others are UNCONFIRMED), with the text column
//!   `Soilcolor` and capitalised labels (`Teff`, `Maize`, …).
//! - `Soil Image Dataset/{Train,test}/<4 classes>/` and `Soil types/<5 classes>/` with real small
//!   images made with the `image` crate: names with spaces and parentheses, `Copy of …`, a
//!   `.JPG.jpg`, a double dot, `Sample12.90.jpg`; a `.jpg` that is WebP, a `.jpg` that is a
//!   palette PNG, `.gif`s that are WebP, an RGBA PNG, a real `.webp` and `.jpeg`; and one HTML
//!   error page saved as `.jpg` (not an image).

use std::io::Write;
use std::path::Path;

use image::{ExtendedColorType, ImageEncoder};

use crate::error::Result;
use crate::sources::agrosense::{CROP_FILE, CROP_HEADER, NUTRIENTS_FILE, WEATHER_FILE};
use crate::util::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    /// Rows of `Crop_recommendation.csv`.
    pub rows: u32,
    pub seed: u64,
    /// Plant the duplicate soil images of [`PLANTED`].
    pub duplicates: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub crop_rows: u32,
    pub crop_labels: usize,
    pub nutrient_rows: usize,
    pub weather_rows: usize,
    pub image_files: usize,
    pub non_images: usize,
    /// Planted duplicate groups (`--duplicates`): paths and how each copy was made.
    pub planted: Vec<serde_json::Value>,
}

/// How a planted copy is made from its group's picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dup {
    /// The original: a JPEG at quality 92 (PNG for `.png` names).
    Original,
    /// The same bytes as the original.
    Exact,
    /// The same picture encoded again as a JPEG at this quality.
    Reencoded(u8),
    /// The picture resized to half its size (PIL-like bilinear), a JPEG at quality 85.
    Half,
}

/// Planted duplicate groups: (group, path, how). Each group is one picture (160 x 120,
/// gradient + shapes, seeded by the group); the real snapshot has exact copies across
/// `Train`/`test` and `Copy of …` / `… - Copy` within folders. Plus distinct pictures of the
/// same kind that must not be found (`group` 0: each its own picture).
pub const PLANTED: &[(u32, &str, Dup)] = &[
    (
        1,
        "Soil Image Dataset/Train/Red soil/field 1.jpg",
        Dup::Original,
    ),
    (
        1,
        "Soil Image Dataset/Train/Red soil/Copy of field 1.jpg",
        Dup::Exact,
    ),
    (
        1,
        "Soil Image Dataset/test/Red soil/field 1 - Copy.jpg",
        Dup::Exact,
    ),
    (
        2,
        "Soil Image Dataset/Train/Black Soil/plot 7.jpg",
        Dup::Original,
    ),
    (
        2,
        "Soil Image Dataset/test/Black Soil/plot 7.jpg",
        Dup::Reencoded(60),
    ),
    (
        3,
        "Soil Image Dataset/Train/Clay soil/sample 3.png",
        Dup::Original,
    ),
    (
        3,
        "Soil Image Dataset/test/Clay soil/sample 3 small.jpg",
        Dup::Half,
    ),
    (4, "Soil types/Yellow Soil/yellow 2.jpg", Dup::Original),
    (
        4,
        "Soil types/Yellow Soil/yellow 2 (1).jpg",
        Dup::Reencoded(70),
    ),
    (
        0,
        "Soil Image Dataset/Train/Alluvial soil/river bank 1.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/Train/Alluvial soil/river bank 2.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/test/Alluvial soil/river bank 3.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/Train/Red soil/field 2.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/test/Red soil/field 3.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/test/Black Soil/plot 8.jpg",
        Dup::Original,
    ),
    (
        0,
        "Soil Image Dataset/Train/Clay soil/sample 4.jpg",
        Dup::Original,
    ),
];

/// A 160 x 120 picture: a diagonal gradient in the soil colour, bright and dark shapes, mild
/// noise. Different seeds give pictures far apart in perceptual hash.
fn picture(seed: u64, base: [u8; 3]) -> image::RgbImage {
    let mut rng = Rng::derive(seed, "agrosense-planted");
    let (w, h) = (160u32, 120u32);
    let dir = rng.below(4);
    let mut img = image::RgbImage::from_fn(w, h, |x, y| {
        let t = match dir {
            0 => x as f32 / w as f32,
            1 => y as f32 / h as f32,
            2 => (x + y) as f32 / (w + h) as f32,
            _ => 1.0 - x as f32 / w as f32,
        };
        let f = 0.55 + 0.9 * t;
        image::Rgb(base.map(|c| (f32::from(c) * f).min(255.0) as u8))
    });
    for _ in 0..4 + rng.below(4) {
        let (cx, cy) = (
            rng.below(u64::from(w)) as i64,
            rng.below(u64::from(h)) as i64,
        );
        let (rx, ry) = (8 + rng.below(40) as i64, 8 + rng.below(30) as i64);
        let bright = rng.below(2) == 0;
        let round = rng.below(2) == 0;
        for y in (cy - ry).max(0)..(cy + ry).min(i64::from(h)) {
            for x in (cx - rx).max(0)..(cx + rx).min(i64::from(w)) {
                let (dx, dy) = ((x - cx) as f32 / rx as f32, (y - cy) as f32 / ry as f32);
                if !round || dx * dx + dy * dy <= 1.0 {
                    let p = img.get_pixel_mut(x as u32, y as u32);
                    p.0 =
                        p.0.map(|c| if bright { c.saturating_add(90) } else { c / 3 });
                }
            }
        }
    }
    for p in img.pixels_mut() {
        p.0 =
            p.0.map(|c| c.saturating_add(rng.below(9) as u8).saturating_sub(4));
    }
    img
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(img_err)?;
    Ok(buf)
}

/// Writes [`PLANTED`] under `out`; returns the groups as JSON (group, paths, how).
fn plant(out: &Path, seed: u64) -> Result<Vec<serde_json::Value>> {
    let mut originals: std::collections::HashMap<u32, (image::RgbImage, Vec<u8>)> =
        Default::default();
    let mut groups: std::collections::BTreeMap<u32, Vec<serde_json::Value>> = Default::default();
    for (k, (group, rel, how)) in PLANTED.iter().enumerate() {
        let pic_seed = seed.wrapping_mul(1000).wrapping_add(if *group == 0 {
            100 + k as u64
        } else {
            u64::from(*group)
        });
        let bytes = match how {
            Dup::Original => {
                let img = picture(pic_seed, soil_colour(rel));
                let bytes = if rel.ends_with(".png") {
                    let mut buf = Vec::new();
                    image::codecs::png::PngEncoder::new(&mut buf)
                        .write_image(
                            img.as_raw(),
                            img.width(),
                            img.height(),
                            ExtendedColorType::Rgb8,
                        )
                        .map_err(img_err)?;
                    buf
                } else {
                    jpeg(&img, 92)?
                };
                if *group != 0 {
                    originals.insert(*group, (img, bytes.clone()));
                }
                bytes
            }
            Dup::Exact => originals[group].1.clone(),
            Dup::Reencoded(q) => jpeg(&originals[group].0, *q)?,
            Dup::Half => {
                let img = &originals[group].0;
                let half = image::imageops::resize(
                    img,
                    img.width() / 2,
                    img.height() / 2,
                    image::imageops::FilterType::Triangle,
                );
                jpeg(&half, 85)?
            }
        };
        let p = out.join(rel);
        if let Some(d) = p.parent() {
            fs_err::create_dir_all(d)?;
        }
        fs_err::write(p, bytes)?;
        if *group != 0 {
            groups.entry(*group).or_default().push(serde_json::json!({
                "path": rel,
                "how": format!("{how:?}"),
            }));
        }
    }
    Ok(groups
        .into_iter()
        .map(|(g, files)| serde_json::json!({ "group": g, "files": files }))
        .collect())
}

/// The 22 labels of `Crop_recommendation.csv`, in the file's block order.
pub const LABELS: [&str; 22] = [
    "rice",
    "maize",
    "chickpea",
    "kidneybeans",
    "pigeonpeas",
    "mothbeans",
    "mungbean",
    "blackgram",
    "lentil",
    "pomegranate",
    "banana",
    "mango",
    "grapes",
    "watermelon",
    "muskmelon",
    "apple",
    "orange",
    "papaya",
    "coconut",
    "cotton",
    "jute",
    "coffee",
];

/// The first data row of the real file.
pub const FIRST_ROW: &str = "90,42,43,20.87974371,82.00274423,6.502985292000001,202.9355362,rice";

/// What a fixture file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    WebP,
    PngPalette,
    PngRgba,
    /// An HTML error page.
    NotImage,
}

/// Every soil file of the fixture: path relative to the output folder, and its content.
pub const SOIL_FILES: &[(&str, Kind)] = &[
    (
        "Soil Image Dataset/Train/Alluvial soil/Alluvial-Soil..png",
        Kind::PngRgba,
    ),
    (
        "Soil Image Dataset/Train/Alluvial soil/Copy of IMG-20220531-WA0069.jpg",
        Kind::Jpeg,
    ),
    (
        "Soil Image Dataset/Train/Alluvial soil/images (3).jpeg",
        Kind::Jpeg,
    ),
    (
        "Soil Image Dataset/Train/Black Soil/black soil (12).gif",
        Kind::WebP,
    ),
    (
        "Soil Image Dataset/Train/Black Soil/photo_2022-06-01_07-06-52.jpg",
        Kind::WebP,
    ),
    (
        "Soil Image Dataset/Train/Clay soil/2560px-A_red_soil_crop_field.JPG.jpg",
        Kind::Jpeg,
    ),
    ("Soil Image Dataset/Train/Clay soil/clay1.webp", Kind::WebP),
    (
        "Soil Image Dataset/Train/Red soil/Copy of Copy of red soil 4.jpg",
        Kind::Jpeg,
    ),
    (
        "Soil Image Dataset/Train/Red soil/Sample12.90.jpg",
        Kind::PngPalette,
    ),
    (
        "Soil Image Dataset/test/Alluvial soil/alluvial 7.jpg",
        Kind::Jpeg,
    ),
    (
        "Soil Image Dataset/test/Black Soil/Black_Soil_12.gif",
        Kind::WebP,
    ),
    (
        "Soil Image Dataset/test/Black Soil/IMG-20220601-WA0003.jpg",
        Kind::Jpeg,
    ),
    ("Soil Image Dataset/test/Clay soil/clay (2).jpg", Kind::Jpeg),
    (
        "Soil Image Dataset/test/Red soil/download.jpg",
        Kind::NotImage,
    ),
    ("Soil Image Dataset/test/Red soil/red-soil.jpg", Kind::Jpeg),
    ("Soil types/Black Soil/1.jpg", Kind::Jpeg),
    ("Soil types/Black Soil/2.jpg", Kind::Jpeg),
    ("Soil types/Cinder Soil/1.jpg", Kind::Jpeg),
    ("Soil types/Laterite Soil/1.jpg", Kind::Jpeg),
    ("Soil types/Peat Soil/1.jpg", Kind::Jpeg),
    ("Soil types/Yellow Soil/1.jpg", Kind::Jpeg),
];

/// How pandas writes a float: the shortest repr that round-trips, always with a `.`.
pub fn py_float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') { s } else { s + ".0" }
}

/// A decimal with `digits` decimals in `[lo, hi)`, computed as `m × 10^-digits` the way float
/// arithmetic leaves them (so some print with repr artifacts).
fn decimal(rng: &mut Rng, lo: f64, hi: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    let m = (lo * scale) as u64 + rng.below(((hi - lo) * scale) as u64);
    m as f64 * 10f64.powi(-digits)
}

/// A plain two-decimal number in `[lo, hi)`, written as text (no float arithmetic).
fn two_decimals(rng: &mut Rng, lo: f64, hi: f64) -> String {
    let cents = (lo * 100.0) as u64 + rng.below(((hi - lo) * 100.0) as u64);
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn crop_csv(rng: &mut Rng, rows: u32) -> String {
    let n_labels = (rows.div_ceil(100) as usize).clamp(3, LABELS.len());
    let mut s = String::from(CROP_HEADER);
    s.push('\n');
    for i in 0..rows as usize {
        let label = LABELS[i * n_labels / rows.max(1) as usize];
        if i == 0 {
            s.push_str(FIRST_ROW);
        } else {
            let n = rng.below(141);
            let p = 5 + rng.below(141);
            let k = 5 + rng.below(201);
            let t = decimal(rng, 8.83, 43.68, 8);
            let h = decimal(rng, 14.26, 99.98, 8);
            let digits = 9 + rng.below(7) as i32;
            let ph = decimal(rng, 3.5, 9.94, digits);
            let r = decimal(rng, 20.21, 298.56, 7);
            s.push_str(&format!(
                "{n},{p},{k},{},{},{},{},{label}",
                py_float(t),
                py_float(h),
                py_float(ph),
                py_float(r)
            ));
        }
        s.push('\n');
    }
    s
}

fn nutrients_csv(rng: &mut Rng) -> (String, usize) {
    let mut s = String::from("\u{feff}N,P,K,ph,EC,S,Cu,Fe,Mn,Zn,B,label\n");
    let labels = [
        "grapes",
        "mango",
        "mulberry",
        "pomegranate",
        "potato",
        "ragi",
    ];
    let mut rows = 0;
    for l in labels {
        for _ in 0..2 {
            let ints: Vec<String> = (0..3).map(|_| (5 + rng.below(300)).to_string()).collect();
            let floats: Vec<String> = [
                (4.5, 8.5),
                (0.1, 1.5),
                (1.0, 60.0),
                (0.1, 3.0),
                (1.0, 200.0),
                (1.0, 60.0),
                (0.1, 3.0),
                (0.1, 3.0),
            ]
            .iter()
            .map(|&(lo, hi)| two_decimals(rng, lo, hi))
            .collect();
            s.push_str(&format!("{},{},{l}\n", ints.join(","), floats.join(",")));
            rows += 1;
        }
    }
    (s, rows)
}

fn weather_csv(rng: &mut Rng) -> (String, usize) {
    let mut s = String::from("Soilcolor,Ph,K,P,N,Zn,S,QV2M-W,PS,label\n");
    let colors = ["Yellowish brown", "Brown", "Red", "Black", "Dark brown"];
    let labels = ["Teff", "Maize", "Wheat", "Barley"];
    let mut rows = 0;
    for l in labels {
        for _ in 0..2 {
            let c = colors[rng.below(colors.len() as u64) as usize];
            let v: Vec<String> = [
                (4.5, 8.5),
                (0.1, 2.0),
                (1.0, 60.0),
                (0.01, 0.5),
                (0.1, 9.0),
                (1.0, 30.0),
                (4.0, 16.0),
                (70.0, 90.0),
            ]
            .iter()
            .map(|&(lo, hi)| two_decimals(rng, lo, hi))
            .collect();
            s.push_str(&format!("{c},{},{l}\n", v.join(",")));
            rows += 1;
        }
    }
    (s, rows)
}

/// A soil-coloured noisy picture, RGB.
fn pixels(rng: &mut Rng, w: u32, h: u32, base: [u8; 3]) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for _ in 0..w * h {
        for c in base {
            v.push(c.saturating_add(rng.below(40) as u8).saturating_sub(20));
        }
    }
    v
}

/// A PNG of colour type 3 (palette), which the `image` crate cannot write.
pub fn png_palette(w: u32, h: u32, palette: &[[u8; 3]], index: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"PLTE", &palette.concat());
    let mut raw = Vec::new();
    for row in index.chunks(w as usize) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).unwrap_or_default();
    let idat = z.finish().unwrap_or_default();
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn encode(kind: Kind, rng: &mut Rng, w: u32, h: u32, base: [u8; 3]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match kind {
        Kind::Jpeg => {
            let px = pixels(rng, w, h, base);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
                .encode(&px, w, h, ExtendedColorType::Rgb8)
                .map_err(img_err)?;
        }
        Kind::WebP => {
            let px = pixels(rng, w, h, base);
            image::codecs::webp::WebPEncoder::new_lossless(&mut buf)
                .encode(&px, w, h, ExtendedColorType::Rgb8)
                .map_err(img_err)?;
        }
        Kind::PngRgba => {
            let px = pixels(rng, w, h, base);
            let rgba: Vec<u8> = px
                .chunks(3)
                .flat_map(|p| [p[0], p[1], p[2], 200 + rng.below(56) as u8])
                .collect();
            image::codecs::png::PngEncoder::new(&mut buf)
                .write_image(&rgba, w, h, ExtendedColorType::Rgba8)
                .map_err(img_err)?;
        }
        Kind::PngPalette => {
            let palette: Vec<[u8; 3]> = (0..4)
                .map(|k| base.map(|c| c.saturating_sub(k * 15)))
                .collect();
            let index: Vec<u8> = (0..w * h).map(|_| rng.below(4) as u8).collect();
            buf = png_palette(w, h, &palette, &index);
        }
        Kind::NotImage => {
            buf = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n<body><h1>Forbidden</h1><p>You don't have permission to access this resource.</p></body></html>\n".to_vec();
        }
    }
    Ok(buf)
}

fn img_err(e: image::ImageError) -> crate::error::Error {
    crate::error::Error::Internal(format!("image encoder: {e}"))
}

fn soil_colour(path: &str) -> [u8; 3] {
    let p = path.to_ascii_lowercase();
    if p.contains("black") || p.contains("cinder") || p.contains("peat") {
        [60, 50, 45]
    } else if p.contains("red") || p.contains("laterite") {
        [150, 70, 50]
    } else if p.contains("clay") {
        [160, 120, 90]
    } else if p.contains("yellow") {
        [190, 160, 90]
    } else {
        [170, 140, 110]
    }
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let mut rng = Rng::derive(o.seed, "agrosense");
    fs_err::write(out.join(CROP_FILE), crop_csv(&mut rng, o.rows))?;
    let (nutrients, nutrient_rows) = nutrients_csv(&mut rng);
    fs_err::write(out.join(NUTRIENTS_FILE), nutrients)?;
    let (weather, weather_rows) = weather_csv(&mut rng);
    fs_err::write(out.join(WEATHER_FILE), weather)?;
    let mut img_rng = Rng::derive(o.seed, "agrosense-images");
    for (rel, kind) in SOIL_FILES {
        let w = 8 + img_rng.below(40) as u32;
        let h = 6 + img_rng.below(30) as u32;
        let bytes = encode(*kind, &mut img_rng, w, h, soil_colour(rel))?;
        let p = out.join(rel);
        if let Some(d) = p.parent() {
            fs_err::create_dir_all(d)?;
        }
        fs_err::write(p, bytes)?;
    }
    let planted = if o.duplicates {
        plant(out, o.seed)?
    } else {
        Vec::new()
    };
    Ok(Summary {
        crop_rows: o.rows,
        crop_labels: (o.rows.div_ceil(100) as usize).clamp(3, LABELS.len()),
        nutrient_rows,
        weather_rows,
        image_files: SOIL_FILES.len() + if o.duplicates { PLANTED.len() } else { 0 },
        non_images: SOIL_FILES.iter().filter(|f| f.1 == Kind::NotImage).count(),
        planted,
    })
}
