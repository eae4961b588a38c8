//! FINN.no slate dataset (Eide, Leslie, Frigessi 2021): 2,277,645 users of the Norwegian
//! marketplace FINN.no, up to 20 interaction steps each over 30 days; each step is the slate of
//! up to 25 items shown (search results or recommendations) and the item clicked, if any.
//!
//! ## Source
//! <https://github.com/finn-no/recsys_slates_dataset> (`data_helper.download_data_files`: three
//! files on Google Drive, git-LFS copies in the repo's `data/`): `data.npz` (the int32 variant
//! by default; an int64 variant exists, read the same way), `ind2val.json`, `itemattr.npz`.
//!
//! ## License
//! Apache-2.0 (the repository's LICENSE).
//!
//! ## Schema mapping
//! - `data.npz` arrays `userId (U,)`, `click`, `click_idx`, `slate_lengths`,
//!   `interaction_type (U, 20)`, `slate (U, 20, 25)` → one `exposures` row per real step, in
//!   user then step order: `exposure_id` = row × 20 + step (row = the user's index in the
//!   arrays, which is its `userId` in the real file), `step`, `ts` null (the corpus has no
//!   times), `context` = `search` / `rec` (`interaction_type` through `ind2val.json`; a type
//!   whose name is neither, such as `<UNK>` for 0 on a real step, is `other`), `items` = the
//!   slate in display order without padding (0) and the noClick pseudo-item (1), `<UNK>` (2)
//!   kept as a null element, `clicked_position` = the clicked item's index in that list, null
//!   for a no-click step (`click == 1`).
//! - Every step whose click is a real item (≥ 3) → one `interactions` row, event `click`; the
//!   corpus is timeless (`ts` is published null; the step orders a user's rows).
//! - `users.raw_id` = the `userId` value; `items.raw_id` = the FINN item id (an integer, as a
//!   string) for every item shown or clicked, with `category` (the `ind2val['category']` name
//!   of `itemattr['category'][item]`, e.g. `BAP,antiques,Trøndelag`) and its comma-separated
//!   parts `category_main`, `category_sub` (null when empty, as in `MOTOR,,Sogn og Fjordane`),
//!   `category_region` (the sub-category is everything between the first and the last comma).
//! - Accounting: `data.npz` counts users × 20 steps as its records (`lines`): padding steps are
//!   `skipped`, real steps are `rows` (= exposures), bad steps are `rejected`. A reject's
//!   `line` is the step's 1-based record number, row × 20 + step + 1. `ind2val.json` and
//!   `itemattr.npz` are lookups, not records, so they have no account.
//!
//! ## Known quirks (each has a test)
//! - Padding: users with fewer than 20 steps are padded at the end with `click = 0`, an
//!   all-zero slate, length 0 and type 0; those steps are skipped and counted. A step with
//!   `click = 0` but any data is rejected (`padding_with_data`).
//! - `slate_lengths` can be 26 although slates have 25 slots (issue #25, "everything should be
//!   capped at 25"): clamped to 25 and counted as `repaired`. The slate array itself is the
//!   truth (maintainer: "the true information can be found in click and slate"): items are
//!   read from all 25 slots, `slate_lengths` is only checked (disagreements are counted).
//! - `click_idx` is not trusted: it can be 0 while `click` is a real item (issue #25).
//!   `clicked_position` is found by searching `click` in the slate; `click_idx` only breaks a
//!   tie when the clicked id occurs more than once and `click_idx` points at one of them. A
//!   real click that is not in its slate (the 26th item of an over-long slate) keeps its
//!   interaction and gets a null `clicked_position`; both cases are counted.
//! - `<UNK>` (2) appears inside slates (issue #17): a null list element. A click on `<UNK>`
//!   keeps its exposure (with the position of the `<UNK>`) but is not an interaction: there is
//!   no item to point at. Such clicks are counted.
//! - Two `data.npz` variants (int32, int64), and any `.npy` layout numpy writes (byte order,
//!   Fortran order, STORED or DEFLATE members): the dtype and layout come from each header.
//! - Negative ids → `bad_item_id`; `slate_lengths` outside 0..=26 → `bad_slate_length`; an
//!   `interaction_type` that `ind2val.json` does not name → `unknown_interaction_type`.
//! - `ind2val.json` keys are strings of integers; non-ASCII is `\u00f8`-escaped (read by the
//!   JSON parser); `itemattr['category']` is float64 holding whole numbers.
//!
//! `data.npz` is streamed: each member has its own reader (its own file handle and inflater)
//! on its own thread, producing blocks of users that the adapter consumes in lockstep, so
//! the 4.5 GB slate array is never in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow_array::builder::{NullBufferBuilder, OffsetBufferBuilder};
use arrow_array::types::UInt32Type;
use arrow_array::{
    ArrayRef, Int32Array, Int32DictionaryArray, ListArray, PrimitiveArray, RecordBatch,
    StringArray, TimestampMillisecondArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field};

