//! Amazon Reviews 2023 (McAuley Lab): reviews and item metadata per category, the benchmark
//! family of the shortcut-diagnostics literature.
//!
//! ## Source
//! <https://amazon-reviews-2023.github.io/>: per category `raw/review_categories/<Category>.jsonl.gz`
//! and `raw/meta_categories/meta_<Category>.jsonl.gz` under
//! <https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/>. Plain `.jsonl` (as on the
//! Hugging Face mirror `McAuley-Lab/Amazon-Reviews-2023`) and `.jsonl.zst` are read too.
//!
//! ## License
//! Research use; cite Hou et al., "Bridging Language and Items for Retrieval and
//! Recommendation", arXiv 2403.03952 (2024).
//!
//! ## Schema mapping
//! - Reviews → `interactions` (event `review`, `value` = the 1–5 star rating, `ts` = the
//!   review's millisecond timestamp); users by `user_id`, items by `parent_asin` (variants of one
//!   product share it, as in the paper's benchmarks). The review text, title, variant `asin`,
//!   helpful votes, verified flag and image URLs go to the corpus table `amazon_reviews`.
//! - Metadata → `items`: title, main category, average rating, rating count, price, store,
//!   categories, features, description, `details` (as JSON text) and the first large image URL
//!   (`image_url`, for `[[stages.media]] column = "image_url"`).
//!
//! ## Known quirks (each has a test)
//! - `price` is a number, `null`, or a string such as `"None"` or `"—"`: non-numbers become null.
//! - Timestamps are milliseconds; 10-digit second values are rejected (`bad_timestamp`) rather
//!   than guessed.
//! - A line that is not a JSON object (a truncated last line of a partial download) → rejects
//!   (`bad_json`); records without `user_id`/`parent_asin` → `missing_field`.
//! - A metadata record for an item without reviews is kept in the catalogue before filtering;
//!   a second metadata record for one `parent_asin` → rejects (`duplicate_item`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};

use super::text::{Line, read_lines};
use super::{
    Entities, FileAccount, Interner, Normalized, RawInteractions, SideTable, string_array,
};
use crate::error::{Error, Result};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "amazon-reviews-2023";
pub const REVIEWS_TABLE: &str = "amazon_reviews";
pub const LICENSE: &str = "Amazon Reviews 2023 (McAuley Lab, UCSD) for research use; cite Hou et al., \
    Bridging Language and Items for Retrieval and Recommendation, arXiv 2403.03952, 2024.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://amazon-reviews-2023.github.io/";
pub const CITATION: &str = "Hou, Li, He, Yan, Chen, McAuley. Bridging Language and Items for Retrieval and Recommendation. arXiv:2403.03952, 2024.";
pub const DESCRIPTION: &str = "Amazon product reviews (1-5 star ratings with text, millisecond timestamps) and item \
    metadata (titles, categories, prices, features, images) for one category of Amazon Reviews 2023.";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// The category as in the file names, e.g. `All_Beauty`.
    pub category: String,
    /// Read `meta_<category>.jsonl*` (default true).
    pub metadata: bool,
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let category = r.required_str(diags, "category", "\"All_Beauty\"")?;
        if category.value.is_empty() || category.value.contains(['/', '\\']) {
            diags.push(Diagnostic::error(
                "`category` must be a category name as in the file names",
                Some(category.span),
                "e.g. All_Beauty, Video_Games",
            ));
            return None;
        }
        let metadata = r.bool(diags, "metadata").is_none_or(|b| b.value);
        Some(Options {
            category: category.value,
            metadata,
        })
    }
}

/// The first of `<stem>.jsonl`, `.jsonl.gz`, `.jsonl.zst` in `dir` (or its `raw/` layout).
fn find(dir: &Path, sub: &str, stem: &str) -> Option<PathBuf> {
    for d in [dir.to_path_buf(), dir.join("raw").join(sub)] {
        for ext in ["jsonl", "jsonl.gz", "jsonl.zst"] {
            let p = d.join(format!("{stem}.{ext}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn files(o: &Options, dir: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let reviews = find(dir, "review_categories", &o.category).ok_or_else(|| Error::MissingInput {
        path: dir.join(format!("{}.jsonl.gz", o.category)),
        hint: format!(
            "`source.path` must hold `{c}.jsonl`, `{c}.jsonl.gz` or `{c}.jsonl.zst` (and `meta_{c}.jsonl*`); \
             `recdata synth amazon-reviews-2023 --out <dir>` writes a small All_Beauty",
            c = o.category
        ),
    })?;
    let meta = if o.metadata {
        Some(
            find(dir, "meta_categories", &format!("meta_{}", o.category)).ok_or_else(|| {
                Error::MissingInput {
                    path: dir.join(format!("meta_{}.jsonl.gz", o.category)),
                    hint: "the category's metadata file; set `source.metadata = false` to build without item metadata".into(),
                }
            })?,
        )
    } else {
        None
    };
    Ok((reviews, meta))
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let (r, m) = files(o, dir)?;
    Ok(std::iter::once(r).chain(m).collect())
}

#[derive(serde::Deserialize)]
struct Review<'a> {
    rating: Option<f64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    images: Vec<serde_json::Value>,
    #[serde(borrow)]
    asin: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    parent_asin: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    timestamp: Option<serde_json::Number>,
    #[serde(default)]
    helpful_vote: Option<i64>,
    #[serde(default)]
    verified_purchase: Option<bool>,
}

#[derive(serde::Deserialize)]
struct Meta {
    parent_asin: Option<String>,
    #[serde(default)]
    main_category: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    average_rating: Option<f64>,
    #[serde(default)]
    rating_number: Option<i64>,
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    description: Option<Vec<String>>,
    #[serde(default)]
    price: serde_json::Value,
    #[serde(default)]
    images: Vec<serde_json::Value>,
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    details: serde_json::Value,
}

/// The price when it is a number (or a string holding one); null otherwise.
pub fn price(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().trim_start_matches('$').parse().ok(),
        _ => None,
    }
}

