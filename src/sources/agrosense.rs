//! AgroSense inputs (Pandey, Das, Biswas, "AgroSense: An Integrated Deep Learning System for
//! Crop Recommendation via Soil Image Analysis and Nutrient Profiling", arXiv 2509.01344): the
//! Kaggle crop-recommendation table (2,200 soil/weather profiles, 22 crops) and two soil-image
//! collections, as committed in the paper's repository.
//!
//! ## Source
//! The `Datasets/` folder of <https://github.com/Vishal-sys-code/AgroSense> (commit `4cf1a4bc`),
//! either the single CSVs (raw.githubusercontent.com) or the whole repo snapshot (codeload
//! tarball, `strip_components = 1`, which leaves `Datasets/…`). The source folder may hold the
//! files directly or under `Datasets/`. The Kaggle originals need a login and are not used.
//!
//! ## License
//! The repository is MIT. The Kaggle licenses of the underlying datasets are UNCONFIRMED.
//!
//! ## Schema mapping
//! - `Crop_recommendation.csv` → `samples` (one per row: `source_file`, `features` = the row's
//!   feature columns as a JSON object whose numbers are the file's text verbatim, and the typed
//!   extras `n, p, k` (int64) and `temperature, humidity, ph, rainfall` (double, the decimal
//!   text parsed to the nearest double)) and `labels` (`sample_id` → the crop).
//! - `dataset.csv` (soil nutrients, UTF-8 BOM) and `Crop Recommendation using Soil Properties and
//!   Weather Prediction.csv` (29 columns, a text column) → more `samples` with their own
//!   `source_file` (typed extras null, everything in `features`) and `labels`. `variants =
//!   "auto"` (default) reads them when present, `"require"` fails without them, `"skip"`.
//! - `items`: one per distinct label as written (`rice`; the weather file's `Maize` is another
//!   item than `maize`), in order of first appearance; `title` = the label.
//! - No users, no interactions (the corpus is context → item): `interactions` is empty and the
//!   corpus is timeless (no time windows, no temporal splits).
//! - `Soil Image Dataset/{Train,test}/<class>/…` and `Soil types/<class>/…` → `soil_images`
//!   (dataset, split, class, path, sniffed format, extension, width, height, bytes, sha256).
//!   `soil_images = "auto" | "require" | "skip"`; the folder names are `soil_image_dir` /
//!   `soil_types_dir` (the Kaggle copies use `Dataset/` and `Soil types/`). Each tree has one
//!   row-accounting entry (`Soil Image Dataset/`) whose "lines" are its files.
//! - Pairing (`pairing = "none" | "random-by-class"`, default none): the data pairs no crop row
//!   with any soil image. The paper's notebook invents a pairing with
//!   `np.random.seed(42); df['soil_type'] = np.random.randint(0, 4, size=len(df))`. With
//!   `random-by-class` recdata does the same, explicitly: every sample, in `sample_id` order,
//!   gets a class index drawn exactly as numpy's legacy `RandomState(seed).randint(0, n_classes)`
//!   (MT19937, masked rejection), where the classes are the soil-image-dataset class names of
//!   the pool (`pairing_split`, default `Train`; `all` for every split) in byte order, i.e.
//!   torchvision `ImageFolder` order (`Alluvial soil, Black Soil, Clay soil, Red soil`). With
//!   `seed = 42` (the default) the classes of `Crop_recommendation.csv`'s rows are the
//!   notebook's `soil_type`. Then an image of that class is drawn uniformly with recdata's own
//!   generator (`Rng::derive(seed, "agrosense-pairing-image")`). The result is the separate
//!   table `sample_soil`, written only in this mode, so synthetic pairs never pass for data.
//!
//! ## Known quirks (each has a test)
//! - `dataset.csv` starts with a UTF-8 BOM; a BOM is stripped from every CSV.
//! - Floats printed with 15–17 significant digits and repr artifacts (`6.502985292000001`): the
//!   text is kept verbatim in `features`, and parses to the same double Python would give.
//! - Blank lines are skipped (as pandas does) and counted as `skipped`; rows with the wrong
//!   number of fields (`field_count`), unparsable or non-finite numbers (`bad_number`), an empty
//!   label (`empty_label`), invalid UTF-8 (`invalid_utf8`) or a bad quote (`bad_quote`) → rejects.
//!   A header other than `N,P,K,temperature,humidity,ph,rainfall,label` is an error.
//! - Extensions lie: `.jpg` files that are WebP or PNG, `.gif` files that are WebP. The format
//!   comes from the magic bytes, the dimensions from the image header only.
//! - Uncontrolled file names: spaces, parentheses, `Copy of …`, double extensions
//!   (`….JPG.jpg`), double dots (`Alluvial-Soil..png`), `Sample12.90.jpg`: paths are kept as
//!   written; ids follow byte order of the paths.
//! - A file that is not an image (unknown magic bytes) → rejects `not_image`; an image whose
//!   header cannot be read → `bad_image`; a file outside a class folder → `unexpected_location`.
//!   Image rejects carry the file's path as `file`, line 0, and the first 64 bytes as `raw`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
use rayon::prelude::*;