use super::{Entities, FileAccount, Normalized, RawInteractions, Reject, SideTable, string_array};
use crate::error::{Error, Result};
use crate::io::npy::{Kind, MemberReader, Npz};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "finn-slates";
pub const DATA_FILE: &str = "data.npz";
pub const IND2VAL_FILE: &str = "ind2val.json";
pub const ITEMATTR_FILE: &str = "itemattr.npz";
pub const LICENSE: &str = "Apache-2.0 (finn-no/recsys_slates_dataset). Cite Eide, Leslie, Frigessi: \
    \"Dynamic Slate Recommendation with Gated Recurrent Units and Thompson Sampling\", Data Min Knowl Disc 2022.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://github.com/finn-no/recsys_slates_dataset";
pub const CITATION: &str = "Eide, Leslie, Frigessi. Dynamic Slate Recommendation with Gated Recurrent Units and Thompson Sampling. Data Mining and Knowledge Discovery, 2022, arXiv:2104.15046.";
pub const DESCRIPTION: &str = "Slates shown to 2.3M FINN.no marketplace users over 30 days (search results \
    and recommendations, up to 25 items) and the item clicked at each of up to 20 steps.";

/// The special item ids.
const PAD: i64 = 0;
const NO_CLICK: i64 = 1;
const UNK: i64 = 2;

const CONTEXTS: [&str; 3] = ["search", "rec", "other"];

