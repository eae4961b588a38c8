//! A Last.fm-1K-format corpus: `userid-timestamp-artid-artname-traid-traname.tsv` (no header,
//! tab-separated, newest-first per user, unquoted) and `userid-profile.tsv` (header line).
//!
//! Every quirk of the real files (see `sources/lastfm_1k.rs`) is produced, and the first user's
//! history always carries one of each so even a 20-line fixture exercises them: empty artist and
//! track MBIDs, apostrophes and `?`, non-ASCII names, a track name opening a `"` it never closes,
//! an empty track name, equal timestamps, a 5-field and a 7-field damaged line, and invalid UTF-8.
//! Track popularity is Zipf-like; at `--users 992` with the default 19,300 events per user the
//! file has ~19M lines and ~2.4 GB like the real one.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Result;
use crate::sources::lastfm_1k::{EVENTS_FILE, PROFILE_FILE};
use crate::util::rng::Rng;
use crate::util::time::{format_month_day_year, parse_iso_utc_seconds};

#[derive(Debug, Clone)]
pub struct Options {
    pub users: u32,
    pub seed: u64,
    /// Mean events per user (the real corpus: 19,150,868 / 992 ≈ 19,305).
    pub events_per_user: u32,
}

/// What was written, for the caller's summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub lines: u64,
    pub damaged_lines: u64,
    pub bytes: u64,
    pub users: u32,
    pub tracks: usize,
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "the", "sun", "vel", "or", "an", "tri", "po", "ne", "dax", "ul", "fe",
];
const SPECIAL_ARTISTS: &[&str] = &[
    "The Dogs D'Amour",
    "Sigur Rós",
    "坂本龍一",
    "Мумий Тролль",
    "Björk",
    "AC/DC",
];
const SPECIAL_TRACKS: &[&str] = &[
    "Fall in Love Again?",
    "\"Heroes",
    "Don't Stop Me Now",
    "Café del Mar",
    "Ça plane pour moi",
    "It's a \"quote\" test",
];

fn word(rng: &mut Rng, parts: u64) -> String {
    let mut s = String::new();
    for _ in 0..1 + rng.below(parts) {
        s.push_str(SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]);
    }
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn uuid(rng: &mut Rng) -> String {
    let h = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

struct Track {
    artist_mbid: String,
    artist: String,
    mbid: String,
    name: Vec<u8>,
}

fn catalog(rng: &mut Rng, n_tracks: usize) -> Vec<Track> {
    let n_artists = (n_tracks / 8).max(SPECIAL_ARTISTS.len() + 1);
    let artists: Vec<(String, String)> = (0..n_artists)
        .map(|a| {
            let name = SPECIAL_ARTISTS.get(a).map_or_else(
                || format!("{} {}", word(rng, 3), word(rng, 2)),
                |s| (*s).to_owned(),
            );
            // README: 107,528 artists with an MBID, 69,420 without.
            let mbid = if a % 5 == 2 || rng.chance(0.3) {
                String::new()
            } else {
                uuid(rng)
            };
            (name, mbid)
        })
        .collect();
    (0..n_tracks)
        .map(|t| {
            let (artist, artist_mbid) = artists[if t < n_artists {
                t
            } else {
                rng.below(n_artists as u64) as usize
            }]
            .clone();
            let name = SPECIAL_TRACKS.get(t).map_or_else(
                || format!("{} {}", word(rng, 3), word(rng, 3)).into_bytes(),
                |s| s.as_bytes().to_vec(),
            );
            let mbid = if t % 7 == 3 || rng.chance(0.12) {
                String::new()
            } else {
                uuid(rng)
            };
            Track {
                artist_mbid,
                artist,
                mbid,
                name,
            }
        })
        .collect()
}

/// Zipf(1) sampler over `n` ranks via a cumulative table.
pub(crate) struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(n: usize) -> Self {
        let mut acc = 0.0;
        let cdf = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect::<Vec<_>>();
        let total = acc;
        Zipf {
            cdf: cdf.into_iter().map(|c| c / total).collect(),
        }
    }
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

fn ts_text(secs: i64) -> String {
    crate::util::time::format_ms(secs * 1000)
}

fn write_line(
    w: &mut impl Write,
    user: &str,
    secs: i64,
    t: &Track,
    name_override: Option<&[u8]>,
) -> std::io::Result<u64> {
    let ts = ts_text(secs);
    let name = name_override.unwrap_or(&t.name);
    let mut line = Vec::with_capacity(128);
    for (i, part) in [
        user.as_bytes(),
        ts.as_bytes(),
        t.artist_mbid.as_bytes(),
        t.artist.as_bytes(),
        t.mbid.as_bytes(),
        name,
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            line.push(b'\t');
        }
        line.extend_from_slice(part);
    }
    line.push(b'\n');
    w.write_all(&line)?;
    Ok(line.len() as u64)
}

