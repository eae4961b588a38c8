//! Corpus adapters: one file per corpus, each mapping the raw upstream files, quirks and all,
//! onto the canonical tables. The set of corpora is closed, so the registry is an enum and a
//! `match`, which forces every new corpus to be handled everywhere.

pub mod agrosense;
pub mod amazon_reviews_2023;
pub mod deezer_sessions;
pub mod finn_slates;
mod interner;
pub mod lastfm_1k;
pub mod microlens;
pub mod movielens;
pub mod qilin;
pub mod text;

pub(crate) use interner::{Interner, KeyBatch, canonical_decimal};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ListArray, UInt32Array};

use crate::error::{Error, Result};
use crate::manifest::diagnostic::{Diagnostic, one_of, suggest};
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

/// What the dataset card, dataset.json and croissant.json say about a corpus: one constant per
/// adapter, so adding a corpus is one entry here and one arm in [`CorpusConfig::adapter`].
#[derive(Debug, Clone, Copy)]
pub struct Adapter {
    /// The name used in `source.corpus`.
    pub name: &'static str,
    pub license: &'static str,
    pub homepage: &'static str,
    pub citation: &'static str,
    pub description: &'static str,
}

macro_rules! adapter {
    ($m:ident) => {
        Adapter {
            name: $m::NAME,
            license: $m::LICENSE,
            homepage: $m::HOMEPAGE,
            citation: $m::CITATION,
            description: $m::DESCRIPTION,
        }
    };
}

/// Every adapter, in the order they are listed to users.
pub const ADAPTERS: [Adapter; 8] = [
    adapter!(lastfm_1k),
    adapter!(microlens),
    adapter!(movielens),
    adapter!(amazon_reviews_2023),
    adapter!(agrosense),
    adapter!(deezer_sessions),
    adapter!(qilin),
    adapter!(finn_slates),
];

/// Every corpus `recdata` can read, by the name used in `source.corpus`.
pub const CORPORA: [&str; 8] = {
    let mut names = [""; 8];
    let mut i = 0;
    while i < ADAPTERS.len() {
        names[i] = ADAPTERS[i].name;
        i += 1;
    }
    names
};

/// The adapter and its options, from `[source]`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorpusConfig {
    Lastfm1k(lastfm_1k::Options),
    Microlens(microlens::Options),
    Movielens(movielens::Options),
    AmazonReviews2023(amazon_reviews_2023::Options),
    Agrosense(agrosense::Options),
    DeezerSessions(deezer_sessions::Options),
    Qilin(qilin::Options),
    FinnSlates(finn_slates::Options),
}

