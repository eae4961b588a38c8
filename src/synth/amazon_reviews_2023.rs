//! A seeded Amazon Reviews 2023 category in the release's layout: `All_Beauty.jsonl.gz` and
//! `meta_All_Beauty.jsonl.gz`, one JSON object per line with the release's field names.
//!
//! Quirks written on purpose: prices as numbers, `null` and the string `"None"`; variants with
//! their own `asin` under one `parent_asin`; escaped Unicode and HTML in text; a review with
//! images; a metadata record for an item nobody reviewed; a review with a 10-digit (seconds)
//! timestamp; a truncated last review line, as a cut-off download leaves it.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::error::Result;
use crate::util::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    pub category: String,
    pub users: u32,
    pub reviews_per_user: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub category: String,
    pub users: u32,
    pub items: u32,
    pub review_lines: u64,
    pub meta_lines: u64,
}

const WORDS: &[&str] = &[
    "great", "soft", "smell", "bottle", "skin", "works", "price", "love", "cheap", "shampoo",
    "brush", "gentle",
];

fn text(rng: &mut Rng, n: u64) -> String {
    (0..n)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn asin(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::from("B0");
    for _ in 0..8 {
        s.push(A[rng.below(A.len() as u64) as usize] as char);
    }
    s
}

fn gz(path: &Path, lines: &[String]) -> Result<()> {
    let f = fs_err::File::create(path)?;
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::new(6));
    for l in lines {
        w.write_all(l.as_bytes())?;
    }
    w.finish()?;
    Ok(())
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let mut rng = Rng::derive(o.seed, "amazon-reviews-2023");
    let n_items = (o.users / 2).max(8);
    let parents: Vec<String> = (0..n_items).map(|_| asin(&mut rng)).collect();
    let mut reviews = Vec::new();
    let base = 1_577_836_800_000i64; // 2020-01-01
    for u in 0..o.users {
        let user = format!("AE{:026X}", rng.next_u64() as u128 * 7919 + u as u128);
        let n = 1 + rng.below(u64::from(o.reviews_per_user.max(1)) * 2 - 1);
        for k in 0..n {
            // The last item is only in the metadata: nobody reviews it.
            let item = &parents[rng.below(u64::from(n_items - 1)) as usize];
            let variant = if rng.chance(0.3) {
                asin(&mut rng)
            } else {
                item.clone()
            };
            let ts = base + rng.below(3 * 365 * 86_400_000) as i64;
            let mut r = json!({
                "rating": (1 + rng.below(5)) as f64,
                "title": text(&mut rng, 3),
                "text": text(&mut rng, 12),
                "images": [],
                "asin": variant,
                "parent_asin": item,
                "user_id": user,
                "timestamp": ts,
                "helpful_vote": rng.below(4),
                "verified_purchase": rng.chance(0.8),
            });
            if u == 0 && k == 0 {
                r["text"] = json!(
                    "Smells like caf\u{e9} &amp; vanilla \u{2014} \u{1f60d}<br />Would buy again"
                );
                r["images"] = json!([{
                    "small_image_url": "https://m.media-amazon.com/images/I/71small._SL256_.jpg",
                    "medium_image_url": "https://m.media-amazon.com/images/I/71medium._SL800_.jpg",
                    "large_image_url": "https://m.media-amazon.com/images/I/71large.jpg",
                    "attachment_type": "IMAGE"
                }]);
            }
            if u == 1 && k == 0 {
                r["timestamp"] = json!(ts / 1000);
            }
            reviews.push(format!("{r}\n"));
        }
    }
    // A cut-off download: the last line stops mid-object.
    if let Some(last) = reviews.last_mut() {
        let cut = last.len() / 2;
        let mut c = cut;
        while !last.is_char_boundary(c) {
            c -= 1;
        }
        last.truncate(c);
    }
    let mut meta = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        let price = match i % 4 {
            0 => json!(null),
            1 => json!("None"),
            _ => json!((rng.below(5000) as f64) / 100.0 + 1.0),
        };
        let m = json!({
            "main_category": "All Beauty",
            "title": format!("{} {}", text(&mut rng, 2), text(&mut rng, 2)),
            "average_rating": 1.0 + (rng.below(41) as f64) / 10.0,
            "rating_number": rng.below(5000),
            "features": if i % 3 == 0 { json!([]) } else { json!([text(&mut rng, 4), text(&mut rng, 3)]) },
            "description": [text(&mut rng, 8)],
            "price": price,
            "images": [{
                "thumb": format!("https://m.media-amazon.com/images/I/{p}._SS40_.jpg"),
                "large": format!("https://m.media-amazon.com/images/I/{p}.jpg"),
                "variant": "MAIN",
                "hi_res": null
            }],
            "videos": [],
            "store": format!("{} Store", text(&mut rng, 1)),
            "categories": [],
            "details": {"Item Form": "Liquid", "Brand": "Synth", "Unit Count": "1.0 Count"},
            "parent_asin": p,
            "bought_together": null
        });
        meta.push(format!("{m}\n"));
    }
    let cat = &o.category;
    gz(&out.join(format!("{cat}.jsonl.gz")), &reviews)?;
    gz(&out.join(format!("meta_{cat}.jsonl.gz")), &meta)?;
    Ok(Summary {
        category: cat.clone(),
        users: o.users,
        items: n_items,
        review_lines: reviews.len() as u64,
        meta_lines: meta.len() as u64,
    })
}
