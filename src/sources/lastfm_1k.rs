//! Last.fm-1K (Òscar Celma, 2010): 19,150,868 listening events of 992 users.
//!
//! ## Source
//! `lastfm-dataset-1K.tar.gz` from the official page
//! <http://ocelma.net/MusicRecommendationDataset/lastfm-1K.html>.
//!
//! ## License
//! "Distributed with permission of Last.fm. The data is made available for non-commercial use."
//!
//! ## Schema mapping
//! - `userid-timestamp-artid-artname-traid-traname.tsv` → `interactions` (event `play`) and
//!   `items` (one per track).
//! - `userid-profile.tsv` → `users` (gender, age, country, registered).
//! - Items are keyed by the track MBID. Where the MBID is empty, the key is
//!   `nombid-` + the first 16 hex digits of sha256(`artist name` U+001F `track name`): the same
//!   artist/track names always give the same item, and a synthetic key can never collide with
//!   a real MBID (which is a UUID). An item's title and artist come from its first line in the
//!   file (the file is newest-first, so from its most recent listen).
//!
//! ## Known quirks (each has a test)
//! - Tab-separated, no header, `"` is an ordinary character (pandas' default quoting swallows
//!   ~52k lines): we never interpret quotes.
//! - Empty MBIDs (`\t\t`) for artists and tracks.
//! - Rows are newest-first per user: the adapter's tie-break order is the reverse line number,
//!   so equal timestamps keep their chronological order.
//! - Nine known damaged lines (wrong field count) → `rejects` (`field_count`), never a panic.
//! - Invalid UTF-8 in names: replaced with U+FFFD and counted as repaired (default), or rejected
//!   with `invalid_utf8 = "reject"`. Ids and timestamps must be valid in any case.
//! - Empty track names are kept when the track has an MBID; a row with neither is rejected
//!   (`no_track_identity`).
//! - Profile: one header line starting with `#`; empty gender/age/country/date fields; dates like
//!   `Apr 27, 2005`; the README's example row omits the age column (4 fields) — accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, UInt16Array};
use hashbrown::HashMap;

use super::text::{in_parallel, parser_threads};
use super::{Entities, FileAccount, Interner, Normalized, RawInteractions, Reject, string_array};
use crate::error::{Error, Result};
use crate::io::lines::LineReader;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;
use crate::util::time::{parse_iso_utc_seconds, parse_month_day_year};

pub const NAME: &str = "lastfm-1k";
pub const EVENTS_FILE: &str = "userid-timestamp-artid-artname-traid-traname.tsv";
pub const PROFILE_FILE: &str = "userid-profile.tsv";
/// The directory inside the official archive.
pub const ARCHIVE_DIR: &str = "lastfm-dataset-1K";
pub const LICENSE: &str = "Last.fm-1K is distributed with permission of Last.fm for non-commercial use only \
    (README of lastfm-dataset-1K, Òscar Celma, 2010). Reference the Last.fm webpage when using it.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "http://ocelma.net/MusicRecommendationDataset/lastfm-1K.html";
pub const CITATION: &str =
    "Celma. Music Recommendation and Discovery in the Long Tail. Springer, 2010.";
pub const DESCRIPTION: &str = "Listening histories (user, timestamp, artist, track) of 992 Last.fm users \
    collected by Òscar Celma up to May 2009, with user profiles (gender, age, country, sign-up date).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidUtf8 {
    Replace,
    Reject,
}

/// `[source]` keys specific to Last.fm-1K.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    pub invalid_utf8: InvalidUtf8,
    /// Read `userid-profile.tsv` (default true).
    pub profiles: bool,
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let invalid_utf8 = match r
            .choice(diags, "invalid_utf8", &["replace", "reject"])
            .map(|c| c.value)
        {
            Some("reject") => InvalidUtf8::Reject,
            _ => InvalidUtf8::Replace,
        };
        let profiles = r.bool(diags, "profiles").is_none_or(|b| b.value);
        Some(Options {
            invalid_utf8,
            profiles,
        })
    }
}