use super::{Entities, FileAccount, Interner, Normalized, Reject, SideTable, string_array};
use crate::error::{Error, Result};
use crate::io::lines::LineReader;
use crate::io::parquet::canonical_batch;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;
use crate::util::rng::Rng;

pub const NAME: &str = "agrosense";
pub const CROP_FILE: &str = "Crop_recommendation.csv";
pub const NUTRIENTS_FILE: &str = "dataset.csv";
pub const WEATHER_FILE: &str =
    "Crop Recommendation using Soil Properties and Weather Prediction.csv";
pub const CROP_HEADER: &str = "N,P,K,temperature,humidity,ph,rainfall,label";
/// The folder holding the files in the paper's repository.
pub const REPO_DIR: &str = "Datasets";
pub const SOIL_IMAGE_DIR: &str = "Soil Image Dataset";
pub const SOIL_TYPES_DIR: &str = "Soil types";
pub const SOIL_IMAGE_DATASET: &str = "soil-image-dataset";
pub const SOIL_TYPES_DATASET: &str = "soil-types";
pub const LICENSE: &str = "AgroSense repository (github.com/Vishal-sys-code/AgroSense): MIT. The Kaggle datasets it \
    copies (crop-recommendation-dataset, crop-recommender-dataset-with-soil-nutrients, soil-image-dataset, soil-types) \
    carry their own licenses, which are unconfirmed; check them before redistribution. Cite Pandey, Das, Biswas, \
    arXiv 2509.01344.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://github.com/Vishal-sys-code/AgroSense";
pub const CITATION: &str = "Pandey, Das, Biswas. AgroSense: An Integrated Deep Learning System for Crop Recommendation via Soil Image Analysis and Nutrient Profiling. arXiv:2509.01344, 2025.";
pub const DESCRIPTION: &str = "AgroSense inputs: 2,200 soil-nutrient and weather profiles (N, P, K, temperature, \
    humidity, pH, rainfall) each labelled with one of 22 crops, optional further crop tables, and soil photographs \
    in class folders (4 classes Train/test, 5 classes 'Soil types'). Samples are not paired with images upstream.";

/// Whether optional inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Read them when present.
    Auto,
    /// Fail when absent.
    Require,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pairing {
    None,
    RandomByClass,
}

/// `[source]` keys specific to AgroSense.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// `dataset.csv` and the soil/weather CSV.
    pub variants: Presence,
    pub soil_images: Presence,
    pub soil_image_dir: String,
    pub soil_types_dir: String,
    pub pairing: Pairing,
    /// numpy legacy seed (0 ..= 2^32-1) of the class draw; also seeds the image draw.
    pub seed: u32,
    /// The soil-image-dataset split the pairing draws from (`Train`, `test`), or `all`.
    pub pairing_split: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            variants: Presence::Auto,
            soil_images: Presence::Auto,
            soil_image_dir: SOIL_IMAGE_DIR.into(),
            soil_types_dir: SOIL_TYPES_DIR.into(),
            pairing: Pairing::None,
            seed: 42,
            pairing_split: "Train".into(),
        }
    }
}

fn presence(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>, key: &'static str) -> Presence {
    match r
        .choice(diags, key, &["auto", "require", "skip"])
        .map(|c| c.value)
    {
        Some("require") => Presence::Require,
        Some("skip") => Presence::Skip,
        _ => Presence::Auto,
    }
}