impl CorpusConfig {
    /// This corpus' adapter description.
    pub fn adapter(&self) -> &'static Adapter {
        let name = match self {
            CorpusConfig::Lastfm1k(_) => lastfm_1k::NAME,
            CorpusConfig::Microlens(_) => microlens::NAME,
            CorpusConfig::Movielens(_) => movielens::NAME,
            CorpusConfig::AmazonReviews2023(_) => amazon_reviews_2023::NAME,
            CorpusConfig::Agrosense(_) => agrosense::NAME,
            CorpusConfig::DeezerSessions(_) => deezer_sessions::NAME,
            CorpusConfig::Qilin(_) => qilin::NAME,
            CorpusConfig::FinnSlates(_) => finn_slates::NAME,
        };
        ADAPTERS
            .iter()
            .find(|a| a.name == name)
            .expect("every corpus has an adapter entry")
    }

    pub fn name(&self) -> &'static str {
        self.adapter().name
    }

    /// Short license/citation text for the dataset card.
    pub fn license(&self) -> &'static str {
        self.adapter().license
    }

    pub fn homepage(&self) -> &'static str {
        self.adapter().homepage
    }

    pub fn citation(&self) -> &'static str {
        self.adapter().citation
    }

    /// Whether the corpus is made of user–item interactions (all but AgroSense, whose samples
    /// and soil images are its data): such a corpus with zero interactions is not a dataset,
    /// whatever its side tables hold.
    pub fn has_interactions(&self) -> bool {
        !matches!(self, CorpusConfig::Agrosense(_))
    }

    /// Whether the corpus, as configured, has no event times (only the order of a user's
    /// rows): FINN.no's steps, AgroSense's samples, MicroLens' TSV sequences. Such a corpus has
    /// no time window and no temporal split; the manifest is checked against this before any
    /// file is read (the build checks the parsed data again).
    pub fn timeless(&self) -> bool {
        match self {
            CorpusConfig::FinnSlates(_) | CorpusConfig::Agrosense(_) => true,
            CorpusConfig::Microlens(o) => o.interactions == microlens::PairsFile::Tsv,
            _ => false,
        }
    }

    pub fn description(&self) -> &'static str {
        self.adapter().description
    }

    /// The raw files this corpus reads, relative to the source directory, for checksumming.
    pub fn input_files(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        match self {
            CorpusConfig::Lastfm1k(o) => lastfm_1k::input_files(o, dir),
            CorpusConfig::Microlens(o) => microlens::input_files(o, dir),
            CorpusConfig::Movielens(o) => movielens::input_files(o, dir),
            CorpusConfig::AmazonReviews2023(o) => amazon_reviews_2023::input_files(o, dir),
            CorpusConfig::Agrosense(o) => agrosense::input_files(o, dir),
            CorpusConfig::DeezerSessions(o) => deezer_sessions::input_files(o, dir),
            CorpusConfig::Qilin(o) => qilin::input_files(o, dir),
            CorpusConfig::FinnSlates(o) => finn_slates::input_files(o, dir),
        }
    }

    pub fn normalize(&self, dir: &Path, progress: &Reporter) -> Result<Normalized> {
        match self {
            CorpusConfig::Lastfm1k(o) => lastfm_1k::normalize(o, dir, progress),
            CorpusConfig::Microlens(o) => microlens::normalize(o, dir, progress),
            CorpusConfig::Movielens(o) => movielens::normalize(o, dir, progress),
            CorpusConfig::AmazonReviews2023(o) => amazon_reviews_2023::normalize(o, dir, progress),
            CorpusConfig::Agrosense(o) => agrosense::normalize(o, dir, progress),
            CorpusConfig::DeezerSessions(o) => deezer_sessions::normalize(o, dir, progress),
            CorpusConfig::Qilin(o) => qilin::normalize(o, dir, progress),
            CorpusConfig::FinnSlates(o) => finn_slates::normalize(o, dir, progress),
        }
    }
}

/// Reads `corpus = "..."` and that corpus' own keys from `[source]`.
pub fn read_corpus_config(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<CorpusConfig> {
    let name = r.required_str(diags, "corpus", "\"lastfm-1k\"")?;
    match name.value.as_str() {
        lastfm_1k::NAME => lastfm_1k::Options::read(r, diags).map(CorpusConfig::Lastfm1k),
        microlens::NAME => microlens::Options::read(r, diags).map(CorpusConfig::Microlens),
        movielens::NAME => movielens::Options::read(r, diags).map(CorpusConfig::Movielens),
        amazon_reviews_2023::NAME => {
            amazon_reviews_2023::Options::read(r, diags).map(CorpusConfig::AmazonReviews2023)
        }
        agrosense::NAME => agrosense::Options::read(r, diags).map(CorpusConfig::Agrosense),
        deezer_sessions::NAME => {
            deezer_sessions::Options::read(r, diags).map(CorpusConfig::DeezerSessions)
        }
        qilin::NAME => qilin::Options::read(r, diags).map(CorpusConfig::Qilin),
        finn_slates::NAME => finn_slates::Options::read(r, diags).map(CorpusConfig::FinnSlates),
        other => {
            let mut d = Diagnostic::error(
                format!("unknown corpus `{other}`"),
                Some(name.span),
                "no adapter with this name",
            );
            if let Some(s) = suggest(other, &CORPORA) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d.with_help(format!("available corpora: {}", one_of(&CORPORA))));
            None
        }
    }
}

/// A raw file to download: `[[source.files]]`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteFile {
    pub url: String,
    pub mirrors: Vec<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The file's path in the source directory (default: the URL's last path segment); may
    /// contain subfolders (`notes/train-00000-of-00005.parquet`).
    pub name: String,
    /// Extract it (`None`: when the name and magic bytes say archive).
    pub extract: Option<bool>,
    /// Leading path components dropped from archive entries (like `tar --strip-components`).
    pub strip_components: u32,
}

/// The last path segment of a URL, percent-decoded only for plain ASCII.
pub fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    (!last.is_empty()
        && !path.ends_with("//")
        && path.contains("://")
        && path.matches('/').count() > 2)
        .then(|| last.replace("%20", " "))
}