// Long on purpose: one seeded generator writes the corpus' files with their quirks: the order of
// its random draws is the byte-exact output.
pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let mut rng = Rng::derive(o.seed, "lastfm-1k");
    let total_events = u64::from(o.users) * u64::from(o.events_per_user);
    let n_tracks = ((total_events / 20) as usize).clamp(SPECIAL_TRACKS.len() + 8, 2_000_000);
    let tracks = catalog(&mut rng, n_tracks);
    let zipf = Zipf::new(tracks.len());
    let end = parse_iso_utc_seconds(b"2009-05-04T23:59:59Z").unwrap_or(0) / 1000;
    let earliest = parse_iso_utc_seconds(b"2005-02-14T00:00:00Z").unwrap_or(0) / 1000;

    let f = fs_err::File::create(out.join(EVENTS_FILE))?;
    let mut w = BufWriter::with_capacity(4 << 20, f);
    let mut summary = Summary {
        lines: 0,
        damaged_lines: 0,
        bytes: 0,
        users: o.users,
        tracks: tracks.len(),
    };
    for u in 0..o.users {
        let user = format!("user_{:06}", u + 1);
        let n = if o.events_per_user <= 1 {
            u64::from(o.events_per_user)
        } else {
            (f64::from(o.events_per_user) * (0.2 + 1.6 * rng.next_f64()))
                .round()
                .max(2.0) as u64
        };
        // Generate chronologically, write newest first.
        let mut events: Vec<(i64, usize)> = Vec::with_capacity(n as usize);
        let span = end - earliest;
        let mut t = earliest + (rng.next_f64() * span as f64 * 0.6) as i64;
        // Mean gap a bit under the room left, so histories rarely run into the end of the crawl.
        let step = ((end - t) * 4 / 5 / (n as i64 + 1)).max(2);
        let mut recent: Vec<usize> = Vec::new();
        for _ in 0..n {
            t += if rng.chance(0.03) {
                0
            } else {
                1 + rng.below((2 * step) as u64) as i64
            };
            let item = if !recent.is_empty() && rng.chance(0.2) {
                recent[rng.below(recent.len() as u64) as usize]
            } else {
                zipf.sample(&mut rng)
            };
            recent.push(item);
            if recent.len() > 5 {
                recent.remove(0);
            }
            events.push((t.min(end), item));
        }
        if u == 0 {
            // The guaranteed quirks: every special track once, an exact duplicate row.
            for (k, e) in events.iter_mut().enumerate().take(SPECIAL_TRACKS.len()) {
                e.1 = k;
            }
            if events.len() > 8 {
                events[8] = events[7];
            }
        }
        for (k, &(secs, item)) in events.iter().enumerate().rev() {
            let tr = &tracks[item];
            if u == 0 && k == 2 {
                // A damaged line with 5 fields (track name missing its tab-separated column).
                let line = format!(
                    "{user}\t{}\t{}\t{}\t{}\n",
                    ts_text(secs),
                    tr.artist_mbid,
                    tr.artist,
                    tr.mbid
                );
                w.write_all(line.as_bytes())?;
                summary.bytes += line.len() as u64;
                summary.damaged_lines += 1;
                summary.lines += 1;
            }
            if u == 0 && k == 4 {
                // A damaged line with 7 fields (a stray tab inside the track name).
                let line = format!(
                    "{user}\t{}\t{}\t{}\t{}\tPart 1\tPart 2\n",
                    ts_text(secs),
                    tr.artist_mbid,
                    tr.artist,
                    tr.mbid
                );
                w.write_all(line.as_bytes())?;
                summary.bytes += line.len() as u64;
                summary.damaged_lines += 1;
                summary.lines += 1;
            }
            let name_override: Option<Vec<u8>> = if u == 0 && k == 5 {
                Some(b"Broken \xff\xfe bytes".to_vec())
            } else if u == 0 && k == 6 && !tr.mbid.is_empty() {
                Some(Vec::new()) // empty track name on a track with an MBID
            } else if rng.chance(1e-6) {
                Some(b"Lat\xe9n1 name".to_vec())
            } else {
                None
            };
            summary.bytes += write_line(&mut w, &user, secs, tr, name_override.as_deref())?;
            summary.lines += 1;
            if rng.chance(5e-7) {
                let line = format!("{user}\t{}\t\n", ts_text(secs));
                w.write_all(line.as_bytes())?;
                summary.bytes += line.len() as u64;
                summary.damaged_lines += 1;
                summary.lines += 1;
            }
        }
    }
    w.flush()?;

    let mut p = BufWriter::new(fs_err::File::create(out.join(PROFILE_FILE))?);
    writeln!(p, "#id\tgender\tage\tcountry\tregistered")?;
    const COUNTRIES: &[&str] = &[
        "United States",
        "United Kingdom",
        "Germany",
        "Brazil",
        "Japan",
        "Mexico",
        "Côte D'Ivoire",
    ];
    for u in 0..o.users {
        let user = format!("user_{:06}", u + 1);
        let gender = ["m", "f", ""][rng.below(3) as usize];
        let age = if rng.chance(0.3) {
            String::new()
        } else {
            (16 + rng.below(40)).to_string()
        };
        let country = if rng.chance(0.1) {
            ""
        } else {
            COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize]
        };
        let days = 12_400 + rng.below(1_400) as i64; // 2003 .. 2007
        let date = if rng.chance(0.05) {
            String::new()
        } else {
            format_month_day_year(days)
        };
        if u == 1 {
            // The README's example form: the empty age column left out.
            writeln!(p, "{user}\t{gender}\t{country}\t{date}")?;
        } else {
            writeln!(p, "{user}\t{gender}\t{age}\t{country}\t{date}")?;
        }
    }
    p.flush()?;
    Ok(summary)
}