/// A relative folder name inside the source folder.
fn rel_dir(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
    key: &'static str,
    default: &str,
) -> String {
    let Some(v) = r.str(diags, key) else {
        return default.into();
    };
    if !matches!(
        crate::fetch::archive::safe_relative(key, &v.value),
        Ok(Some(_))
    ) {
        diags.push(Diagnostic::error(
            format!("`source.{key}` must be a relative path inside the source folder"),
            Some(v.span),
            "no `..`, no leading `/`, not empty",
        ));
    }
    v.value
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let before = diags.len();
        let d = Options::default();
        let variants = presence(r, diags, "variants");
        let soil_images = presence(r, diags, "soil_images");
        let soil_image_dir = rel_dir(r, diags, "soil_image_dir", &d.soil_image_dir);
        let soil_types_dir = rel_dir(r, diags, "soil_types_dir", &d.soil_types_dir);
        let pairing_key = r.choice(diags, "pairing", &["none", "random-by-class"]);
        let pairing = match pairing_key.as_ref().map(|c| c.value) {
            Some("random-by-class") => Pairing::RandomByClass,
            _ => Pairing::None,
        };
        let seed = r.int(diags, "seed", 0, i64::from(u32::MAX));
        let split = r.str(diags, "pairing_split");
        if pairing == Pairing::None {
            // Never silent: a seed for a pairing that does not happen is a mistake.
            for (key, span) in [
                ("seed", seed.as_ref().map(|s| s.span)),
                ("pairing_split", split.as_ref().map(|s| s.span)),
            ] {
                if let Some(span) = span {
                    diags.push(
                        Diagnostic::error(
                            format!(
                                "`source.{key}` only applies to `pairing = \"random-by-class\"`"
                            ),
                            Some(span),
                            "no pairing is done",
                        )
                        .with_help("set `pairing = \"random-by-class\"` or remove this key"),
                    );
                }
            }
        } else if soil_images == Presence::Skip
            && let Some(p) = &pairing_key
        {
            diags.push(Diagnostic::error(
                "`pairing = \"random-by-class\"` needs the soil images",
                Some(p.span),
                "but `soil_images = \"skip\"`",
            ));
        }
        if let Some(s) = &split
            && s.value.is_empty()
        {
            diags.push(Diagnostic::error(
                "`source.pairing_split` must name a split folder (`Train`, `test`) or be `all`",
                Some(s.span),
                "empty",
            ));
        }
        (diags.len() == before).then(|| Options {
            variants,
            soil_images,
            soil_image_dir,
            soil_types_dir,
            pairing,
            seed: seed.map_or(d.seed, |s| s.value as u32),
            pairing_split: split.map_or(d.pairing_split, |s| s.value),
        })
    }
}

/// The folder holding the files: the source folder itself, or its `Datasets/` (repo snapshot).
pub fn data_dir(dir: &Path) -> PathBuf {
    if !dir.join(CROP_FILE).exists() && dir.join(REPO_DIR).join(CROP_FILE).exists() {
        dir.join(REPO_DIR)
    } else {
        dir.to_path_buf()
    }
}

/// What the adapter reads, after applying the presence rules.
struct Plan {
    dir: PathBuf,
    variants: Vec<&'static str>,
    /// `(dataset, tree folder name)`.
    trees: Vec<(&'static str, String)>,
}

fn plan(o: &Options, dir: &Path) -> Result<Plan> {
    let d = data_dir(dir);
    let missing = |path: PathBuf, what: &str| Error::MissingInput {
        path,
        hint: format!(
            "`source.path` must hold `{CROP_FILE}`{what} (directly or under `{REPO_DIR}/`); \
             `recdata synth agrosense --out <dir>` writes a small corpus in this layout"
        ),
    };
    if !d.join(CROP_FILE).is_file() {
        return Err(missing(d.join(CROP_FILE), ""));
    }
    let mut variants = Vec::new();
    for f in [NUTRIENTS_FILE, WEATHER_FILE] {
        match (o.variants, d.join(f).is_file()) {
            (Presence::Skip, _) | (Presence::Auto, false) => {}
            (_, true) => variants.push(f),
            (Presence::Require, false) => {
                return Err(missing(
                    d.join(f),
                    &format!(" and `{f}` (`variants = \"require\"`)"),
                ));
            }
        }
    }
    let mut trees = Vec::new();
    for (ds, name, default) in [
        (SOIL_IMAGE_DATASET, &o.soil_image_dir, SOIL_IMAGE_DIR),
        (SOIL_TYPES_DATASET, &o.soil_types_dir, SOIL_TYPES_DIR),
    ] {
        // A folder named in the manifest must exist even with `auto`.
        let required = o.soil_images == Presence::Require || name != default;
        match (o.soil_images, d.join(name).is_dir()) {
            (Presence::Skip, _) => {}
            (_, true) => trees.push((ds, name.clone())),
            (_, false) if !required => {}
            (_, false) => {
                return Err(missing(
                    d.join(name),
                    &format!(" and the soil-image folder `{name}/` named in the manifest"),
                ));
            }
        }
    }
    if o.pairing == Pairing::RandomByClass && !trees.iter().any(|t| t.0 == SOIL_IMAGE_DATASET) {
        return Err(missing(
            d.join(&o.soil_image_dir),
            &format!(
                " and the folder `{}/` (`pairing = \"random-by-class\"` draws from it)",
                o.soil_image_dir
            ),
        ));
    }
    Ok(Plan {
        dir: d,
        variants,
        trees,
    })
}

/// Every file under `root`, as `/`-separated paths relative to `root`, in byte order.
fn list_tree(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in fs_err::read_dir(d)? {
            let e = e?;
            let p = e.path();
            // Real folders only: a link to a folder is not followed (no cycles) and is listed
            // like a file, which `examine` then rejects; a link to an image is an image.
            if e.file_type()?.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort_unstable();
    Ok(out)
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let p = plan(o, dir)?;
    let mut files = vec![p.dir.join(CROP_FILE)];
    files.extend(p.variants.iter().map(|f| p.dir.join(f)));
    for (_, name) in &p.trees {
        let root = p.dir.join(name);
        files.extend(list_tree(&root)?.into_iter().map(|f| root.join(f)));
    }
    Ok(files)
}

/// Splits one CSV record: RFC 4180 quotes (`"a,b"`, `""` inside quotes); a quote inside an
/// unquoted field is an ordinary character. Errors on an unterminated quote or text after a
/// closing quote.
pub fn split_csv(line: &str) -> std::result::Result<Vec<Cow<'_, str>>, &'static str> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut s = String::new();
            let mut j = i + 1;
            loop {
                match b.get(j) {
                    None => return Err("a quoted field is not closed"),
                    Some(b'"') if b.get(j + 1) == Some(&b'"') => {
                        s.push('"');
                        j += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => {
                        // Copy up to the next quote at once (keeps UTF-8 intact).
                        let k = memchr::memchr(b'"', &b[j..]).map_or(b.len(), |k| j + k);
                        s.push_str(&line[j..k]);
                        j = k;
                    }
                }
            }
            out.push(Cow::Owned(s));
            i = j + 1;
            match b.get(i) {
                None => return Ok(out),
                Some(b',') => i += 1,
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            let k = memchr::memchr(b',', &b[i..]).map_or(b.len(), |k| i + k);
            out.push(Cow::Borrowed(&line[i..k]));
            if k == b.len() {
                return Ok(out);
            }
            i = k + 1;
        }
    }
}

/// True if `s` is a JSON number (so it can be written into JSON verbatim).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - s
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A JSON object of `(column, text)`: JSON numbers verbatim, empty text as null, else strings.
fn features_json<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::from("{");
    for (k, (name, v)) in pairs.enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(name).to_string());
        s.push(':');
        if v.is_empty() {
            s.push_str("null");
        } else if is_json_number(v) {
            s.push_str(v);
        } else {
            s.push_str(&serde_json::Value::from(v).to_string());
        }
    }
    s.push('}');
    s
}

