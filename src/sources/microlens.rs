//! MicroLens (Westlake University, 2023): micro-video interactions derived from public user
//! comments, with titles, categories, like/view counts, comments, covers and videos.
//!
//! ## Source
//! <https://recsys.westlake.edu.cn/MicroLens-100k-Dataset/> (and `-50k-`, `-1M-`), code and
//! format notes at <https://github.com/westlake-repl/MicroLens>. The server answers 403 to
//! Python's default user agent; recdata sends its own.
//!
//! ## License
//! No license file is published. The README says: "It's prohibited to privately modify the
//! dataset and then offer secondary downloads." Cite arXiv 2309.15379.
//!
//! ## Schema mapping
//! - `<V>_pairs.csv` (`user,item,timestamp`, ms) → `interactions` (event `comment`: the paper
//!   derives interactions from public comments). With `interactions = "tsv"`, the sequence file
//!   `<V>_pairs.tsv` is read instead: it has no times, so the corpus is timeless and the
//!   position in each user's sequence is the order (a user on several lines continues one
//!   sequence, in file order).
//! - Titles → `items.title`: `MicroLens-100k_title_en.csv` (English, no header),
//!   `MicroLens-50k_titles.csv` (header `item,title`), `MicroLens-1M_title.csv` (Chinese, no
//!   header). Items are keyed by video id.
//! - `tags_to_summary.csv` → `items.category`; `<V>_likes_and_views.txt` → `items.likes`,
//!   `items.views`.
//! - `<V>_comment_en.txt` → the corpus table `microlens_comments` (user, item, text).
//! - Covers `<V>_covers/<id>.jpg` and videos `<V>_videos/<id>.mp4` are item media: declare
//!   them with `[[stages.media]]` path templates (see `manifests/microlens-100k.toml`); the
//!   media stage checks every file and records a status per item.
//!
//! ## Known quirks (each has a test)
//! - `pairs.csv` has a header; title (100K, 1M), tag, like/view and comment files do not; the
//!   50K title file does. Every header is checked against what it should say.
//! - Timestamps are 13-digit milliseconds and not unique (two users share one); row order is
//!   arbitrary (the filter sorts).
//! - Titles are split at the FIRST comma only (titles contain commas); whitespace around it is
//!   trimmed (the 100K English file writes `<id>, <title>`); one level of
//!   surrounding `"` is stripped; a lone or unbalanced `"` is kept as text (1M's Chinese
//!   titles); empty titles (`7,`) become null and are counted.
//! - A UTF-8 BOM on any file's first line is ignored; CRLF endings are accepted.
//! - The readme calls the comment file `..._comments_en.txt`; the real name is singular. Both
//!   are accepted.
//! - Comment lines that do not have three tab-separated fields with numeric ids (comments with
//!   embedded newlines or tabs) → `rejects` (`field_count`, `bad_user_id`, `bad_item_id`).
//! - Like and view counts are published as int64: a count beyond 9223372036854775807 →
//!   `rejects` (`bad_count`), not a wrapped negative number.
//! - MicroLens-1M's `items.tsv` has undocumented columns and is not read; its extracted
//!   feature `.npy` files are not read either (recdata computes its own embeddings).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};

use super::text::{Line, lossy, parse_uint, parser_threads, read_lines, read_lines_chunked};
use super::{Entities, FileAccount, Interner, KeyBatch, Normalized, RawInteractions, SideTable};
use crate::error::{Error, Result};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "microlens";
pub const LICENSE: &str = "MicroLens publishes no license; its README forbids privately modifying the dataset and \
    offering secondary downloads. Cite: Ni et al., A Content-Driven Micro-Video Recommendation Dataset at Scale, arXiv 2309.15379.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://github.com/westlake-repl/MicroLens";