/// `[source]` keys specific to FINN.no slates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// Read `itemattr.npz` for the item categories (default true).
    pub item_attributes: bool,
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let item_attributes = r.bool(diags, "item_attributes").is_none_or(|b| b.value);
        Some(Options { item_attributes })
    }
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![dir.join(DATA_FILE), dir.join(IND2VAL_FILE)];
    if o.item_attributes {
        files.push(dir.join(ITEMATTR_FILE));
    }
    for f in &files {
        if !f.exists() {
            return Err(Error::MissingInput {
                path: f.clone(),
                hint: format!(
                    "`source.path` must hold `{DATA_FILE}` and `{IND2VAL_FILE}`{} (the files `recsys_slates_dataset.data_helper.download_data_files` fetches); \
                     `recdata synth finn-slates --out <dir>` writes a small corpus in this format",
                    if o.item_attributes {
                        format!(" and `{ITEMATTR_FILE}`")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    Ok(files)
}

/// `ind2val.json`: id → name for categories and interaction types.
struct Ind2Val {
    category: hashbrown::HashMap<i64, String>,
    interaction_type: hashbrown::HashMap<i64, String>,
}

fn read_ind2val(path: &Path) -> Result<Ind2Val> {
    let bad = |m: String| Error::BadInput {
        path: path.to_path_buf(),
        message: m,
    };
    let v: serde_json::Value = serde_json::from_slice(&fs_err::read(path)?)
        .map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let map = |key: &str| -> Result<hashbrown::HashMap<i64, String>> {
        let obj = v.get(key).and_then(|m| m.as_object()).ok_or_else(|| {
            bad(format!(
                "expected an object under `{key}` (like {{\"{key}\": {{\"0\": \"...\"}}}})"
            ))
        })?;
        obj.iter()
            .map(|(k, val)| {
                let id: i64 = k.parse().map_err(|_| {
                    bad(format!(
                        "`{key}`: key `{k}` is not an integer (keys are ids written as strings)"
                    ))
                })?;
                let name = val
                    .as_str()
                    .ok_or_else(|| bad(format!("`{key}`.`{k}`: expected a string, found {val}")))?;
                Ok((id, name.to_owned()))
            })
            .collect()
    };
    Ok(Ind2Val {
        category: map("category")?,
        interaction_type: map("interaction_type")?,
    })
}

/// The `data.npz` arrays, in their upstream order.
const KEYS: [&str; 6] = [
    "userId",
    "click",
    "click_idx",
    "slate_lengths",
    "slate",
    "interaction_type",
];
const USER_ID: usize = 0;
const CLICK: usize = 1;
const CLICK_IDX: usize = 2;
const SLATE_LENGTHS: usize = 3;
const SLATE: usize = 4;
const ITYPE: usize = 5;

/// Users per block handed from the reader threads to the adapter.
const BLOCK: usize = 4096;

type Block = Result<Vec<i64>>;

/// Reads `r` in blocks of `BLOCK` rows onto `tx`, reusing the buffers that come back on
/// `back`; checks the member's end (CRC) after the last row.
fn pump(mut r: MemberReader, tx: SyncSender<Block>, back: Receiver<Vec<i64>>) {
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        buf.clear();
        match r.read_rows::<i64>(BLOCK, &mut buf) {
            Ok(0) => {
                if let Err(e) = r.finish() {
                    let _ = tx.send(Err(e));
                }
                return;
            }
            Ok(_) => {
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// Counts reported after normalizing (and checked by the tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quirks {
    /// `slate_lengths` 26 clamped to 25.
    pub slate_lengths_clamped: u64,
    /// Steps whose (clamped) `slate_lengths` differs from the number of non-zero slots.
    pub slate_lengths_mismatch: u64,
    /// Clicks found in the slate at another position than `click_idx` says.
    pub click_idx_wrong: u64,
    /// Real clicks (≥ 3) not found in their slate: interaction kept, position null.
    pub click_not_in_slate: u64,
    /// Clicks on `<UNK>`: exposure kept, no interaction.
    pub unk_clicks: u64,
    /// `<UNK>` elements in slates (null list elements).
    pub unk_in_slates: u64,
    pub no_click_steps: u64,
    pub padding_steps: u64,
}

/// Exposure columns as they are built.
#[derive(Default)]
struct Exposures {
    id: Vec<u64>,
    user: Vec<u32>,
    step: Vec<u32>,
    context: Vec<i32>,
    /// Items per exposure (slates have at most 65,535 slots: checked with the shape).
    lengths: Vec<u16>,
    values: Vec<u32>,
    /// Indices into `values` of `<UNK>` elements.
    nulls: Vec<usize>,
    clicked: Vec<u16>,
    clicked_valid: Option<NullBufferBuilder>,
}

/// Interns FINN's integer ids (items, and users) in first-seen order: a direct table for ids
/// in `0..2^26` (the real item ids are < 1.4M, user ids `0..2,277,645`; at most 256 MB), a map
/// for any other id. Users went through a hash map before: 2.3M inserts at random places of a
/// 64 MB table cost 1.2 s of the reading thread (`perf`: two cache misses per insert), where
/// the direct table is written in order.
///
/// The numeric half of [`super::interner::Interner`] does the same for text ids; this one
/// takes `.npy` integers as they are (negative ones included), keeps them as integers (the
/// item categories are indexed by them) and makes no `raw_id` string in the 375M-lookup loop.
#[derive(Default)]
struct Codes {
    dense: Vec<u32>,
    sparse: hashbrown::HashMap<i64, u32>,
    raw: Vec<i64>,
}

const DENSE_LIMIT: i64 = 1 << 26;

/// The direct table's new length to hold index `i`: doubled (amortised growth), never past
/// `DENSE_LIMIT` entries (doubling from just under it would allocate 512 MB for two ids).
fn grown_len(len: usize, i: usize) -> usize {
    (i + 1).max(len * 2).max(1 << 16).min(DENSE_LIMIT as usize)
}

impl Codes {
    /// Starts loading `id`'s slot of the direct table (a hint; see [`crate::util::prefetch`]).
    #[inline]
    fn prefetch(&self, id: i64) {
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| self.dense.get(i)) {
            crate::util::prefetch(slot);
        }
    }

    #[inline]
    fn code(&mut self, id: i64) -> u32 {
        // Negative ids (a user id may be one; item ids are checked before) take the map.
        if (0..DENSE_LIMIT).contains(&id) {
            let i = id as usize;
            if i >= self.dense.len() {
                self.dense.resize(grown_len(self.dense.len(), i), u32::MAX);
            }
            let c = self.dense[i];
            if c != u32::MAX {
                return c;
            }
            let c = self.raw.len() as u32;
            self.dense[i] = c;
            self.raw.push(id);
            c
        } else {
            let next = self.raw.len() as u32;
            let c = *self.sparse.entry(id).or_insert(next);
            if c == next {
                self.raw.push(id);
            }
            c
        }
    }
}

fn step_text(uid: i64, t: usize, c: i64, ci: i64, len: i64, it: i64, slate: &[i64]) -> Vec<u8> {
    format!(
        "userId={uid} step={t} click={c} click_idx={ci} slate_lengths={len} interaction_type={it} slate={slate:?}"
    )
    .into_bytes()
}

// Long on purpose: the npz members' headers and shapes are checked against each other, then one
// streaming pass over the users' rows makes interactions, exposures and the accounting of every
// step; the blocks share the member readers and the row position.
pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let data_path = dir.join(DATA_FILE);
    let ind2val = read_ind2val(&dir.join(IND2VAL_FILE))?;
    let npz = Npz::open(&data_path)?;
    let readers: Vec<MemberReader> = KEYS.iter().map(|k| npz.reader(k)).collect::<Result<_>>()?;
    for r in &readers {
        if r.header().dtype.kind == Kind::Float {
            return Err(r.origin().err(format!(
                "expected an integer array, found dtype {}",
                r.header().dtype.descr()
            )));
        }
    }
    let users = readers[USER_ID].header().shape.clone();
    let click_shape = readers[CLICK].header().shape.clone();
    if users.len() != 1 {
        return Err(readers[USER_ID].origin().err(format!(
            "expected shape (users,), found {}",
            readers[USER_ID].header().shape_text()
        )));
    }
    let n_users = users[0];
    if click_shape.len() != 2 || click_shape[0] != n_users {
        return Err(readers[CLICK].origin().err(format!(
            "expected shape ({n_users}, steps) like userId, found {}",
            readers[CLICK].header().shape_text()
        )));
    }
    let steps = click_shape[1];
    for k in [CLICK_IDX, SLATE_LENGTHS, ITYPE] {
        if readers[k].header().shape != click_shape {
            return Err(readers[k].origin().err(format!(
                "expected shape ({n_users}, {steps}) like click, found {}",
                readers[k].header().shape_text()
            )));
        }
    }
    let sh = &readers[SLATE].header().shape;
    if sh.len() != 3 || sh[..2] != click_shape[..] || sh[2] == 0 {
        return Err(readers[SLATE].origin().err(format!(
            "expected shape ({n_users}, {steps}, slots) like click, found {}",
            readers[SLATE].header().shape_text()
        )));
    }
    let slots = sh[2];
    if slots > usize::from(u16::MAX) {
        return Err(readers[SLATE].origin().err(format!(
            "{slots} slots per slate; at most {} are supported",
            u16::MAX
        )));
    }
    let mut context_of = hashbrown::HashMap::new();
    for (id, name) in &ind2val.interaction_type {
        let c = match name.as_str() {
            "search" => 0,
            "rec" => 1,
            _ => 2,
        };
        context_of.insert(*id, c);
    }

    let bar = progress.count_bar(n_users as u64, "reading slates");
    let mut acc = FileAccount {
        file: DATA_FILE.into(),
        lines: (n_users * steps) as u64,
        ..Default::default()
    };
    let mut q = Quirks::default();
    let mut ex = Exposures::default();
    let mut inter = RawInteractions::default();
    let mut users = Codes::default();
    let mut items = Codes::default();
    let mut rejects = Vec::new();

    std::thread::scope(|sc| -> Result<()> {
        let mut rx = Vec::new();
        let mut back = Vec::new();
        for r in readers {
            let (tx, r_rx) = sync_channel::<Block>(2);
            let (b_tx, b_rx) = sync_channel::<Vec<i64>>(4);
            sc.spawn(move || pump(r, tx, b_rx));
            rx.push(r_rx);
            back.push(b_tx);
        }
        let mut row0 = 0usize;
        while row0 < n_users {
            let mut blocks: Vec<Vec<i64>> = Vec::with_capacity(KEYS.len());
            for (k, r) in rx.iter().enumerate() {
                match r.recv() {
                    Ok(b) => blocks.push(b?),
                    Err(_) => {
                        return Err(Error::Internal(format!(
                            "{DATA_FILE}: the reader of `{}.npy` stopped early",
                            KEYS[k]
                        )));
                    }
                }
            }
            let n = blocks[USER_ID].len();
            for i in 0..n {
                let row = row0 + i;
                let uid = blocks[USER_ID][i];
                let ucode = users.code(uid);
                for t in 0..steps {
                    let s = i * steps + t;
                    let c = blocks[CLICK][s];
                    let ci = blocks[CLICK_IDX][s];
                    let len = blocks[SLATE_LENGTHS][s];
                    let it = blocks[ITYPE][s];
                    let slate = &blocks[SLATE][s * slots..(s + 1) * slots];
                    // 375M slot lookups into a 5 MB table: the next step's slots are
                    // prefetched while this one's are interned, so their misses overlap.
                    if let Some(next) = blocks[SLATE].get((s + 1) * slots..(s + 2) * slots) {
                        next.iter().for_each(|&v| items.prefetch(v));
                    }
                    let line = (row * steps + t + 1) as u64;
                    let mut reject = |reason: &'static str, detail: String| {
                        acc.rejected += 1;
                        rejects.push(Reject {
                            file: DATA_FILE.into(),
                            line,
                            reason,
                            detail,
                            raw: step_text(uid, t, c, ci, len, it, slate),
                        });
                    };
                    if c == PAD {
                        if len == 0 && it == 0 && slate.iter().all(|&v| v == PAD) {
                            acc.skipped += 1;
                            q.padding_steps += 1;
                        } else {
                            reject(
                                "padding_with_data",
                                "click is 0 (a padding step) but the step has slate items, a slate length or an interaction type".into(),
                            );
                        }
                        continue;
                    }
                    if c < 0 || slate.iter().any(|&v| v < 0) {
                        reject("bad_item_id", "a negative item id in click or slate".into());
                        continue;
                    }
                    if len < 0 || len > slots as i64 + 1 {
                        reject(
                            "bad_slate_length",
                            format!(
                                "slate_lengths {len} is outside 0..={} (slates have {slots} slots; {} is a known quirk, clamped)",
                                slots + 1,
                                slots + 1
                            ),
                        );
                        continue;
                    }
                    let Some(&ctx) = context_of.get(&it) else {
                        reject(
                            "unknown_interaction_type",
                            format!("interaction_type {it} is not in {IND2VAL_FILE}"),
                        );
                        continue;
                    };
                    acc.rows += 1;
                    let mut len = len as usize;
                    if len > slots {
                        len = slots;
                        q.slate_lengths_clamped += 1;
                        acc.repaired += 1;
                    }
                    let mut non_pad = 0usize;
                    let mut pos = 0u16;
                    let (mut first, mut at_idx) = (None, None);
                    let before = ex.values.len();
                    for (k, &v) in slate.iter().enumerate() {
                        // Most slots are real items or padding; test those first.
                        if v > UNK {
                            ex.values.push(items.code(v));
                        } else if v == PAD {
                            continue;
                        } else if v == NO_CLICK {
                            non_pad += 1;
                            continue;
                        } else {
                            q.unk_in_slates += 1;
                            ex.nulls.push(ex.values.len());
                            ex.values.push(0);
                        }
                        non_pad += 1;
                        if v == c {
                            first.get_or_insert(pos);
                            if k as i64 == ci {
                                at_idx = Some(pos);
                            }
                        }
                        pos += 1;
                    }
                    q.slate_lengths_mismatch += u64::from(non_pad != len);
                    let clicked = if c == NO_CLICK {
                        q.no_click_steps += 1;
                        None
                    } else {
                        if first.is_none() {
                            q.click_not_in_slate += u64::from(c != UNK);
                        } else if at_idx.is_none() {
                            q.click_idx_wrong += 1;
                        }
                        at_idx.or(first)
                    };
                    ex.id.push((row * steps + t) as u64);
                    ex.user.push(ucode);
                    ex.step.push(t as u32);
                    ex.context.push(ctx);
                    ex.lengths.push((ex.values.len() - before) as u16);
                    ex.clicked.push(clicked.unwrap_or(0));
                    ex.clicked_valid
                        .get_or_insert_with(|| NullBufferBuilder::new(1 << 20))
                        .append(clicked.is_some());
                    if c == UNK {
                        q.unk_clicks += 1;
                    } else if c > UNK {
                        inter.user.push(ucode);
                        inter.item.push(items.code(c));
                        inter.ts.push(t as i64);
                        inter.order.push(t as u64);
                    }
                }
            }
            row0 += n;
            bar.inc(n as u64);
            for (b, tx) in blocks.into_iter().zip(&back) {
                let _ = tx.try_send(b);
            }
        }
        // Each reader checks its member's CRC after the last row.
        for (k, r) in rx.iter().enumerate() {
            match r.recv() {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(_)) => {
                    return Err(Error::Internal(format!(
                        "{DATA_FILE}: `{}.npy` has more rows than userId",
                        KEYS[k]
                    )));
                }
                Err(_) => {}
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();

    let item_extras = if o.item_attributes {
        item_categories(&dir.join(ITEMATTR_FILE), &ind2val, &items.raw, progress)?
    } else {
        vec![]
    };
    progress.info(format!(
        "{NAME}: {} exposures, {} clicks; {} padding steps skipped, {} slate_lengths clamped 26→25, \
         {} slate_lengths disagreeing with the slate, {} click_idx not pointing at the click, \
         {} clicks not in their slate, {} clicks on <UNK> (exposure only), {} <UNK> slate items",
        acc.rows,
        inter.len(),
        q.padding_steps,
        q.slate_lengths_clamped,
        q.slate_lengths_mismatch,
        q.click_idx_wrong,
        q.click_not_in_slate,
        q.unk_clicks,
        q.unk_in_slates
    ));
    progress.event("finn_slates_quirks", serde_json::to_value(&q)?);

    let exposures = exposures_batch(ex)?;
    Ok(Normalized {
        interactions: inter,
        event: "click".into(),
        users: Entities {
            raw_id: users.raw.iter().map(|u| u.to_string()).collect(),
            title: None,
            extras: vec![],
        },
        items: Entities {
            raw_id: items.raw.iter().map(|i| i.to_string()).collect(),
            // FINN items have no titles; `items` has a title column all the same.
            title: Some(vec![None; items.raw.len()]),
            extras: item_extras,
        },
        rejects,
        accounts: vec![acc],
        timeless: true,
        tables: vec![SideTable {
            name: "exposures".into(),
            batch: exposures,
            user_col: Some("user_id".into()),
            item_cols: vec!["items".into()],
        }],
    })
}

fn exposures_batch(ex: Exposures) -> Result<RecordBatch> {
    let n = ex.id.len();
    let mut offsets = OffsetBufferBuilder::<i32>::new(n);
    for l in &ex.lengths {
        offsets.push_length(usize::from(*l));
    }
    if ex.values.len() > i32::MAX as usize {
        return Err(Error::Unsupported(format!(
            "{} slate items exceed one list column's 2^31 elements",
            ex.values.len()
        )));
    }
    let nulls = if ex.nulls.is_empty() {
        None
    } else {
        let mut b = NullBufferBuilder::new(ex.values.len());
        let mut last = 0;
        for &p in &ex.nulls {
            b.append_n_non_nulls(p - last);
            b.append_null();
            last = p + 1;
        }
        b.append_n_non_nulls(ex.values.len() - last);
        b.finish()
    };
    let values = PrimitiveArray::<UInt32Type>::new(ex.values.into(), nulls);
    let field = Arc::new(Field::new("item", DataType::UInt32, true));
    let items = ListArray::try_new(field, offsets.finish(), Arc::new(values), None)?;
    let context = Int32DictionaryArray::try_new(
        Int32Array::from(ex.context),
        Arc::new(StringArray::from(CONTEXTS.to_vec())),
    )?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(ex.id)),
        Arc::new(UInt32Array::from(ex.user)),
        Arc::new(TimestampMillisecondArray::new_null(n).with_timezone("UTC")),
        Arc::new(UInt32Array::from(ex.step)),
        Arc::new(context),
        Arc::new(items),
        Arc::new(UInt16Array::new(
            ex.clicked.into(),
            ex.clicked_valid.and_then(|mut b| b.finish()),
        )),
    ];
    let schema = crate::io::schema::table("exposures")?.arrow(NAME)?;
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// `category`, `category_main`, `category_sub`, `category_region` for each item code.
fn item_categories(
    path: &Path,
    ind2val: &Ind2Val,
    raw: &[i64],
    progress: &Reporter,
) -> Result<Vec<(String, ArrayRef)>> {
    let npz = Npz::open(path)?;
    let (h, cat) = npz.load::<i64>("category")?;
    if h.shape.len() != 1 {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            message: format!(
                "member `category.npy`: expected shape (items,), found {}",
                h.shape_text()
            ),
        });
    }
    let (mut outside, mut unnamed) = (0u64, 0u64);
    let mut full = Vec::with_capacity(raw.len());
    let (mut main, mut sub, mut region) = (
        Vec::with_capacity(raw.len()),
        Vec::with_capacity(raw.len()),
        Vec::with_capacity(raw.len()),
    );
    for &id in raw {
        let name = match cat.get(id as usize) {
            None => {
                outside += 1;
                None
            }
            Some(c) => {
                let n = ind2val.category.get(c);
                unnamed += u64::from(n.is_none());
                n
            }
        };
        let parts = name.map(|n| match (n.find(','), n.rfind(',')) {
            (Some(a), Some(b)) if a < b => (&n[..a], &n[a + 1..b], &n[b + 1..]),
            (Some(a), _) => (&n[..a], "", &n[a + 1..]),
            _ => (n.as_str(), "", ""),
        });
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        full.push(name.cloned());
        main.push(parts.and_then(|p| opt(p.0)));
        sub.push(parts.and_then(|p| opt(p.1)));
        region.push(parts.and_then(|p| opt(p.2)));
    }
    if outside + unnamed > 0 {
        progress.warn(format!(
            "{NAME}: {outside} items have no entry in {ITEMATTR_FILE} and {unnamed} a category {IND2VAL_FILE} does not name; their category is null"
        ));
    }
    Ok(vec![
        ("category".into(), string_array(full)),
        ("category_main".into(), string_array(main)),
        ("category_sub".into(), string_array(sub)),
        ("category_region".into(), string_array(region)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are first-seen order whatever the id: small (direct table), negative or at least
    /// 2^26 (the map), repeated, and mixed.
    #[test]
    fn codes_are_first_seen_order_for_any_id() {
        let mut c = Codes::default();
        // Small direct-table ids only: an id near 2^26 would grow the table to 256 MB, which
        // the RSS window test running beside this one would see.
        let ids = [
            5,
            -3,
            DENSE_LIMIT,
            0,
            5,
            i64::MIN,
            -3,
            1 << 20,
            i64::MAX,
            0,
            70_000,
        ];
        let got: Vec<u32> = ids.iter().map(|&i| c.code(i)).collect();
        assert_eq!(got, [0, 1, 2, 3, 0, 4, 1, 5, 6, 3, 7]);
        assert_eq!(
            c.raw,
            [5, -3, DENSE_LIMIT, 0, i64::MIN, 1 << 20, i64::MAX, 70_000]
        );
        // Growth doubles, but never past the direct table's 2^26 entries.
        let limit = DENSE_LIMIT as usize;
        assert_eq!(grown_len(0, 5), 1 << 16);
        assert_eq!(grown_len(1 << 16, 70_000), 1 << 17);
        assert_eq!(grown_len(1 << 16, 1 << 20), (1 << 20) + 1);
        assert_eq!(grown_len(limit - 1, limit - 1), limit);
        assert_eq!(grown_len(limit / 2 + 1, limit / 2 + 1), limit);
        // A hint for any id, inside the table or not, is harmless.
        for i in [-1, 0, 70_000, DENSE_LIMIT, i64::MAX] {
            c.prefetch(i);
        }
    }
}