#[derive(Default)]
struct Samples {
    source_file: Vec<String>,
    features: Vec<String>,
    label: Vec<u32>,
    n: Vec<Option<i64>>,
    p: Vec<Option<i64>>,
    k: Vec<Option<i64>>,
    temperature: Vec<Option<f64>>,
    humidity: Vec<Option<f64>>,
    ph: Vec<Option<f64>>,
    rainfall: Vec<Option<f64>>,
}

impl Samples {
    fn len(&self) -> usize {
        self.label.len()
    }
}

/// Line-level context shared by the CSV readers.
struct CsvFile<'a> {
    name: &'static str,
    rejects: &'a mut Vec<Reject>,
    acc: FileAccount,
}

impl CsvFile<'_> {
    fn reject(&mut self, line: u64, reason: &'static str, detail: String, raw: &[u8]) {
        self.acc.rejected += 1;
        self.rejects.push(Reject {
            file: self.name.into(),
            line,
            reason,
            detail,
            raw: raw.to_vec(),
        });
    }
}

/// The text of a line: without `\r`, without a BOM on line 1; `None` if not UTF-8.
fn line_text(line_no: u64, raw: &[u8]) -> Option<&str> {
    let mut l = raw.strip_suffix(b"\r").unwrap_or(raw);
    if line_no == 1 {
        l = l.strip_prefix(b"\xef\xbb\xbf").unwrap_or(l);
    }
    std::str::from_utf8(l).ok()
}