pub const CITATION: &str = "Ni, Li, Chen, Yuan, et al. A Content-Driven Micro-Video Recommendation Dataset at Scale. arXiv:2309.15379, 2023.";
pub const DESCRIPTION: &str = "MicroLens micro-video recommendation data: user-video interactions derived from public \
    comments (millisecond timestamps), video titles, categories, like/view counts, comments, and cover/video media.";
pub const COMMENTS_TABLE: &str = "microlens_comments";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Variant {
    #[serde(rename = "50k")]
    K50,
    #[serde(rename = "100k")]
    K100,
    #[serde(rename = "1m")]
    M1,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::K50, Variant::K100, Variant::M1];

    /// The file-name prefix of the release.
    pub fn prefix(self) -> &'static str {
        match self {
            Variant::K50 => "MicroLens-50k",
            Variant::K100 => "MicroLens-100k",
            Variant::M1 => "MicroLens-1M",
        }
    }

    pub fn pairs_csv(self) -> String {
        format!("{}_pairs.csv", self.prefix())
    }

    pub fn pairs_tsv(self) -> String {
        format!("{}_pairs.tsv", self.prefix())
    }

    /// The title file and whether it has a header line.
    pub fn titles(self) -> (String, bool) {
        match self {
            Variant::K50 => ("MicroLens-50k_titles.csv".into(), true),
            Variant::K100 => ("MicroLens-100k_title_en.csv".into(), false),
            Variant::M1 => ("MicroLens-1M_title.csv".into(), false),
        }
    }

    pub fn likes_and_views(self) -> String {
        format!("{}_likes_and_views.txt", self.prefix())
    }

    /// The real comment file name, then the readme's spelling.
    pub fn comments(self) -> [String; 2] {
        [
            format!("{}_comment_en.txt", self.prefix()),
            format!("{}_comments_en.txt", self.prefix()),
        ]
    }
}

pub const TAGS_FILE: &str = "tags_to_summary.csv";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairsFile {
    /// `pairs.csv`, with millisecond timestamps.
    Csv,
    /// `pairs.tsv`, chronological sequences without times.
    Tsv,
}

/// `[source]` keys specific to MicroLens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// `None`: detected from the files present.
    pub variant: Option<Variant>,
    pub interactions: PairsFile,
    /// Read the comment file into `microlens_comments` (default true when present).
    pub comments: bool,
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let variant = r
            .choice(diags, "variant", &["50k", "100k", "1m"])
            .map(|c| match c.value {
                "50k" => Variant::K50,
                "1m" => Variant::M1,
                _ => Variant::K100,
            });
        let interactions = match r.choice(diags, "interactions", &["csv", "tsv"]) {
            Some(c) if c.value == "tsv" => PairsFile::Tsv,
            _ => PairsFile::Csv,
        };
        let comments = r.bool(diags, "comments").is_none_or(|b| b.value);
        Some(Options {
            variant,
            interactions,
            comments,
        })
    }
}