#[derive(Default)]
struct ItemAttrs {
    seen: Vec<bool>,
    title: Vec<Option<String>>,
    main_category: Vec<Option<String>>,
    average_rating: Vec<Option<f64>>,
    rating_number: Vec<Option<i64>>,
    price: Vec<Option<f64>>,
    store: Vec<Option<String>>,
    categories: Vec<Option<Vec<String>>>,
    features: Vec<Option<Vec<String>>>,
    description: Vec<Option<String>>,
    details: Vec<Option<String>>,
    image_url: Vec<Option<String>>,
}

impl ItemAttrs {
    fn grow(&mut self, n: usize) {
        if self.seen.len() >= n {
            return;
        }
        self.seen.resize(n, false);
        self.title.resize(n, None);
        self.main_category.resize(n, None);
        self.average_rating.resize(n, None);
        self.rating_number.resize(n, None);
        self.price.resize(n, None);
        self.store.resize(n, None);
        self.categories.resize(n, None);
        self.features.resize(n, None);
        self.description.resize(n, None);
        self.details.resize(n, None);
        self.image_url.resize(n, None);
    }
}

fn string_lists(v: &[Option<Vec<String>>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for x in v {
        match x {
            Some(xs) => {
                for s in xs {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// The URL of an image object: its `large`/`hi_res`/`large_image_url` field.
fn image_url(v: &serde_json::Value) -> Option<String> {
    ["large", "hi_res", "large_image_url", "medium_image_url"]
        .iter()
        .find_map(|k| v.get(k).and_then(|u| u.as_str()))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|x| !x.is_empty())
}

// Long on purpose: reviews, then metadata, in read order, each a short block into the shared
// interners and accounts.
pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let (reviews_path, meta_path) = files(o, dir)?;
    let mut users = Interner::default();
    let mut items = Interner::default();
    let mut inter = RawInteractions {
        value: Some(Vec::new()),
        ..Default::default()
    };
    let mut rejects = Vec::new();
    let mut accounts: Vec<FileAccount> = Vec::new();
    // The reviews table, column by column.
    let mut r_line = Vec::new();
    let mut r_user = Vec::new();
    let mut r_item = Vec::new();
    let mut r_asin: Vec<Option<String>> = Vec::new();
    let mut r_title: Vec<Option<String>> = Vec::new();
    let mut r_text: Vec<Option<String>> = Vec::new();
    let mut r_helpful: Vec<Option<i64>> = Vec::new();
    let mut r_verified: Vec<Option<bool>> = Vec::new();
    let mut r_images: Vec<Option<Vec<String>>> = Vec::new();

    let name = reviews_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bar = progress.bytes_bar(0, &name);
    let values = inter.value.as_mut().expect("set above");
    accounts.push(read_lines(
        &reviews_path,
        &name,
        &mut rejects,
        &bar,
        |line_no, line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Line::Skip;
            }
            let r: Review = match serde_json::from_slice(line) {
                Ok(r) => r,
                Err(e) => {
                    return Line::Reject("bad_json", format!("not a JSON review object: {e}"));
                }
            };
            let (Some(user), Some(item)) = (
                non_empty(r.user_id.as_deref()),
                non_empty(r.parent_asin.as_deref()),
            ) else {
                return Line::Reject(
                    "missing_field",
                    "a review needs `user_id` and `parent_asin`".into(),
                );
            };
            let Some(rating) = r.rating.filter(|x| (1.0..=5.0).contains(x)) else {
                return Line::Reject(
                    "bad_rating",
                    format!("rating {:?} is not between 1 and 5", r.rating),
                );
            };
            let Some(ts) = r
                .timestamp
                .as_ref()
                .and_then(|t| t.as_i64())
                .filter(|t| (100_000_000_000..10_000_000_000_000).contains(t))
            else {
                return Line::Reject(
                    "bad_timestamp",
                    format!(
                        "timestamp {} is not epoch milliseconds",
                        r.timestamp
                            .map_or("(missing)".to_owned(), |t| t.to_string())
                    ),
                );
            };
            let uc = users.intern(user.as_bytes(), || user.to_owned()).0;
            let ic = items.intern(item.as_bytes(), || item.to_owned()).0;
            inter.user.push(uc);
            inter.item.push(ic);
            inter.ts.push(ts);
            inter.order.push(line_no);
            values.push(rating as f32);
            r_line.push(line_no);
            r_user.push(uc);
            r_item.push(ic);
            r_asin.push(r.asin.map(|a| a.into_owned()));
            r_title.push(r.title);
            r_text.push(r.text);
            r_helpful.push(r.helpful_vote);
            r_verified.push(r.verified_purchase);
            r_images.push(Some(r.images.iter().filter_map(image_url).collect()));
            Line::Row
        },
    )?);
    bar.finish_and_clear();

    let mut a = ItemAttrs::default();
    if let Some(path) = &meta_path {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hidden = indicatif::ProgressBar::hidden();
        accounts.push(read_lines(
            path,
            &name,
            &mut rejects,
            &hidden,
            |_, line| {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Line::Skip;
                }
                let m: Meta = match serde_json::from_slice(line) {
                    Ok(m) => m,
                    Err(e) => {
                        return Line::Reject(
                            "bad_json",
                            format!("not a JSON metadata object: {e}"),
                        );
                    }
                };
                let Some(key) = non_empty(m.parent_asin.as_deref()) else {
                    return Line::Reject(
                        "missing_field",
                        "a metadata record needs `parent_asin`".into(),
                    );
                };
                let c = items.intern(key.as_bytes(), || key.to_owned()).0 as usize;
                a.grow(items.keys.len());
                if std::mem::replace(&mut a.seen[c], true) {
                    return Line::Reject(
                        "duplicate_item",
                        format!("`{key}` has an earlier metadata record"),
                    );
                }
                a.title[c] = m.title.filter(|t| !t.is_empty());
                a.main_category[c] = m.main_category;
                a.average_rating[c] = m.average_rating;
                a.rating_number[c] = m.rating_number;
                a.price[c] = price(&m.price);
                a.store[c] = m.store;
                a.categories[c] = m.categories;
                a.features[c] = m.features;
                a.description[c] = m.description.map(|d| d.join("\n"));
                a.details[c] = match &m.details {
                    serde_json::Value::Null => None,
                    d => Some(d.to_string()),
                };
                a.image_url[c] = m.images.iter().find_map(image_url);
                Line::Row
            },
        )?);
    }
    a.grow(items.keys.len());

    let schema = crate::io::schema::table(REVIEWS_TABLE)?.arrow(NAME)?;
    let reviews = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(r_line)),
            Arc::new(UInt32Array::from(r_user)),
            Arc::new(UInt32Array::from(r_item)),
            string_array(r_asin),
            string_array(r_title),
            string_array(r_text),
            Arc::new(Int64Array::from(r_helpful)),
            Arc::new(BooleanArray::from(r_verified)),
            string_lists(&r_images),
        ],
    )?;

    Ok(Normalized {
        interactions: inter,
        event: "review".into(),
        users: Entities {
            raw_id: users.keys,
            title: None,
            extras: vec![],
        },
        items: Entities {
            raw_id: items.keys,
            title: Some(a.title),
            extras: vec![
                ("main_category".into(), string_array(a.main_category)),
                (
                    "average_rating".into(),
                    Arc::new(Float32Array::from(
                        a.average_rating
                            .iter()
                            .map(|x| x.map(|v| v as f32))
                            .collect::<Vec<_>>(),
                    )),
                ),
                (
                    "rating_number".into(),
                    Arc::new(Int64Array::from(a.rating_number)),
                ),
                ("price".into(), Arc::new(Float64Array::from(a.price))),
                ("store".into(), string_array(a.store)),
                ("categories".into(), string_lists(&a.categories)),
                ("features".into(), string_lists(&a.features)),
                (
                    "description".into(),
                    Arc::new(StringArray::from(a.description)),
                ),
                ("details".into(), string_array(a.details)),
                ("image_url".into(), string_array(a.image_url)),
            ],
        },
        rejects,
        accounts,
        timeless: false,
        tables: vec![SideTable {
            name: REVIEWS_TABLE.into(),
            batch: reviews,
            user_col: Some("user_id".into()),
            item_cols: vec!["item_id".into()],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::price;
    use serde_json::json;

    #[test]
    fn prices_are_numbers_or_null() {
        assert_eq!(price(&json!(12.5)), Some(12.5));
        assert_eq!(price(&json!("None")), None);
        assert_eq!(price(&json!("—")), None);
        assert_eq!(price(&json!("$7.99")), Some(7.99));
        assert_eq!(price(&json!(null)), None);
    }
}