impl RemoteFile {
    pub fn read(mut r: TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let url = r.required_str(diags, "url", "\"https://...\"");
        let mirrors: Vec<_> = r.str_array(diags, "mirrors").unwrap_or_default();
        for m in url.iter().chain(mirrors.iter()) {
            if !(m.value.starts_with("http://") || m.value.starts_with("https://")) {
                diags.push(Diagnostic::error(
                    "only http:// and https:// URLs can be downloaded",
                    Some(m.span),
                    "not an http(s) URL",
                ));
            }
        }
        let sha256 = r.str(diags, "sha256");
        if let Some(s) = &sha256
            && (s.value.len() != 64 || !s.value.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            diags.push(Diagnostic::error(
                "`sha256` must be 64 hex digits",
                Some(s.span),
                "not a sha256",
            ));
        }
        let size = r.int(diags, "size", 0, i64::MAX).map(|s| s.value as u64);
        let name = r.str(diags, "name");
        if let Some(n) = &name
            && !matches!(
                crate::fetch::archive::safe_relative("name", &n.value),
                Ok(Some(ref p)) if p.to_str() == Some(n.value.as_str())
            )
        {
            diags.push(Diagnostic::error(
                "`name` must be a relative path inside the source folder",
                Some(n.span),
                "no `..`, no leading `/`, no `./` or `//`, not empty",
            ));
        }
        let extract = r.bool(diags, "extract").map(|b| b.value);
        let strip = r
            .int(diags, "strip_components", 0, 16)
            .map_or(0, |s| s.value as u32);
        let span = r.span;
        r.finish(diags);
        let url = url?;
        let name = match name {
            Some(n) => n.value,
            None => match url_file_name(&url.value) {
                Some(n) => n,
                None => {
                    diags.push(
                        Diagnostic::error(
                            "cannot tell the file's name from its URL",
                            Some(span),
                            "in this file",
                        )
                        .with_help("set `name = \"<file name>\"`"),
                    );
                    return None;
                }
            },
        };
        Some(RemoteFile {
            url: url.value,
            mirrors: mirrors.into_iter().map(|m| m.value).collect(),
            sha256: sha256.map(|s| s.value.to_ascii_lowercase()),
            size,
            name,
            extract,
            strip_components: strip,
        })
    }

    /// The primary URL, then the mirrors.
    pub fn urls(&self) -> Vec<String> {
        std::iter::once(self.url.clone())
            .chain(self.mirrors.iter().cloned())
            .collect()
    }
}

/// Interactions as an adapter emits them: codes into [`Normalized::users`] / `items`, in the
/// raw file's row order.
#[derive(Debug, Default, Clone)]
pub struct RawInteractions {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
    /// Milliseconds since the epoch, UTC.
    pub ts: Vec<i64>,
    /// Chronological tie-breaker within equal timestamps, set by the adapter from the raw file's
    /// order (Last.fm lists newest first, so its order is the reverse line number).
    pub order: Vec<u64>,
    /// The event's value where the corpus has one (a rating, a play count); NaN for an event
    /// without one (published as null).
    pub value: Option<Vec<f32>>,
    /// The session each event belongs to, where the corpus has sessions.
    pub session: Option<Vec<i64>>,
}

impl RawInteractions {
    pub fn len(&self) -> usize {
        self.user.len()
    }
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
}

/// Users or items before filtering: raw ids plus the corpus' attribute columns (named as in
/// `schemas/<table>.json` → `corpus_extras`).
#[derive(Debug, Default, Clone)]
pub struct Entities {
    pub raw_id: Vec<String>,
    pub title: Option<Vec<Option<String>>>,
    pub extras: Vec<(String, ArrayRef)>,
}

/// A canonical table other than interactions/users/items (`exposures`, `requests`, `samples`,
/// `labels`, or a corpus' own table such as `qilin_dqa`), as an adapter emits it: columns in
/// the order of `schemas/<name>.json` (plus the corpus' extras), with user and item references
/// still as codes into [`Normalized::users`] / [`Normalized::items`]. The filter stage maps the
/// codes to dense ids and drops the rows of users it removed.
#[derive(Debug, Clone)]
pub struct SideTable {
    pub name: String,
    pub batch: arrow_array::RecordBatch,
    /// The `uint32` column holding a user code, if the table is about users.
    pub user_col: Option<String>,
    /// Columns holding item codes: `uint32`, or `list<uint32>` (a null element is an item the
    /// corpus shows but cannot identify, e.g. FINN.no's `<UNK>`).
    pub item_cols: Vec<String>,
}

