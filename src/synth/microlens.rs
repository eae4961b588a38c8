//! A seeded MicroLens release in the exact upstream layout (corpora.md §1): the 100K file set
//! (pairs CSV with header and the TSV sequences, header-less titles/tags/likes/comments, real
//! JPEG covers and real H.264 MP4 videos) or the 1M file set (pairs, Chinese titles with
//! unbalanced quotes). Scales to the real sizes for benchmarks.
//!
//! Quirks written on purpose: unsorted pair rows; two users sharing one timestamp; a title
//! with two commas, an empty title, a title with a lone `"`, a quoted title; a malformed
//! comment line (a comment's embedded newline); one missing cover; one video named
//! `<id>.1.mp4`.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::lastfm_1k::Zipf;
use crate::error::{Error, Result};
use crate::sources::microlens::{TAGS_FILE, Variant};
use crate::util::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    pub variant: Variant,
    pub users: u32,
    /// Mean interactions per user (≥ 3 each, as in the real files).
    pub events_per_user: u32,
    pub seed: u64,
    /// Write covers (real JPEGs) and videos (real MP4s, needs `ffmpeg`); 100K layout only.
    pub media: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub variant: Variant,
    pub users: u32,
    pub items: u32,
    pub interactions: u64,
    pub covers: u32,
    pub videos: u32,
    /// Why no videos were written, if none were.
    pub videos_skipped: Option<String>,
}

const WORDS_EN: &[&str] = &[
    "cat",
    "dance",
    "street",
    "food",
    "tutorial",
    "funny",
    "travel",
    "music",
    "game",
    "daily",
    "vlog",
    "cooking",
    "sunset",
    "city",
    "puppy",
    "challenge",
];
const WORDS_ZH: &[&str] = &[
    "猫咪", "舞蹈", "街头", "美食", "教程", "搞笑", "旅行", "音乐", "游戏", "日常", "夕阳", "城市",
];
const CATEGORIES: &[&str] = &[
    "Food",
    "Pets",
    "Dance",
    "Travel",
    "Music",
    "Gaming",
    "Comedy",
    "Education",
];