fn read_crop_file(
    path: &Path,
    samples: &mut Samples,
    labels: &mut Interner,
    rejects: &mut Vec<Reject>,
) -> Result<FileAccount> {
    let mut f = CsvFile {
        name: CROP_FILE,
        rejects,
        acc: FileAccount {
            file: CROP_FILE.into(),
            ..Default::default()
        },
    };
    let names: Vec<&str> = CROP_HEADER.split(',').collect();
    let mut reader = LineReader::open(path)?;
    while let Some((line_no, _, raw, long)) = reader.next_line()? {
        f.acc.lines += 1;
        if let Some(n) = long {
            f.reject(
                line_no,
                "line_too_long",
                format!(
                    "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                    crate::io::lines::MAX_LINE >> 20
                ),
                raw,
            );
            continue;
        }
        let Some(text) = line_text(line_no, raw) else {
            if line_no == 1 {
                return Err(Error::BadInput {
                    path: path.into(),
                    message: "line 1: the header is not valid UTF-8".into(),
                });
            }
            f.reject(
                line_no,
                "invalid_utf8",
                "row is not valid UTF-8".into(),
                raw,
            );
            continue;
        };
        if line_no == 1 {
            if text != CROP_HEADER {
                return Err(Error::BadInput {
                    path: path.into(),
                    message: format!("line 1: expected the header `{CROP_HEADER}`, found `{text}`"),
                });
            }
            f.acc.header += 1;
            continue;
        }
        if text.is_empty() {
            f.acc.skipped += 1;
            continue;
        }
        let fields = match split_csv(text) {
            Ok(v) => v,
            Err(e) => {
                f.reject(line_no, "bad_quote", e.into(), raw);
                continue;
            }
        };
        if fields.len() != names.len() {
            f.reject(
                line_no,
                "field_count",
                format!(
                    "expected {} comma-separated fields, found {}",
                    names.len(),
                    fields.len()
                ),
                raw,
            );
            continue;
        }
        let int = |k: usize| fields[k].parse::<i64>().ok();
        let float = |k: usize| fields[k].parse::<f64>().ok().filter(|x| x.is_finite());
        let ints = [int(0), int(1), int(2)];
        let floats = [float(3), float(4), float(5), float(6)];
        if let Some(bad) = (0..3)
            .find(|&k| ints[k].is_none())
            .or_else(|| (3..7).find(|&k| floats[k - 3].is_none()))
        {
            let what = if bad < 3 {
                "a whole number"
            } else {
                "a finite decimal number"
            };
            f.reject(
                line_no,
                "bad_number",
                format!("`{}` = `{}` is not {what}", names[bad], fields[bad]),
                raw,
            );
            continue;
        }
        let label = fields[7].as_ref();
        if label.is_empty() {
            f.reject(line_no, "empty_label", "the label is empty".into(), raw);
            continue;
        }
        f.acc.rows += 1;
        let (code, _) = labels.intern(label.as_bytes(), || label.to_owned());
        samples.label.push(code);
        samples.source_file.push(CROP_FILE.into());
        samples.features.push(features_json(
            names[..7]
                .iter()
                .copied()
                .zip(fields[..7].iter().map(|c| c.as_ref())),
        ));
        samples.n.push(ints[0]);
        samples.p.push(ints[1]);
        samples.k.push(ints[2]);
        samples.temperature.push(floats[0]);
        samples.humidity.push(floats[1]);
        samples.ph.push(floats[2]);
        samples.rainfall.push(floats[3]);
    }
    if f.acc.header == 0 {
        return Err(Error::BadInput {
            path: path.into(),
            message: format!("the file is empty; expected the header `{CROP_HEADER}`"),
        });
    }
    Ok(f.acc)
}

/// A crop table with a header that has a `label` column; every other column is a feature.
fn read_variant_file(
    path: &Path,
    name: &'static str,
    samples: &mut Samples,
    labels: &mut Interner,
    rejects: &mut Vec<Reject>,
) -> Result<FileAccount> {
    let mut f = CsvFile {
        name,
        rejects,
        acc: FileAccount {
            file: name.into(),
            ..Default::default()
        },
    };
    let mut header: Vec<String> = Vec::new();
    let mut label_col = 0;
    let mut reader = LineReader::open(path)?;
    while let Some((line_no, _, raw, long)) = reader.next_line()? {
        f.acc.lines += 1;
        if let Some(n) = long {
            f.reject(
                line_no,
                "line_too_long",
                format!(
                    "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                    crate::io::lines::MAX_LINE >> 20
                ),
                raw,
            );
            continue;
        }
        let text = line_text(line_no, raw);
        if line_no == 1 {
            let bad = |message: String| Error::BadInput {
                path: path.into(),
                message,
            };
            let text = text.ok_or_else(|| bad("line 1: the header is not valid UTF-8".into()))?;
            header = split_csv(text)
                .map_err(|e| bad(format!("line 1: {e}")))?
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            label_col = header.iter().position(|h| h == "label").ok_or_else(|| {
                bad(format!(
                    "line 1: expected a header with a `label` column, found `{text}`"
                ))
            })?;
            f.acc.header += 1;
            continue;
        }
        let Some(text) = text else {
            f.reject(
                line_no,
                "invalid_utf8",
                "row is not valid UTF-8".into(),
                raw,
            );
            continue;
        };
        if text.is_empty() {
            f.acc.skipped += 1;
            continue;
        }
        let fields = match split_csv(text) {
            Ok(v) => v,
            Err(e) => {
                f.reject(line_no, "bad_quote", e.into(), raw);
                continue;
            }
        };
        if fields.len() != header.len() {
            f.reject(
                line_no,
                "field_count",
                format!(
                    "expected {} comma-separated fields, found {}",
                    header.len(),
                    fields.len()
                ),
                raw,
            );
            continue;
        }
        let label = fields[label_col].as_ref();
        if label.is_empty() {
            f.reject(line_no, "empty_label", "the label is empty".into(), raw);
            continue;
        }
        f.acc.rows += 1;
        let (code, _) = labels.intern(label.as_bytes(), || label.to_owned());
        samples.label.push(code);
        samples.source_file.push(name.into());
        samples.features.push(features_json(
            header
                .iter()
                .zip(&fields)
                .enumerate()
                .filter(|(k, _)| *k != label_col)
                .map(|(_, (h, v))| (h.as_str(), v.as_ref())),
        ));
        samples.n.push(None);
        samples.p.push(None);
        samples.k.push(None);
        samples.temperature.push(None);
        samples.humidity.push(None);
        samples.ph.push(None);
        samples.rainfall.push(None);
    }
    if f.acc.header == 0 {
        return Err(Error::BadInput {
            path: path.into(),
            message: "the file is empty; expected a header with a `label` column".into(),
        });
    }
    Ok(f.acc)
}