/// The variant: as configured, or the one whose pairs file is in `dir`.
fn variant(o: &Options, dir: &Path) -> Result<Variant> {
    if let Some(v) = o.variant {
        return Ok(v);
    }
    let found: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| dir.join(v.pairs_csv()).exists() || dir.join(v.pairs_tsv()).exists())
        .collect();
    match found.as_slice() {
        [v] => Ok(*v),
        [] => Err(Error::MissingInput {
            path: dir.join(Variant::K100.pairs_csv()),
            hint: "`source.path` must hold a MicroLens release (`MicroLens-100k_pairs.csv`, \
                   `MicroLens-50k_pairs.csv` or `MicroLens-1M_pairs.csv`); \
                   `recdata synth microlens --out <dir>` writes a small one"
                .into(),
        }),
        many => Err(Error::Invalid(format!(
            "{} holds several MicroLens releases ({}); set `source.variant`",
            dir.display(),
            many.iter()
                .map(|v| v.prefix())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

struct Files {
    pairs: PathBuf,
    titles: Option<(PathBuf, bool)>,
    tags: Option<PathBuf>,
    likes: Option<PathBuf>,
    comments: Option<PathBuf>,
}

fn files(o: &Options, dir: &Path) -> Result<Files> {
    let v = variant(o, dir)?;
    let pairs = dir.join(match o.interactions {
        PairsFile::Csv => v.pairs_csv(),
        PairsFile::Tsv => v.pairs_tsv(),
    });
    if !pairs.exists() {
        return Err(Error::MissingInput {
            path: pairs,
            hint: "the interactions file of the release; set `source.interactions` to read the other form".into(),
        });
    }
    let present = |p: PathBuf| p.exists().then_some(p);
    let (t, header) = v.titles();
    Ok(Files {
        pairs,
        titles: present(dir.join(t)).map(|p| (p, header)),
        tags: present(dir.join(TAGS_FILE)),
        likes: present(dir.join(v.likes_and_views())),
        comments: if o.comments {
            v.comments().into_iter().find_map(|c| present(dir.join(c)))
        } else {
            None
        },
    })
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let f = files(o, dir)?;
    Ok(std::iter::once(f.pairs)
        .chain(f.titles.map(|t| t.0))
        .chain(f.tags)
        .chain(f.likes)
        .chain(f.comments)
        .collect())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Item attributes by item code, grown as items are interned.
#[derive(Default)]
struct ItemAttrs {
    title: Vec<Option<String>>,
    category: Vec<Option<String>>,
    likes: Vec<Option<i64>>,
    views: Vec<Option<i64>>,
}

impl ItemAttrs {
    fn grow(&mut self, n: usize) {
        if self.title.len() < n {
            self.title.resize(n, None);
            self.category.resize(n, None);
            self.likes.resize(n, None);
            self.views.resize(n, None);
        }
    }
}

/// Whether an id field is a whole number: ASCII digits, any length. Ids stay text (`007` and
/// `7` are two ids), so an id longer than a `u64` is an id like any other.
#[inline]
fn is_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// The reject for an id field that is not a whole number (`None` when it is one).
fn not_a_number(b: &[u8], reason: &'static str, what: &str) -> Option<Line> {
    (!is_digits(b)).then(|| {
        Line::Reject(
            reason,
            format!("{what} `{}` is not a number", String::from_utf8_lossy(b)),
        )
    })
}

/// `a<sep>b<sep>c` with exactly two separators.
#[inline]
fn three_fields(line: &[u8], sep: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let a = memchr::memchr(sep, line)?;
    let rest = &line[a + 1..];
    let b = memchr::memchr(sep, rest)?;
    let (mid, last) = (&rest[..b], &rest[b + 1..]);
    if memchr::memchr(sep, last).is_some() {
        return None;
    }
    Some((&line[..a], mid, last))
}

/// The common pairs line, `<id>,<id>,<13 digits>` with both ids canonical decimals, read in one
/// pass over its bytes: the ids' values (what [`KeyBatch`] would parse them to) and the time.
/// `None` for anything else (a header, an empty line, an id with a leading zero or of 20
/// digits, a bad field), which the general path then accepts, interns or rejects exactly as
/// it always has: this only skips re-scanning the fields of lines it would accept anyway.
#[inline]
fn pairs_fast(line: &[u8]) -> Option<(u64, u64, u64)> {
    /// The digits from `at` on: (value, how many); wrapping, as more than 19 digits are
    /// refused by the callers anyway.
    #[inline(always)]
    fn digits(line: &[u8], at: &mut usize) -> (u64, usize) {
        let start = *at;
        let mut v = 0u64;
        while let Some(d) = line
            .get(*at)
            .map(|c| c.wrapping_sub(b'0'))
            .filter(|d| *d <= 9)
        {
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            *at += 1;
        }
        (v, *at - start)
    }
    #[inline(always)]
    fn id(line: &[u8], at: &mut usize) -> Option<u64> {
        let start = *at;
        let (v, n) = digits(line, at);
        let canonical = (1..=19).contains(&n) && (n == 1 || line[start] != b'0');
        if !canonical || line.get(*at) != Some(&b',') {
            return None;
        }
        *at += 1;
        Some(v)
    }
    let mut at = 0;
    let u = id(line, &mut at)?;
    let i = id(line, &mut at)?;
    let (ts, n) = digits(line, &mut at);
    (n == 13 && at == line.len()).then_some((u, i, ts))
}

/// Splits a title line at its first comma, trims the whitespace around the separator (the
/// 100K English file writes `<id>, <title>`: the space is not part of the title) and strips one
/// level of surrounding quotes.
pub fn split_title(line: &str) -> Option<(&str, &str)> {
    let (id, rest) = line.split_once(',')?;
    let (id, rest) = (id.trim(), rest.trim());
    let t = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    Some((id, t))
}

/// The smallest part of a pairs file parsed on a thread of its own (below it, one thread).
const PAIRS_MIN_CHUNK: u64 = 8 << 20;

/// One line-aligned part of the pairs file: its users and items interned in first-appearance
/// order within the part, and its interactions by those local codes.
#[derive(Default)]
struct PairsChunk {
    /// The part that starts the file (its line 1 is the header).
    first: bool,
    users: Interner,
    items: Interner,
    inter: RawInteractions,
    /// The pairs rows' user and item keys not yet interned (their codes are appended to
    /// `inter.user` and `inter.item` a few rows late; ts and order are not deferred).
    user_keys: KeyBatch,
    item_keys: KeyBatch,
}

impl PairsChunk {
    /// A `user,item,timestamp` line of `<V>_pairs.csv`.
    #[inline]
    fn pairs_line(&mut self, line_no: u64, line: &[u8]) -> Line {
        if line_no == 1 && self.first {
            return if line == b"user,item,timestamp" {
                Line::Header
            } else {
                Line::Reject(
                    "bad_header",
                    "expected the header `user,item,timestamp`".into(),
                )
            };
        }
        // The hot loop (9M lines for 1M): the common line in one pass over its bytes.
        if let Some((u, i, ts)) = pairs_fast(line) {
            self.user_keys
                .push_num(&mut self.users, u, &mut self.inter.user);
            self.item_keys
                .push_num(&mut self.items, i, &mut self.inter.item);
            self.inter.ts.push(ts as i64);
            self.inter.order.push(line_no);
            return Line::Row;
        }
        if line.is_empty() {
            return Line::Skip;
        }
        let Some((u, i, t)) = three_fields(line, b',') else {
            let n = line.iter().filter(|b| **b == b',').count() + 1;
            return Line::Reject(
                "field_count",
                format!("expected 3 comma-separated fields, found {n}"),
            );
        };
        if let Some(r) = not_a_number(u, "bad_user_id", "user id") {
            return r;
        }
        if let Some(r) = not_a_number(i, "bad_item_id", "item id") {
            return r;
        }
        let Some(ts) = parse_uint(t).filter(|_| t.len() == 13) else {
            return Line::Reject(
                "bad_timestamp",
                format!(
                    "timestamp `{}` is not 13-digit epoch milliseconds",
                    String::from_utf8_lossy(t)
                ),
            );
        };
        // The user table (a million ids) does not fit the cache: keys are interned in
        // prefetched batches, in row order.
        self.user_keys
            .push(&mut self.users, u, &mut self.inter.user);
        self.item_keys
            .push(&mut self.items, i, &mut self.inter.item);
        self.inter.ts.push(ts as i64);
        // Row order is arbitrary; equal timestamps keep file order.
        self.inter.order.push(line_no);
        Line::Row
    }

    /// A `<user>\t<item> <item> ...` line of `<V>_pairs.tsv` (a user's sequence, no times).
    fn sequence_line(&mut self, line: &[u8]) -> Line {
        if line.is_empty() {
            return Line::Skip;
        }
        let Some(tab) = memchr::memchr(b'\t', line) else {
            return Line::Reject(
                "field_count",
                "expected `<user>\\t<item> <item> ...`, found no tab".into(),
            );
        };
        let (u, rest) = (&line[..tab], &line[tab + 1..]);
        if memchr::memchr(b'\t', rest).is_some() {
            return Line::Reject("field_count", "expected exactly one tab".into());
        }
        if let Some(r) = not_a_number(u, "bad_user_id", "user id") {
            return r;
        }
        let seq: Vec<&[u8]> = rest.split(|b| *b == b' ').collect();
        if let Some(bad) = seq.iter().find(|i| !is_digits(i)) {
            return Line::Reject(
                "bad_item_id",
                format!("item id `{}` is not a number", String::from_utf8_lossy(bad)),
            );
        }
        let uc = self
            .users
            .intern(u, || String::from_utf8_lossy(u).into_owned())
            .0;
        for i in &seq {
            let ic = self
                .items
                .intern(i, || String::from_utf8_lossy(i).into_owned())
                .0;
            self.inter.user.push(uc);
            self.inter.item.push(ic);
            // Positions in the user's whole sequence: set after the merge, when every line of
            // the user is known (`continue_sequences`).
            self.inter.ts.push(0);
            self.inter.order.push(0);
        }
        Line::Row
    }

    /// Appends this part to the parts before it: its keys re-interned (a part's new keys all
    /// come after the earlier parts', so first-appearance order holds), its codes remapped, its
    /// line-based order moved by `line_offset`.
    fn merge_into(
        mut self,
        users: &mut Interner,
        items: &mut Interner,
        inter: &mut RawInteractions,
        line_offset: u64,
    ) {
        self.user_keys.flush(&mut self.users, &mut self.inter.user);
        self.item_keys.flush(&mut self.items, &mut self.inter.item);
        // Into nothing (the first part), the local codes are the global ones: moved, not copied.
        let first = users.keys.is_empty() && items.keys.is_empty() && inter.user.is_empty();
        let c = self.inter;
        if first && line_offset == 0 {
            users.absorb(self.users);
            items.absorb(self.items);
            *inter = c;
            return;
        }
        // Users (a million keys re-interned, then their codes remapped) on one core, items and
        // the copied columns on the other: the merge is the only part of the parse on one.
        let RawInteractions {
            user,
            item,
            ts,
            order,
            ..
        } = inter;
        rayon::join(
            || {
                let umap = users.absorb(self.users);
                user.extend(crate::util::gather(&c.user, &umap));
            },
            || {
                let imap = items.absorb(self.items);
                item.extend(crate::util::gather(&c.item, &imap));
                ts.extend_from_slice(&c.ts);
                order.extend(c.order.iter().map(|&o| o + line_offset));
            },
        );
    }
}

/// A timeless row's position is its place in its user's whole sequence, in file order: a user
/// whose sequence the file splits over several lines continues it on each (positions counted
/// per line would interleave the lines' items). The release has one line per user, where this
/// is each row's position in its line.
fn continue_sequences(inter: &mut RawInteractions, n_users: usize) {
    let mut next = vec![0u64; n_users];
    for (r, &u) in inter.user.iter().enumerate() {
        let p = &mut next[u as usize];
        inter.ts[r] = *p as i64;
        inter.order[r] = *p;
        *p += 1;
    }
}

pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    normalize_with(o, dir, progress, parser_threads(), PAIRS_MIN_CHUNK)
}

/// [`normalize`] with the pairs file parsed on `threads` threads (parts of at least `min_chunk`
/// bytes); the result does not depend on either.
// Long on purpose: the files of a MicroLens release in read order (pairs, titles, tags, likes and
// views, comments), each a short block into the shared interners, item attributes and accounts.
pub fn normalize_with(
    o: &Options,
    dir: &Path,
    progress: &Reporter,
    threads: usize,
    min_chunk: u64,
) -> Result<Normalized> {
    let f = files(o, dir)?;
    let mut users = Interner::default();
    let mut items = Interner::default();
    let mut attrs = ItemAttrs::default();
    let mut inter = RawInteractions::default();
    let mut rejects = Vec::new();
    let mut accounts: Vec<FileAccount> = Vec::new();
    let timeless = o.interactions == PairsFile::Tsv;
    let pairs_name = file_name(&f.pairs);
    let bar = progress.bytes_bar(fs_err::metadata(&f.pairs)?.len(), &pairs_name);
    // The pairs file is the big one (9M lines for 1M): parsed in line-aligned halves, one per
    // core, each into its own interners; merged in file order, so codes and line numbers are
    // those of a sequential parse.
    let (chunks, acc) = read_lines_chunked(
        &f.pairs,
        &pairs_name,
        &mut rejects,
        &bar,
        threads,
        min_chunk,
        |k| PairsChunk {
            first: k == 0,
            ..Default::default()
        },
        |c, line_no, line| {
            if timeless {
                c.sequence_line(line)
            } else {
                c.pairs_line(line_no, line)
            }
        },
    )?;
    for ch in chunks {
        // Row order within a timeless sequence is its position; otherwise the file's line.
        let offset = if timeless { 0 } else { ch.line_offset };
        ch.state
            .merge_into(&mut users, &mut items, &mut inter, offset);
    }
    if timeless {
        continue_sequences(&mut inter, users.keys.len());
    }
    accounts.push(acc);
    bar.finish_and_clear();
    let hidden = indicatif::ProgressBar::hidden();

    if let Some((path, header)) = &f.titles {
        let name = file_name(path);
        let mut empty = 0u64;
        accounts.push(read_lines(
            path,
            &name,
            &mut rejects,
            &hidden,
            |line_no, line| {
                if line_no == 1 && *header {
                    return if line == b"item,title" {
                        Line::Header
                    } else {
                        Line::Reject("bad_header", "expected the header `item,title`".into())
                    };
                }
                if line.is_empty() {
                    return Line::Skip;
                }
                let (text, repaired) = lossy(line);
                let Some((id, title)) = split_title(&text) else {
                    return Line::Reject("field_count", "expected `<video id>,<title>`".into());
                };
                if !is_digits(id.as_bytes()) {
                    return Line::Reject("bad_item_id", format!("video id `{id}` is not a number"));
                }
                let (c, new) = items.intern(id.as_bytes(), || id.to_owned());
                attrs.grow(items.keys.len());
                if !new && attrs.title[c as usize].is_some() {
                    return Line::Reject(
                        "duplicate_item",
                        format!("video {id} already has a title"),
                    );
                }
                if title.is_empty() {
                    empty += 1;
                }
                attrs.title[c as usize] = (!title.is_empty()).then(|| title.to_owned());
                if repaired { Line::Repaired } else { Line::Row }
            },
        )?);
        if empty > 0 {
            progress.info(format!("{name}: {empty} empty titles (kept as null)"));
        }
    }

    if let Some(path) = &f.tags {
        let name = file_name(path);
        accounts.push(read_lines(
            path,
            &name,
            &mut rejects,
            &hidden,
            |_, line| {
                if line.is_empty() {
                    return Line::Skip;
                }
                let (text, repaired) = lossy(line);
                let Some((id, tag)) = text.split_once(',') else {
                    return Line::Reject("field_count", "expected `<video id>,<category>`".into());
                };
                if !is_digits(id.as_bytes()) {
                    return Line::Reject("bad_item_id", format!("video id `{id}` is not a number"));
                }
                let c = items.intern(id.as_bytes(), || id.to_owned()).0;
                attrs.grow(items.keys.len());
                attrs.category[c as usize] = (!tag.is_empty()).then(|| tag.to_owned());
                if repaired { Line::Repaired } else { Line::Row }
            },
        )?);
    }

    if let Some(path) = &f.likes {
        let name = file_name(path);
        accounts.push(read_lines(
            path,
            &name,
            &mut rejects,
            &hidden,
            |_, line| {
                if line.is_empty() {
                    return Line::Skip;
                }
                let f: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
                let [id, likes, views] = f.as_slice() else {
                    return Line::Reject(
                        "field_count",
                        format!("expected 3 tab-separated fields, found {}", f.len()),
                    );
                };
                if let Some(r) = not_a_number(id, "bad_item_id", "video id") {
                    return r;
                }
                // Published as int64: a count beyond it is a reject, not a wrapped number.
                let count = |b: &[u8]| parse_uint(b).and_then(|n| i64::try_from(n).ok());
                let (Some(l), Some(v)) = (count(likes), count(views)) else {
                    return Line::Reject(
                        "bad_count",
                        "likes and views must be whole numbers up to 9223372036854775807".into(),
                    );
                };
                let c = items
                    .intern(id, || String::from_utf8_lossy(id).into_owned())
                    .0;
                attrs.grow(items.keys.len());
                attrs.likes[c as usize] = Some(l);
                attrs.views[c as usize] = Some(v);
                Line::Row
            },
        )?);
    }

    let mut tables = Vec::new();
    if let Some(path) = &f.comments {
        let name = file_name(path);
        let (mut cu, mut ci, mut ct, mut cl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        accounts.push(read_lines(
            path,
            &name,
            &mut rejects,
            &hidden,
            |line_no, line| {
                if line.is_empty() {
                    return Line::Skip;
                }
                let mut parts = line.splitn(3, |b| *b == b'\t');
                let (Some(u), Some(i), Some(text)) = (parts.next(), parts.next(), parts.next())
                else {
                    return Line::Reject(
                        "field_count",
                        "expected `<user id>\\t<video id>\\t<comment>`".into(),
                    );
                };
                if let Some(r) = not_a_number(u, "bad_user_id", "user id") {
                    return r;
                }
                if let Some(r) = not_a_number(i, "bad_item_id", "video id") {
                    return r;
                }
                let (text, repaired) = lossy(text);
                cu.push(
                    users
                        .intern(u, || String::from_utf8_lossy(u).into_owned())
                        .0,
                );
                ci.push(
                    items
                        .intern(i, || String::from_utf8_lossy(i).into_owned())
                        .0,
                );
                ct.push(text);
                cl.push(line_no);
                if repaired { Line::Repaired } else { Line::Row }
            },
        )?);
        let schema = crate::io::schema::table(COMMENTS_TABLE)?.arrow(NAME)?;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(cl)),
            Arc::new(UInt32Array::from(cu)),
            Arc::new(UInt32Array::from(ci)),
            Arc::new(StringArray::from(ct)),
        ];
        tables.push(SideTable {
            name: COMMENTS_TABLE.into(),
            batch: RecordBatch::try_new(schema, cols)?,
            user_col: Some("user_id".into()),
            item_cols: vec!["item_id".into()],
        });
    }
    attrs.grow(items.keys.len());

    Ok(Normalized {
        interactions: inter,
        event: "comment".into(),
        users: Entities {
            raw_id: users.keys,
            title: None,
            extras: vec![],
        },
        items: Entities {
            raw_id: items.keys,
            title: Some(attrs.title),
            extras: vec![
                ("category".into(), super::string_array(attrs.category)),
                ("likes".into(), Arc::new(Int64Array::from(attrs.likes))),
                ("views".into(), Arc::new(Int64Array::from(attrs.views))),
            ],
        },
        rejects,
        accounts,
        timeless,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass reader takes exactly the lines the general path accepts with two
    /// canonical ids, with the same values, and leaves every other line to it.
    #[test]
    fn fast_pairs_line_agrees_with_the_general_path() {
        let lines = [
            "1,2,1600000000000",
            "0,0,0000000000000",
            "9999999999999999999,12,1600000000000",
            "18446744073709551615,1,1600000000000",
            "99999999999999999999,1,1600000000000",
            "007,2,1600000000000",
            "7,02,1600000000000",
            "1,2,160000000000",
            "1,2,16000000000000",
            "1,2,1600000000000,",
            "1,2,,1600000000000",
            ",2,1600000000000",
            "1,,1600000000000",
            " 1,2,1600000000000",
            "1,2,1600000000000 ",
            "1;2;1600000000000",
            "a,2,1600000000000",
            "1,2,16000000000x0",
            "",
            "user,item,timestamp",
        ];
        for line in lines {
            let b = line.as_bytes();
            let general = three_fields(b, b',').and_then(|(u, i, t)| {
                let u = crate::sources::canonical_decimal(u)?;
                let i = crate::sources::canonical_decimal(i)?;
                let ts = parse_uint(t).filter(|_| t.len() == 13)?;
                Some((u, i, ts))
            });
            assert_eq!(pairs_fast(b), general, "{line:?}");
        }
    }

    /// Parallel parsing of the pairs file gives exactly the single-threaded result: codes in
    /// first-appearance order, the file's line numbers in `order` and in the rejects, the
    /// header only on the file's first line, and the same accounting.
    #[test]
    fn chunked_pairs_parse_equals_sequential() {
        for timeless in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut text = String::new();
            if timeless {
                for u in 0..40u32 {
                    text.push_str(&format!("{}\t{} {} {}\n", 900 - u, u % 7, u % 5 + 10, u));
                }
                text.push_str("x\t1 2\n\n12\t3 y\n");
                fs_err::write(dir.path().join("MicroLens-100k_pairs.tsv"), &text).unwrap();
            } else {
                text.push_str("\u{feff}user,item,timestamp\r\n");
                for k in 0..200u32 {
                    text.push_str(&format!(
                        "{},{},{}\n",
                        (k * 37) % 23,
                        (k * 11) % 17,
                        1_600_000_000_000u64 + u64::from(k % 9)
                    ));
                    if k % 50 == 7 {
                        text.push_str("user,item,timestamp\n1,2\n\n3,x,1600000000000\n4,5,16\n");
                    }
                }
                fs_err::write(dir.path().join("MicroLens-100k_pairs.csv"), &text).unwrap();
            }
            fs_err::write(dir.path().join("MicroLens-100k_title_en.csv"), "1, one\n").unwrap();
            let o = Options {
                variant: Some(Variant::K100),
                interactions: if timeless {
                    PairsFile::Tsv
                } else {
                    PairsFile::Csv
                },
                comments: false,
            };
            let p = Reporter::silent();
            let one = normalize_with(&o, dir.path(), &p, 1, 1).unwrap();
            assert!(!one.rejects.is_empty());
            for threads in [2, 3, 7] {
                let n = normalize_with(&o, dir.path(), &p, threads, 1).unwrap();
                crate::sources::assert_same_parse(&n, &one);
            }
        }
    }

    #[test]
    fn titles_split_at_the_first_comma_and_lose_one_quote_level() {
        assert_eq!(split_title("7,"), Some(("7", "")));
        assert_eq!(split_title("3,a, b, c"), Some(("3", "a, b, c")));
        assert_eq!(
            split_title("4,\"quoted, title\""),
            Some(("4", "quoted, title"))
        );
        assert_eq!(split_title("5,\"unbalanced"), Some(("5", "\"unbalanced")));
        assert_eq!(split_title("6,\""), Some(("6", "\"")));
        assert_eq!(split_title("no comma"), None);
    }

    /// The 100K English file writes `<id>, <title>`; the published title had a leading space.
    #[test]
    fn microlens_title_separator_whitespace_is_not_part_of_the_title() {
        assert_eq!(
            split_title("19, Tulips at the market"),
            Some(("19", "Tulips at the market"))
        );
        assert_eq!(
            split_title("4, \"quoted, title\" "),
            Some(("4", "quoted, title"))
        );
        assert_eq!(split_title("8, "), Some(("8", "")));
    }
}