fn title(rng: &mut Rng, words: &[&str], sep: &str) -> String {
    (0..2 + rng.below(4))
        .map(|_| words[rng.below(words.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(sep)
}

/// Number of videos for a given number of users, in the real releases' ratio (100K:
/// 100,000 → 19,738; 1M: 1,000,000 → 91,402).
pub fn items_for(v: Variant, users: u32) -> u32 {
    let ratio = if v == Variant::M1 {
        0.091_402
    } else {
        0.197_38
    };
    ((f64::from(users) * ratio).round() as u32).max(12)
}

fn create(out: &Path, name: &str) -> Result<BufWriter<fs_err::File>> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        fs_err::File::create(out.join(name))?,
    ))
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let mut rng = Rng::derive(o.seed, "microlens");
    let n_items = items_for(o.variant, o.users);
    let zipf = Zipf::new(n_items as usize);
    // Popularity rank → video id, so popular videos are not simply the low ids.
    let mut by_rank: Vec<u32> = (1..=n_items).collect();
    rng.shuffle(&mut by_rank);

    // Interactions: (user, item, ts ms). 2020-03-05 .. 2022-09-12, as in the real data.
    let (t0, t1) = (1_583_366_400_000i64, 1_662_940_800_000i64);
    let mut rows: Vec<(u32, u32, i64)> = Vec::new();
    for u in 1..=o.users {
        let n = 3 + rng.below(u64::from(o.events_per_user.max(3) - 2) * 2 - 1) as u32;
        let start = t0 + (rng.next_f64() * (t1 - t0) as f64 * 0.8) as i64;
        let mut t = start;
        for _ in 0..n {
            t += 1 + (rng.next_f64() * 3.0e9) as i64;
            rows.push((u, by_rank[zipf.sample(&mut rng)], t));
        }
    }
    // Two different users share one timestamp (the real file has 106 such rows).
    if rows.len() > 4 && o.users > 1 {
        let last = rows.len() - 1;
        rows[last].2 = rows[0].2;
    }

    // pairs.tsv: per user, chronological, from the rows before shuffling.
    {
        let mut w = create(out, &o.variant.pairs_tsv())?;
        let mut i = 0;
        while i < rows.len() {
            let u = rows[i].0;
            let mut j = i;
            let mut seq: Vec<(i64, u32)> = Vec::new();
            while j < rows.len() && rows[j].0 == u {
                seq.push((rows[j].2, rows[j].1));
                j += 1;
            }
            seq.sort_by_key(|s| s.0);
            write!(w, "{u}\t")?;
            for (k, (_, item)) in seq.iter().enumerate() {
                if k > 0 {
                    w.write_all(b" ")?;
                }
                write!(w, "{item}")?;
            }
            w.write_all(b"\n")?;
            i = j;
        }
        w.flush()?;
    }
    // pairs.csv: header, rows in arbitrary order.
    rng.shuffle(&mut rows);
    {
        let mut w = create(out, &o.variant.pairs_csv())?;
        w.write_all(b"user,item,timestamp\n")?;
        for (u, i, t) in &rows {
            writeln!(w, "{u},{i},{t}")?;
        }
        w.flush()?;
    }

    // Titles: ids 1..N contiguous, with the quirks at fixed ids.
    {
        let (name, header) = o.variant.titles();
        let mut w = create(out, &name)?;
        if header {
            w.write_all(b"item,title\n")?;
        }
        for id in 1..=n_items {
            let t = match (o.variant, id) {
                (Variant::M1, 2) => "\"震惊！这只猫居然会".to_owned(),
                (Variant::M1, 5) => "他说\"今天不下雨，".to_owned(),
                (Variant::M1, 7) => String::new(),
                (Variant::M1, _) => title(&mut rng, WORDS_ZH, ""),
                (_, 2) => "Cat video, part one, the return".to_owned(),
                (_, 5) => "Sunset \"golden hour".to_owned(),
                (_, 7) => String::new(),
                (_, 9) => "\"Quoted, with a comma\"".to_owned(),
                _ => title(&mut rng, WORDS_EN, " "),
            };
            // The real 100K English file separates id and title with a comma and a space.
            if o.variant == Variant::K100 {
                writeln!(w, "{id}, {t}")?;
            } else {
                writeln!(w, "{id},{t}")?;
            }
        }
        w.flush()?;
    }

    let mut covers = 0;
    let mut videos = 0;
    let mut videos_skipped = None;
    if o.variant != Variant::M1 {
        let mut w = create(out, TAGS_FILE)?;
        for id in 1..=n_items {
            let c = CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
            writeln!(w, "{id},{c}")?;
        }
        w.flush()?;

        let mut w = create(out, &o.variant.likes_and_views())?;
        for id in 1..=n_items {
            let views = rng.below(2_000_000);
            let likes = rng.below(views / 10 + 1);
            writeln!(w, "{id}\t{likes}\t{views}")?;
        }
        w.flush()?;

        let mut w = create(out, &o.variant.comments()[0])?;
        for (k, (u, i, _)) in rows.iter().take(rows.len().min(60)).enumerate() {
            let text = title(&mut rng, WORDS_EN, " ");
            if k == 3 {
                // A comment with an embedded newline: its second half is a malformed line.
                writeln!(w, "{u}\t{i}\tso {text}\nand more")?;
            } else {
                writeln!(w, "{u}\t{i}\t{text}")?;
            }
        }
        w.flush()?;

        if o.media {
            covers = write_covers(out, o.variant, n_items, &mut rng)?;
            match write_videos(out, o.variant, n_items) {
                Ok(n) => videos = n,
                Err(why) => videos_skipped = Some(why),
            }
        }
    }
    Ok(Summary {
        variant: o.variant,
        users: o.users,
        items: n_items,
        interactions: rows.len() as u64,
        covers,
        videos,
        videos_skipped,
    })
}

/// Real JPEG covers, 48×32, one flat colour with a stripe per video; video 4 has none.
fn write_covers(out: &Path, v: Variant, n_items: u32, rng: &mut Rng) -> Result<u32> {
    let dir = out.join(format!("{}_covers", v.prefix()));
    fs_err::create_dir_all(&dir)?;
    let mut n = 0;
    for id in 1..=n_items.min(2_000) {
        if id == 4 {
            continue;
        }
        let (r, g, b) = (
            rng.below(256) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        );
        let img = image::RgbImage::from_fn(48, 32, |x, _| {
            if x / 8 == id % 6 {
                image::Rgb([255 - r, 255 - g, 255 - b])
            } else {
                image::Rgb([r, g, b])
            }
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(&img)
            .map_err(|e| Error::Internal(format!("encoding a synthetic cover: {e}")))?;
        fs_err::write(dir.join(format!("{id}.jpg")), bytes)?;
        n += 1;
    }
    Ok(n)
}

/// Real MP4s (H.264, 1 s, 64×64) made by ffmpeg for the first videos; video 3 is named
/// `3.1.mp4`. Returns why not, if ffmpeg is missing or fails.
fn write_videos(out: &Path, v: Variant, n_items: u32) -> std::result::Result<u32, String> {
    let dir = out.join(format!("{}_videos", v.prefix()));
    fs_err::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let first = dir.join("1.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "ultrafast",
            "-threads",
            "1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-map_metadata",
            "-1",
        ])
        .arg(&first)
        .status()
        .map_err(|e| {
            format!("ffmpeg could not run ({e}); install it (Debian: apt-get install ffmpeg)")
        })?;
    if !status.success() {
        return Err(format!("ffmpeg failed with {status}"));
    }
    let mut n = 1;
    for id in 2..=n_items.min(6) {
        let name = if id == 3 {
            format!("{id}.1.mp4")
        } else {
            format!("{id}.mp4")
        };
        fs_err::copy(&first, dir.join(name)).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}