/// The container an image file really is, from its first bytes.
pub fn sniff_image(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("webp")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("gif")
    } else if head.starts_with(b"BM") && head.len() >= 26 {
        Some("bmp")
    } else {
        None
    }
}

fn image_format(f: &str) -> image::ImageFormat {
    match f {
        "jpeg" => image::ImageFormat::Jpeg,
        "png" => image::ImageFormat::Png,
        "webp" => image::ImageFormat::WebP,
        "gif" => image::ImageFormat::Gif,
        _ => image::ImageFormat::Bmp,
    }
}

#[derive(Default)]
struct Images {
    dataset: Vec<&'static str>,
    split: Vec<Option<String>>,
    class: Vec<String>,
    path: Vec<String>,
    format: Vec<&'static str>,
    extension: Vec<String>,
    width: Vec<u32>,
    height: Vec<u32>,
    bytes: Vec<u64>,
    sha256: Vec<String>,
    phash: Vec<Option<u64>>,
}

/// One file of a tree, examined.
enum Examined {
    Image {
        format: &'static str,
        width: u32,
        height: u32,
        bytes: u64,
        sha256: String,
        /// The perceptual hash; `None` when the header reads but the pixels do not decode.
        phash: Option<u64>,
    },
    Rejected {
        reason: &'static str,
        detail: String,
        head: Vec<u8>,
    },
}

fn examine(path: &Path) -> Result<Examined> {
    if fs_err::metadata(path)?.is_dir() {
        return Ok(Examined::Rejected {
            reason: "not_image",
            detail: "a link to a folder (not followed)".into(),
            head: Vec::new(),
        });
    }
    let data = fs_err::read(path)?;
    let head = data[..data.len().min(64)].to_vec();
    let Some(format) = sniff_image(&data) else {
        return Ok(Examined::Rejected {
            reason: "not_image",
            detail: format!(
                "not a JPEG, PNG, WebP, GIF or BMP file (starts with {:?})",
                String::from_utf8_lossy(&data[..data.len().min(16)])
            ),
            head,
        });
    };
    let dims = image::ImageReader::with_format(std::io::Cursor::new(&data), image_format(format))
        .into_dimensions();
    Ok(match dims {
        Ok((width, height)) if width > 0 && height > 0 => Examined::Image {
            format,
            width,
            height,
            bytes: data.len() as u64,
            sha256: crate::util::hash::sha256_hex(&data),
            // For the media duplicate audit (bounded decode: no image bombs).
            phash: crate::encode::image::decode(&data)
                .ok()
                .and_then(|img| crate::encode::phash::phash(&img)),
        },
        Ok(_) => Examined::Rejected {
            reason: "bad_image",
            detail: format!("the {format} header says the image is empty"),
            head,
        },
        Err(e) => Examined::Rejected {
            reason: "bad_image",
            detail: format!("{format} magic bytes but the header does not read: {e}"),
            head,
        },
    })
}

fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn read_tree(
    dir: &Path,
    dataset: &'static str,
    tree: &str,
    images: &mut Images,
    rejects: &mut Vec<Reject>,
) -> Result<FileAccount> {
    let root = dir.join(tree);
    let files = list_tree(&root)?;
    let examined: Vec<Result<Examined>> =
        files.par_iter().map(|f| examine(&root.join(f))).collect();
    let mut acc = FileAccount {
        file: format!("{tree}/"),
        ..Default::default()
    };
    let depth = if dataset == SOIL_IMAGE_DATASET { 3 } else { 2 };
    for (rel, e) in files.iter().zip(examined) {
        acc.lines += 1;
        let e = e?;
        let parts: Vec<&str> = rel.split('/').collect();
        let path = format!("{tree}/{rel}");
        let mut reject = |reason, detail, head: Vec<u8>| {
            acc.rejected += 1;
            rejects.push(Reject {
                file: path.clone(),
                line: 0,
                reason,
                detail,
                raw: head,
            });
        };
        match e {
            Examined::Rejected {
                reason,
                detail,
                head,
            } => reject(reason, detail, head),
            Examined::Image { .. } if parts.len() < depth => reject(
                "unexpected_location",
                format!(
                    "expected `{tree}/{}<class>/<file>`",
                    if depth == 3 { "<split>/" } else { "" }
                ),
                Vec::new(),
            ),
            Examined::Image {
                format,
                width,
                height,
                bytes,
                sha256,
                phash,
            } => {
                acc.rows += 1;
                images.dataset.push(dataset);
                images.split.push((depth == 3).then(|| parts[0].to_owned()));
                images.class.push(parts[depth - 2].to_owned());
                images.extension.push(extension(parts[parts.len() - 1]));
                images.path.push(path);
                images.format.push(format);
                images.width.push(width);
                images.height.push(height);
                images.bytes.push(bytes);
                images.sha256.push(sha256);
                images.phash.push(phash);
            }
        }
    }
    Ok(acc)
}