/// The directory that holds the TSVs: the source dir itself or the archive's subdirectory.
fn data_dir(dir: &Path) -> PathBuf {
    if !dir.join(EVENTS_FILE).exists() && dir.join(ARCHIVE_DIR).join(EVENTS_FILE).exists() {
        dir.join(ARCHIVE_DIR)
    } else {
        dir.to_path_buf()
    }
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let d = data_dir(dir);
    let mut files = vec![d.join(EVENTS_FILE)];
    if o.profiles {
        files.push(d.join(PROFILE_FILE));
    }
    for f in &files {
        if !f.exists() {
            return Err(Error::MissingInput {
                path: f.clone(),
                hint: format!(
                    "`source.path` must hold `{EVENTS_FILE}`{} (or the `{ARCHIVE_DIR}/` folder of the official archive); \
                     `recdata synth lastfm-1k --out <dir>` writes a small corpus in this format",
                    if o.profiles {
                        format!(" and `{PROFILE_FILE}`")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    Ok(files)
}

/// Whether `b` is a UUID in its 8-4-4-4-12 hex form (either case). Every row has two MBID
/// fields: all 36 bytes are checked against one class table without an early exit, which the
/// compiler unrolls (a byte loop with a branch per byte was a third of the parse loop).
fn is_mbid(b: &[u8]) -> bool {
    const HEX: u8 = 1;
    const DASH: u8 = 2;
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut c = 0;
        while c < 256 {
            t[c] = match c as u8 {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => HEX,
                b'-' => DASH,
                _ => 0,
            };
            c += 1;
        }
        t
    };
    const WANT: [u8; 36] = {
        let mut w = [HEX; 36];
        w[8] = DASH;
        w[13] = DASH;
        w[18] = DASH;
        w[23] = DASH;
        w
    };
    let Ok(b) = <&[u8; 36]>::try_from(b) else {
        return false;
    };
    let mut bad = 0u8;
    for i in 0..36 {
        bad |= CLASS[b[i] as usize] ^ WANT[i];
    }
    bad == 0
}

#[derive(Default)]
struct ItemAttrs {
    title: Vec<Option<String>>,
    track_mbid: Vec<Option<String>>,
    artist_mbid: Vec<Option<String>>,
    artist_name: Vec<Option<String>>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Decodes a name field; `None` when it is invalid and the policy is to reject.
fn decode<'a>(
    b: &'a [u8],
    policy: InvalidUtf8,
    repaired: &mut bool,
) -> Option<std::borrow::Cow<'a, str>> {
    match std::str::from_utf8(b) {
        Ok(s) => Some(s.into()),
        Err(_) if policy == InvalidUtf8::Replace => {
            *repaired = true;
            Some(String::from_utf8_lossy(b))
        }
        Err(_) => None,
    }
}

pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    normalize_with(o, dir, progress, parser_threads(), 64 << 20)
}

/// One contiguous byte range of the events file, parsed on its own thread with its own
/// interners; codes and line numbers are local until [`merge`] makes them global.
#[derive(Default)]
struct Chunk {
    users: Interner,
    items: Interner,
    attrs: ItemAttrs,
    inter: RawInteractions,
    line_numbers: Vec<u64>,
    rejects: Vec<Reject>,
    acc: FileAccount,
}

/// Parses the events file in up to `threads` ranges split at line starts (each at least
/// `min_chunk` bytes). The result does not depend on the split: chunks are merged in file
/// order, so codes still follow first appearance and line numbers are the file's.
pub fn normalize_with(
    o: &Options,
    dir: &Path,
    progress: &Reporter,
    threads: usize,
    min_chunk: u64,
) -> Result<Normalized> {
    let d = data_dir(dir);
    let events_path = d.join(EVENTS_FILE);
    let total = fs_err::metadata(&events_path)?.len();
    let bar = progress.bytes_bar(total, "reading listening events");
    let ranges = crate::io::lines::split_at_lines(&events_path, threads, min_chunk)?;
    let chunks = in_parallel(&ranges, |_, (a, b)| {
        parse_chunk(o, &events_path, a, b, &bar)
    });
    bar.finish_and_clear();
    let Chunk {
        users,
        items,
        attrs,
        mut inter,
        line_numbers,
        mut rejects,
        acc,
    } = merge(chunks?);
    // Newest-first file: a later line is an earlier event.
    let last = acc.lines + 1;
    inter.order = line_numbers;
    for o in &mut inter.order {
        *o = last - *o;
    }
    let mut accounts = vec![acc];
    let mut user_raw = users.keys;
    let user_extras = if o.profiles {
        let (profile, acc) = read_profiles(&d.join(PROFILE_FILE), &mut rejects)?;
        accounts.push(acc);
        // Profile users without listening events are users too (they just have no events).
        let mut by_raw: HashMap<String, usize> = user_raw
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let mut cols = ProfileColumns::with_len(user_raw.len());
        for p in profile {
            let idx = *by_raw.entry(p.user.clone()).or_insert_with(|| {
                user_raw.push(p.user.clone());
                cols.push_empty();
                user_raw.len() - 1
            });
            cols.set(idx, p);
        }
        cols.into_arrays()
    } else {
        // The users table has the profile columns whether or not the profiles are read.
        ProfileColumns::with_len(user_raw.len()).into_arrays()
    };

    Ok(Normalized {
        interactions: inter,
        event: "play".into(),
        users: Entities {
            raw_id: user_raw,
            title: None,
            extras: user_extras,
        },
        items: Entities {
            raw_id: items.keys,
            title: Some(attrs.title),
            extras: vec![
                ("track_mbid".into(), string_array(attrs.track_mbid)),
                ("artist_mbid".into(), string_array(attrs.artist_mbid)),
                ("artist_name".into(), string_array(attrs.artist_name)),
            ],
        },
        rejects,
        accounts,
        timeless: false,
        tables: vec![],
    })
}

/// Parses bytes `start..end` (whole lines) of the events file.
// Long on purpose: the hot loop of the largest corpus (19M lines): every field check inlined in one
// loop body, measured faster than per-field helpers taking the chunk's interners.
fn parse_chunk(
    o: &Options,
    events_path: &Path,
    start: u64,
    end: u64,
    bar: &indicatif::ProgressBar,
) -> Result<Chunk> {
    let mut users = Interner::default();
    let mut items = Interner::default();
    let mut attrs = ItemAttrs::default();
    let mut inter = RawInteractions::default();
    let mut line_numbers = Vec::new();
    let mut rejects = Vec::new();
    let mut acc = FileAccount {
        file: EVENTS_FILE.into(),
        ..Default::default()
    };
    let mut reader = LineReader::open_range(events_path, start, end)?;
    let mut reported = 0u64;
    let mut last_user: (Vec<u8>, u32) = (Vec::new(), 0);
    let mut name_key = Vec::new();
    let mut reject =
        |line: u64, reason: &'static str, detail: String, raw: &[u8], acc: &mut FileAccount| {
            acc.rejected += 1;
            rejects.push(Reject {
                file: EVENTS_FILE.into(),
                line,
                reason,
                detail,
                raw: raw.to_vec(),
            });
        };
    while let Some((line_no, consumed, raw, long)) = reader.next_line()? {
        acc.lines += 1;
        if line_no % (1 << 16) == 0 {
            bar.inc(consumed - reported);
            reported = consumed;
        }
        if let Some(n) = long {
            reject(
                line_no,
                "line_too_long",
                format!(
                    "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                    crate::io::lines::MAX_LINE >> 20
                ),
                raw,
                &mut acc,
            );
            continue;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        // A UTF-8 byte order mark (an editor's) is not part of the first user id.
        let line = if start == 0 && line_no == 1 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
        } else {
            line
        };
        if line.is_empty() {
            reject(line_no, "empty_line", "empty line".into(), raw, &mut acc);
            continue;
        }
        // The tabs are found once (SIMD) and give both the field count and the fields.
        let mut tabs = [0usize; 5];
        let mut found = memchr::memchr_iter(b'\t', line);
        let mut n = 1;
        for (slot, at) in tabs.iter_mut().zip(found.by_ref()) {
            *slot = at;
            n += 1;
        }
        n += found.count();
        if n != 6 {
            reject(
                line_no,
                "field_count",
                format!("expected 6 tab-separated fields, found {n}"),
                raw,
                &mut acc,
            );
            continue;
        }
        let [t0, t1, t2, t3, t4] = tabs;
        let (user, ts, artist_mbid) = (&line[..t0], &line[t0 + 1..t1], &line[t1 + 1..t2]);
        let (artist_name, track_mbid) = (&line[t2 + 1..t3], &line[t3 + 1..t4]);
        let track_name = &line[t4 + 1..];
        // The previous row's user passed this check already.
        if user.is_empty()
            || (user != last_user.0.as_slice() && !user.iter().all(|b| b.is_ascii_graphic()))
        {
            reject(
                line_no,
                "bad_user_id",
                "user id is empty or not printable ASCII".into(),
                raw,
                &mut acc,
            );
            continue;
        }
        let Some(ms) = parse_iso_utc_seconds(ts) else {
            reject(
                line_no,
                "bad_timestamp",
                "expected a timestamp like 2009-04-08T01:57:47Z".into(),
                raw,
                &mut acc,
            );
            continue;
        };
        if !(artist_mbid.is_empty() || is_mbid(artist_mbid))
            || !(track_mbid.is_empty() || is_mbid(track_mbid))
        {
            reject(
                line_no,
                "bad_mbid",
                "an MBID field is neither empty nor a UUID".into(),
                raw,
                &mut acc,
            );
            continue;
        }
        if track_mbid.is_empty() && track_name.is_empty() {
            reject(
                line_no,
                "no_track_identity",
                "both the track MBID and the track name are empty".into(),
                raw,
                &mut acc,
            );
            continue;
        }
        let mut repaired = false;
        let (Some(artist), Some(track)) = (
            decode(artist_name, o.invalid_utf8, &mut repaired),
            decode(track_name, o.invalid_utf8, &mut repaired),
        ) else {
            reject(
                line_no,
                "invalid_utf8",
                "the artist or track name is not valid UTF-8".into(),
                raw,
                &mut acc,
            );
            continue;
        };
        acc.repaired += u64::from(repaired);
        acc.rows += 1;

        // The file is grouped by user: most rows repeat the previous row's user.
        let u = if user == last_user.0 {
            last_user.1
        } else {
            let (u, _) = users.intern(user, || String::from_utf8_lossy(user).into_owned());
            last_user = (user.to_vec(), u);
            u
        };
        let item = if track_mbid.is_empty() {
            // Interned by the names themselves (a 0x00 prefix keeps them apart from MBIDs);
            // the hashed key is computed once per new track, not once per row.
            let raw_key = &mut name_key;
            raw_key.clear();
            raw_key.push(0);
            raw_key.extend_from_slice(artist.as_bytes());
            raw_key.push(0x1f);
            raw_key.extend_from_slice(track.as_bytes());
            items.intern(raw_key, || {
                format!("nombid-{}", fallback_key(&artist, &track))
            })
        } else {
            items.intern(track_mbid, || {
                String::from_utf8_lossy(track_mbid).into_owned()
            })
        };
        if item.1 {
            attrs.title.push(non_empty(&track));
            attrs.track_mbid.push(
                (!track_mbid.is_empty()).then(|| String::from_utf8_lossy(track_mbid).into_owned()),
            );
            attrs.artist_mbid.push(
                (!artist_mbid.is_empty())
                    .then(|| String::from_utf8_lossy(artist_mbid).into_owned()),
            );
            attrs.artist_name.push(non_empty(&artist));
        }
        inter.user.push(u);
        inter.item.push(item.0);
        inter.ts.push(ms);
        line_numbers.push(line_no);
    }
    bar.inc(reader.consumed - reported);
    Ok(Chunk {
        users,
        items,
        attrs,
        inter,
        line_numbers,
        rejects,
        acc,
    })
}

/// Joins chunks in file order: the first chunk's codes and line numbers are already the
/// file's; each later chunk's keys are re-interned (first appearance order is kept because
/// chunk k's keys all come after chunk k-1's), its codes remapped, its line numbers offset.
fn merge(chunks: Vec<Chunk>) -> Chunk {
    let mut chunks = chunks.into_iter();
    let mut all = chunks.next().unwrap_or_default();
    all.acc.file = EVENTS_FILE.into();
    for c in chunks {
        let offset = all.acc.lines;
        let umap = all.users.absorb(c.users);
        let known = all.items.keys.len() as u32;
        let imap = all.items.absorb(c.items);
        let mut attrs = c.attrs;
        for (local, &g) in imap.iter().enumerate() {
            if g >= known {
                all.attrs.title.push(attrs.title[local].take());
                all.attrs.track_mbid.push(attrs.track_mbid[local].take());
                all.attrs.artist_mbid.push(attrs.artist_mbid[local].take());
                all.attrs.artist_name.push(attrs.artist_name[local].take());
            }
        }
        let inter = &mut all.inter;
        inter
            .user
            .extend(c.inter.user.iter().map(|&u| umap[u as usize]));
        inter
            .item
            .extend(c.inter.item.iter().map(|&i| imap[i as usize]));
        inter.ts.extend_from_slice(&c.inter.ts);
        all.line_numbers
            .extend(c.line_numbers.iter().map(|l| l + offset));
        all.rejects.extend(c.rejects.into_iter().map(|mut r| {
            r.line += offset;
            r
        }));
        all.acc.lines += c.acc.lines;
        all.acc.rows += c.acc.rows;
        all.acc.rejected += c.acc.rejected;
        all.acc.repaired += c.acc.repaired;
    }
    all
}

/// The synthetic key of a track without an MBID (see the module docs).
pub fn fallback_key(artist: &str, track: &str) -> String {
    let mut bytes = Vec::with_capacity(artist.len() + track.len() + 1);
    bytes.extend_from_slice(artist.as_bytes());
    bytes.push(0x1f);
    bytes.extend_from_slice(track.as_bytes());
    crate::util::hash::sha256_hex(&bytes)[..16].to_owned()
}

struct Profile {
    user: String,
    gender: Option<String>,
    age: Option<u16>,
    country: Option<String>,
    registered: Option<i32>,
}

struct ProfileColumns {
    gender: Vec<Option<String>>,
    age: Vec<Option<u16>>,
    country: Vec<Option<String>>,
    registered: Vec<Option<i32>>,
}

impl ProfileColumns {
    fn with_len(n: usize) -> Self {
        ProfileColumns {
            gender: vec![None; n],
            age: vec![None; n],
            country: vec![None; n],
            registered: vec![None; n],
        }
    }
    fn push_empty(&mut self) {
        self.gender.push(None);
        self.age.push(None);
        self.country.push(None);
        self.registered.push(None);
    }
    fn set(&mut self, i: usize, p: Profile) {
        self.gender[i] = p.gender;
        self.age[i] = p.age;
        self.country[i] = p.country;
        self.registered[i] = p.registered;
    }
    fn into_arrays(self) -> Vec<(String, ArrayRef)> {
        vec![
            ("gender".into(), string_array(self.gender)),
            ("age".into(), Arc::new(UInt16Array::from(self.age))),
            ("country".into(), string_array(self.country)),
            (
                "registered".into(),
                Arc::new(Date32Array::from(self.registered)),
            ),
        ]
    }
}

fn read_profiles(path: &Path, rejects: &mut Vec<Reject>) -> Result<(Vec<Profile>, FileAccount)> {
    let mut acc = FileAccount {
        file: PROFILE_FILE.into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut seen = hashbrown::HashSet::new();
    let mut reader = LineReader::open(path)?;
    while let Some((line_no, _, raw, long)) = reader.next_line()? {
        acc.lines += 1;
        let mut reject = |reason: &'static str, detail: String| {
            rejects.push(Reject {
                file: PROFILE_FILE.into(),
                line: line_no,
                reason,
                detail,
                raw: raw.to_vec(),
            });
        };
        if let Some(n) = long {
            reject(
                "line_too_long",
                format!(
                    "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                    crate::io::lines::MAX_LINE >> 20
                ),
            );
            acc.rejected += 1;
            continue;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = if line_no == 1 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
        } else {
            line
        };
        if line_no == 1 && line.starts_with(b"#") {
            acc.header += 1;
            continue;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            reject("invalid_utf8", "profile row is not valid UTF-8".into());
            acc.rejected += 1;
            continue;
        };
        let f: Vec<&str> = text.split('\t').collect();
        // The README's example omits the empty age column: `user \t m \t Mexico \t Apr 27, 2005`.
        let (user, gender, age, country, date) = match f.as_slice() {
            [u, g, a, c, d] => (*u, *g, *a, *c, *d),
            [u, g, c, d] => (*u, *g, "", *c, *d),
            _ => {
                reject(
                    "field_count",
                    format!("expected 5 tab-separated fields, found {}", f.len()),
                );
                acc.rejected += 1;
                continue;
            }
        };
        if user.is_empty() {
            reject("bad_user_id", "user id is empty".into());
            acc.rejected += 1;
            continue;
        }
        let age = if age.is_empty() {
            None
        } else if let Ok(a) = age.parse::<u16>() {
            Some(a)
        } else {
            reject("bad_age", format!("age `{age}` is not a whole number"));
            acc.rejected += 1;
            continue;
        };
        let registered = if date.is_empty() {
            None
        } else if let Some(d) = parse_month_day_year(date) {
            Some(d)
        } else {
            reject(
                "bad_date",
                format!("registration date `{date}` is not like `Apr 27, 2005`"),
            );
            acc.rejected += 1;
            continue;
        };
        if !seen.insert(user.to_owned()) {
            reject(
                "duplicate_user",
                format!("user `{user}` already has a profile row"),
            );
            acc.rejected += 1;
            continue;
        }
        acc.rows += 1;
        out.push(Profile {
            user: user.to_owned(),
            gender: non_empty(gender),
            age,
            country: non_empty(country),
            registered,
        });
    }
    Ok((out, acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbid_shape() {
        assert!(is_mbid(b"f1b1cf71-bd35-4e99-8624-24a6e15f133a"));
        assert!(!is_mbid(b"f1b1cf71bd354e99862424a6e15f133a"));
        assert!(!is_mbid(b""));
        assert!(is_mbid(b"F1B1CF71-BD35-4E99-8624-24A6E15F133A"));
        for bad in [
            &b"f1b1cf71-bd35-4e99-8624-24a6e15f133g"[..],
            b"f1b1cf71-bd35-4e99-8624-24a6e15f133",
            b"f1b1cf71-bd35-4e99-8624-24a6e15f133aa",
            b"f1b1cf71bbd35-4e99-8624-24a6e15f133a",
            b"f1b1cf71-bd35-4e99-8624-24a6e15f13-a",
            b"-1b1cf71-bd35-4e99-8624-24a6e15f133a",
            b"f1b1cf71-bd35-4e99-8624-24a6e15f133\xc3",
            b"f1b1cf71-bd35-4e99-8624 24a6e15f133a",
        ] {
            assert!(!is_mbid(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn fallback_key_is_stable() {
        assert_eq!(fallback_key("a", "b"), fallback_key("a", "b"));
        // The separator keeps ("ab", "") and ("a", "b") apart.
        assert_ne!(fallback_key("ab", ""), fallback_key("a", "b"));
        assert_eq!(fallback_key("x", "y").len(), 16);
    }

    /// Parallel parsing gives exactly the single-threaded result, quirks and all.
    #[test]
    fn chunked_parse_equals_sequential() {
        let dir = tempfile::tempdir().unwrap();
        crate::synth::lastfm_1k::write(
            dir.path(),
            &crate::synth::lastfm_1k::Options {
                users: 12,
                seed: 5,
                events_per_user: 80,
            },
        )
        .unwrap();
        let o = Options {
            invalid_utf8: InvalidUtf8::Replace,
            profiles: true,
        };
        let p = Reporter::silent();
        let one = normalize_with(&o, dir.path(), &p, 1, 1).unwrap();
        assert!(!one.rejects.is_empty());
        for threads in [2, 3, 7] {
            let n = normalize_with(&o, dir.path(), &p, threads, 1).unwrap();
            crate::sources::assert_same_parse(&n, &one);
        }
    }

    /// The user id is checked on every row whose user differs from the previous row's (the
    /// parse skips the check for a repeated user): an empty id right after a valid one, an id
    /// with a space or a non-ASCII byte, and an id that shares a valid one's prefix are each
    /// rejected with their line, and the valid user's rows on either side keep one code.
    #[test]
    fn user_ids_are_checked_whenever_the_user_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mbid = "f1b1cf71-bd35-4e99-8624-24a6e15f133a";
        let row = |user: &str, ts: &str| format!("{user}\t{ts}\t\tArtist\t{mbid}\tTrack\n");
        let lines = [
            row("user_000001", "2009-05-04T23:08:57Z"),
            row("", "2009-05-04T23:08:56Z"),
            row("user_000001", "2009-05-04T23:08:55Z"),
            row("user 000001", "2009-05-04T23:08:54Z"),
            row("user_00000\u{e9}", "2009-05-04T23:08:53Z"),
            row("user_000001", "2009-05-04T23:08:52Z"),
            row("user_0000011", "2009-05-04T23:08:51Z"),
        ];
        fs_err::write(dir.path().join(EVENTS_FILE), lines.concat()).unwrap();
        let o = Options {
            invalid_utf8: InvalidUtf8::Replace,
            profiles: false,
        };
        let n = normalize_with(&o, dir.path(), &Reporter::silent(), 1, 1).unwrap();
        let rejected: Vec<(u64, &str)> = n.rejects.iter().map(|r| (r.line, r.reason)).collect();
        assert_eq!(
            rejected,
            [(2, "bad_user_id"), (4, "bad_user_id"), (5, "bad_user_id")]
        );
        assert_eq!(n.users.raw_id, ["user_000001", "user_0000011"]);
        assert_eq!(n.interactions.user, [0, 0, 0, 1]);
    }
}