impl SideTable {
    /// Column `name` as `uint32` (the user column).
    pub fn u32_col(&self, name: &str) -> Result<&UInt32Array> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
            .ok_or_else(|| {
                Error::Internal(format!(
                    "side table `{}`: `{name}` is not a uint32 column",
                    self.name
                ))
            })
    }

    /// The item codes of column `name`: a `uint32` column or a `list<uint32>` column.
    pub fn item_codes(&self, name: &str) -> Result<ItemRefs<'_>> {
        let c = self.batch.column_by_name(name).ok_or_else(|| {
            Error::Internal(format!("side table `{}` has no `{name}`", self.name))
        })?;
        ItemRefs::of(c.as_ref()).ok_or_else(|| {
            Error::Internal(format!(
                "side table `{}`: `{name}` is neither uint32 nor list<uint32>",
                self.name
            ))
        })
    }
}

/// A side table's item-code column, as [`SideTable::item_codes`] finds it.
pub enum ItemRefs<'a> {
    Flat(&'a UInt32Array),
    List(&'a ListArray, &'a UInt32Array),
}

impl<'a> ItemRefs<'a> {
    /// Column `c` as item codes, if it is `uint32` or `list<uint32>`.
    pub fn of(c: &'a dyn arrow_array::Array) -> Option<Self> {
        if let Some(a) = c.as_any().downcast_ref::<UInt32Array>() {
            return Some(ItemRefs::Flat(a));
        }
        let l = c.as_any().downcast_ref::<ListArray>()?;
        let v = l.values().as_any().downcast_ref::<UInt32Array>()?;
        Some(ItemRefs::List(l, v))
    }

    /// Calls `f` with every non-null item code in row `r`.
    pub fn each(&self, r: usize, mut f: impl FnMut(u32)) {
        match self {
            ItemRefs::Flat(a) => {
                if a.is_valid(r) {
                    f(a.value(r))
                }
            }
            ItemRefs::List(l, v) => {
                if l.is_valid(r) {
                    let off = l.value_offsets();
                    for k in off[r] as usize..off[r + 1] as usize {
                        if v.is_valid(k) {
                            f(v.value(k));
                        }
                    }
                }
            }
        }
    }
}

/// One rejected raw row.
#[derive(Debug, Clone)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub reason: &'static str,
    pub detail: String,
    pub raw: Vec<u8>,
}

/// Per-input-file row accounting: `lines == header + rows + rejected`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileAccount {
    pub file: String,
    pub lines: u64,
    pub header: u64,
    pub rows: u64,
    pub rejected: u64,
    /// Records that carry no data by the corpus' own convention (FINN.no's padding steps, blank
    /// lines): `lines == header + skipped + rows + rejected`.
    #[serde(default)]
    pub skipped: u64,
    /// Rows kept after a repair (e.g. invalid UTF-8 replaced); they are counted in `rows`.
    pub repaired: u64,
}

impl FileAccount {
    /// Every record is a header, skipped, a row or rejected: nothing is lost.
    pub fn balanced(&self) -> bool {
        self.lines == self.header + self.skipped + self.rows + self.rejected
    }
}

/// What an adapter produces.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    pub interactions: RawInteractions,
    /// The event name of every interaction (one event type per corpus for now).
    pub event: String,
    pub users: Entities,
    pub items: Entities,
    pub rejects: Vec<Reject>,
    pub accounts: Vec<FileAccount>,
    /// The corpus has no event times (FINN.no has steps): `interactions.ts` then holds the
    /// step and is published as null; time windows and temporal splits are refused.
    pub timeless: bool,
    pub tables: Vec<SideTable>,
}