/// MT19937 as numpy's legacy `RandomState` uses it.
pub struct Mt19937 {
    mt: [u32; 624],
    idx: usize,
}

impl Mt19937 {
    /// `np.random.seed(seed)` (init_genrand).
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, idx: 624 }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.idx >= 624 {
            for i in 0..624 {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[i] = v;
            }
            self.idx = 0;
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `randint(0, n)` of numpy's legacy `RandomState` (masked rejection sampling, one 32-bit
    /// draw per try; no draw at all when `n == 1`).
    pub fn randint(&mut self, n: u32) -> u32 {
        assert!(n > 0);
        let rng = n - 1;
        if rng == 0 {
            return 0;
        }
        let mask = u32::MAX >> rng.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= rng {
                return v;
            }
        }
    }
}

/// `(class index, class name, image id)` per sample (see the module docs).
fn pair(o: &Options, n_samples: usize, images: &Images) -> Result<Vec<(u32, String, u64)>> {
    let pool: Vec<usize> = (0..images.path.len())
        .filter(|&i| {
            images.dataset[i] == SOIL_IMAGE_DATASET
                && (o.pairing_split == "all"
                    || images.split[i].as_deref() == Some(o.pairing_split.as_str()))
        })
        .collect();
    let mut classes: Vec<&str> = pool.iter().map(|&i| images.class[i].as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        let splits: std::collections::BTreeSet<&str> =
            images.split.iter().flatten().map(String::as_str).collect();
        return Err(Error::Invalid(format!(
            "`pairing = \"random-by-class\"`: no image of `{}` in split `{}` to draw from (splits found: {})",
            o.soil_image_dir,
            o.pairing_split,
            splits.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let by_class: Vec<Vec<usize>> = classes
        .iter()
        .map(|c| {
            pool.iter()
                .copied()
                .filter(|&i| images.class[i] == *c)
                .collect()
        })
        .collect();
    let mut mt = Mt19937::new(o.seed);
    let mut pick = Rng::derive(u64::from(o.seed), "agrosense-pairing-image");
    Ok((0..n_samples)
        .map(|_| {
            let c = mt.randint(classes.len() as u32);
            let imgs = &by_class[c as usize];
            let img = imgs[pick.below(imgs.len() as u64) as usize];
            (c, classes[c as usize].to_owned(), img as u64)
        })
        .collect())
}

pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let p = plan(o, dir)?;
    let mut rejects = Vec::new();
    let mut labels = Interner::default();
    let mut samples = Samples::default();
    let mut accounts = vec![read_crop_file(
        &p.dir.join(CROP_FILE),
        &mut samples,
        &mut labels,
        &mut rejects,
    )?];
    for f in &p.variants {
        accounts.push(read_variant_file(
            &p.dir.join(f),
            f,
            &mut samples,
            &mut labels,
            &mut rejects,
        )?);
    }
    let mut images = Images::default();
    for (ds, tree) in &p.trees {
        progress.info(format!("Reading soil images under {tree}/"));
        accounts.push(read_tree(&p.dir, ds, tree, &mut images, &mut rejects)?);
    }

    let n = samples.len();
    let sample_ids = || Arc::new(UInt64Array::from_iter_values(0..n as u64)) as ArrayRef;
    let mut tables = vec![
        SideTable {
            name: "samples".into(),
            batch: canonical_batch(
                "samples",
                NAME,
                vec![
                    sample_ids(),
                    Arc::new(StringArray::from(samples.source_file)),
                    Arc::new(StringArray::from(samples.features)),
                    Arc::new(Int64Array::from(samples.n)),
                    Arc::new(Int64Array::from(samples.p)),
                    Arc::new(Int64Array::from(samples.k)),
                    Arc::new(Float64Array::from(samples.temperature)),
                    Arc::new(Float64Array::from(samples.humidity)),
                    Arc::new(Float64Array::from(samples.ph)),
                    Arc::new(Float64Array::from(samples.rainfall)),
                ],
            )?,
            user_col: None,
            item_cols: vec![],
        },
        SideTable {
            name: "labels".into(),
            batch: canonical_batch(
                "labels",
                NAME,
                vec![sample_ids(), Arc::new(UInt32Array::from(samples.label))],
            )?,
            user_col: None,
            item_cols: vec!["item_id".into()],
        },
    ];
    if o.pairing == Pairing::RandomByClass {
        let pairs = pair(o, n, &images)?;
        tables.push(SideTable {
            name: "sample_soil".into(),
            batch: canonical_batch(
                "sample_soil",
                NAME,
                vec![
                    sample_ids(),
                    Arc::new(UInt32Array::from_iter_values(pairs.iter().map(|p| p.0))),
                    Arc::new(StringArray::from_iter_values(
                        pairs.iter().map(|p| p.1.as_str()),
                    )),
                    Arc::new(UInt64Array::from_iter_values(pairs.iter().map(|p| p.2))),
                ],
            )?,
            user_col: None,
            item_cols: vec![],
        });
    }
    if !p.trees.is_empty() {
        let m = images.path.len() as u64;
        tables.push(SideTable {
            name: "soil_images".into(),
            batch: canonical_batch(
                "soil_images",
                NAME,
                vec![
                    Arc::new(UInt64Array::from_iter_values(0..m)),
                    Arc::new(StringArray::from(images.dataset)),
                    string_array(images.split),
                    Arc::new(StringArray::from(images.class)),
                    Arc::new(StringArray::from(images.path)),
                    Arc::new(StringArray::from(images.format)),
                    Arc::new(StringArray::from(images.extension)),
                    Arc::new(UInt32Array::from(images.width)),
                    Arc::new(UInt32Array::from(images.height)),
                    Arc::new(UInt64Array::from(images.bytes)),
                    Arc::new(StringArray::from(images.sha256)),
                    Arc::new(UInt64Array::from(images.phash)),
                ],
            )?,
            user_col: None,
            item_cols: vec![],
        });
    }

    let titles = labels.keys.iter().cloned().map(Some).collect();
    Ok(Normalized {
        interactions: Default::default(),
        event: "label".into(),
        users: Entities::default(),
        items: Entities {
            raw_id: labels.keys,
            title: Some(titles),
            extras: vec![],
        },
        rejects,
        accounts,
        timeless: true,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_legacy_randint() {
        // np.random.seed(42); np.random.randint(0, 4, size=20) (the notebook's soil_type)
        let mut mt = Mt19937::new(42);
        let got: Vec<u32> = (0..20).map(|_| mt.randint(4)).collect();
        assert_eq!(
            got,
            [2, 3, 0, 2, 2, 3, 0, 0, 2, 1, 2, 2, 2, 2, 3, 0, 3, 3, 3, 2]
        );
        // A range that is not a power of two exercises the rejection loop.
        let mut mt = Mt19937::new(42);
        let got: Vec<u32> = (0..20).map(|_| mt.randint(5)).collect();
        assert_eq!(
            got,
            [3, 4, 2, 4, 4, 1, 2, 2, 2, 4, 3, 2, 4, 1, 3, 1, 3, 4, 0, 3]
        );
        let mut mt = Mt19937::new(42);
        assert_eq!(mt.next_u32(), 1_608_637_542);
        let mut mt = Mt19937::new(7);
        let got: Vec<u32> = (0..12).map(|_| mt.randint(3)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 2, 0]);
    }

    #[test]
    fn csv_fields() {
        assert_eq!(split_csv("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split_csv("").unwrap(), [""]);
        assert_eq!(
            split_csv("\"Yellowish brown\",\"a,b\",\"say \"\"hi\"\"\"").unwrap(),
            ["Yellowish brown", "a,b", "say \"hi\""]
        );
        assert_eq!(split_csv("5\" pot,x").unwrap(), ["5\" pot", "x"]);
        assert!(split_csv("\"open,x").is_err());
        assert!(split_csv("\"a\"b,x").is_err());
    }

    #[test]
    fn json_numbers_verbatim() {
        for ok in ["0", "90", "-1", "6.502985292000001", "1e5", "2.5E-3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", ".5", "1.", "nan", "inf", "+1", "1e", "0x10", "1 ",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
        assert_eq!(
            features_json(
                [
                    ("N", "90"),
                    ("ph", "6.502985292000001"),
                    ("c", "Red"),
                    ("e", "")
                ]
                .into_iter()
            ),
            r#"{"N":90,"ph":6.502985292000001,"c":"Red","e":null}"#
        );
    }

    #[test]
    fn magic_bytes() {
        assert_eq!(sniff_image(b"\xff\xd8\xff\xe0rest"), Some("jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(sniff_image(b"RIFF\x10\0\0\0WEBPVP8L"), Some("webp"));
        assert_eq!(sniff_image(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff_image(b"GIF89a.."), Some("gif"));
        assert_eq!(sniff_image(b"<!DOCTYPE html>"), None);
        assert_eq!(sniff_image(b""), None);
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("2560px-A_red_soil_crop_field.JPG.jpg"), "jpg");
        assert_eq!(extension("Alluvial-Soil..png"), "png");
        assert_eq!(extension("x.JPG"), "jpg");
        assert_eq!(extension("README"), "");
        assert_eq!(extension(".hidden"), "");
    }
}