/// Zero usable rows out of the input is a failure, not an empty dataset: the error says how many
/// records each file held, why they were rejected (by reason, with the first example), and names
/// a recognisable wrong encoding (UTF-16, UTF-32, binary). `inputs` are the files read.
/// Usable rows are interactions and corpus tables (a users or items catalogue alone is not a
/// dataset). Files whose every record was rejected are named in a warning even when others
/// have rows.
pub fn check_usable(
    corpus: &CorpusConfig,
    n: &Normalized,
    inputs: &[PathBuf],
    p: &Reporter,
) -> Result<()> {
    let interactions_needed = corpus.has_interactions();
    let corpus = corpus.name();
    let encoding = |file: &str| {
        inputs
            .iter()
            .find(|f| f.ends_with(file))
            .and_then(|f| crate::io::input::foreign_encoding(f))
    };
    let describe = |a: &FileAccount| {
        let mut reasons: std::collections::BTreeMap<&str, u64> = Default::default();
        for r in n.rejects.iter().filter(|r| r.file == a.file) {
            *reasons.entry(r.reason).or_default() += 1;
        }
        let mut s = format!(
            "`{}`: {} record(s), {} rejected",
            a.file, a.lines, a.rejected
        );
        if !reasons.is_empty() {
            let list: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
            s.push_str(&format!(" ({})", list.join(", ")));
        }
        if let Some(r) = n.rejects.iter().find(|r| r.file == a.file) {
            s.push_str(&format!("; first: line {}: {}", r.line, r.detail));
        }
        if let Some(enc) = encoding(&a.file) {
            s.push_str(&format!(
                "\n    it looks like {enc}; recdata reads UTF-8: convert it first, e.g. \
                 `iconv -f UTF-16 -t UTF-8 {0} > {0}.utf8`",
                a.file
            ));
        }
        s
    };
    // An interaction corpus needs interactions (side tables alone — comments, embeddings — are
    // not a recommendation dataset); a sample corpus needs rows in its tables.
    let rows = if interactions_needed {
        n.interactions.len()
    } else if let Some(samples) = n.tables.iter().find(|t| t.name == "samples") {
        // A labelled sample corpus is its samples: images alone are not one.
        samples.batch.num_rows()
    } else {
        n.tables.iter().map(|t| t.batch.num_rows()).sum::<usize>()
    };
    if rows > 0 {
        for a in &n.accounts {
            if a.rows == 0 && a.rejected > 0 {
                p.warn(format!(
                    "every record of a file was rejected: {}",
                    describe(a)
                ));
            }
        }
        return Ok(());
    }
    let records: u64 = n.accounts.iter().map(|a| a.lines).sum();
    let mut msg = if records == 0 {
        format!("no usable rows: the {corpus} input holds no records (its files are empty)")
    } else {
        format!(
            "no usable rows: the {corpus} input holds {records} record(s) and none became {}",
            if interactions_needed {
                "an interaction"
            } else {
                "a sample or table row"
            }
        )
    };
    for a in &n.accounts {
        msg.push_str(&format!("\n  {}", describe(a)));
    }
    for f in inputs {
        let shown = f
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !n.accounts.iter().any(|a| f.ends_with(&a.file))
            && let Some(enc) = crate::io::input::foreign_encoding(f)
        {
            msg.push_str(&format!(
                "\n  `{shown}` looks like {enc}; recdata reads UTF-8"
            ));
        }
    }
    if n.rejects.iter().any(|r| r.reason == "unknown_note") {
        msg.push_str(
            "\n  hint: the logs name notes that `notes` lacks; a sample whose tables were cut \
             independently (Qilin's toy data) needs `unknown_notes = \"keep\"` in [source]",
        );
    }
    msg.push_str("\n  nothing was published");
    Err(crate::error::Error::Invalid(msg))
}

pub(crate) fn string_array(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(arrow_array::StringArray::from(v))
}

/// Asserts that two parses of the same files are the same: interactions, entities with their
/// attributes, rejects (file, line, reason, bytes) and every count of the accounting — what a
/// parse on several threads must give against the sequential one.
#[cfg(test)]
pub(crate) fn assert_same_parse(n: &Normalized, one: &Normalized) {
    assert_eq!(n.interactions.user, one.interactions.user);
    assert_eq!(n.interactions.item, one.interactions.item);
    assert_eq!(n.interactions.ts, one.interactions.ts);
    assert_eq!(n.interactions.order, one.interactions.order);
    for (a, b) in [(&n.users, &one.users), (&n.items, &one.items)] {
        assert_eq!(a.raw_id, b.raw_id);
        assert_eq!(a.title, b.title);
        assert_eq!(a.extras.len(), b.extras.len());
        for ((ka, x), (kb, y)) in a.extras.iter().zip(&b.extras) {
            assert_eq!(ka, kb);
            assert_eq!(x.as_ref(), y.as_ref(), "{ka}");
        }
    }
    let key = |r: &Reject| (r.file.clone(), r.line, r.reason, r.raw.clone());
    assert_eq!(
        n.rejects.iter().map(key).collect::<Vec<_>>(),
        one.rejects.iter().map(key).collect::<Vec<_>>()
    );
    let acc = |v: &[FileAccount]| {
        v.iter()
            .map(|a| {
                (
                    a.file.clone(),
                    a.lines,
                    a.header,
                    a.skipped,
                    a.rows,
                    a.rejected,
                    a.repaired,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(acc(&n.accounts), acc(&one.accounts));
}
