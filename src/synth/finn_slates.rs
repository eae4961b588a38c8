//! A FINN.no-slates-format corpus: `data.npz`, `itemattr.npz` and `ind2val.json`, laid out as
//! `np.savez_compressed` and `json.dump` write them (see `sources/finn_slates.rs`).
//!
//! `data.npz` holds `userId (U,)`, `click`, `click_idx`, `slate_lengths`, `interaction_type`
//! `(U, 20)` and `slate (U, 20, 25)`, int32 (or int64 for the other published variant); every
//! member is a `.npy` v1.0 file, little-endian, C order, DEFLATE-compressed, zip64 local headers
//! (`force_zip64=True`). Each array is written by streaming over the users (the full-size
//! corpus, 2,277,645 users, has a 4.5 GB slate array): every value is a pure function of
//! (seed, user, step, slot), so each member is generated on its own pass without holding the
//! others.
//!
//! Quirks (corpora.md §3): the noClick item 1 at slot 0 of every real slate and zeros after
//! `slate_lengths`; users with fewer than 20 steps (trailing all-zero steps, type 0); no-click
//! steps (`click = 1`, `click_idx = 0`); `<UNK>` (2) inside slates and clicks on it;
//! `slate_lengths = 26` on a full 25-slot slate (once with the click inside the slate, once
//! with a click that is not in it and `click_idx = 0`); a real click with `click_idx = 0`;
//! search and rec slates; `userId = arange(U)`; `itemattr['category']` float64;
//! `ind2val.json` with string keys, `\u00f8` escapes and `"MOTOR,,Sogn og Fjordane"`.
//! Users 0-3 always carry the fixed quirk steps (listed on [`fixed_step`]), so even the default
//! 20-user fixture has each one; at scale they also occur at random.
//!
//! Statistics follow the quickstart notebook: ~24% no-click steps, ~30% rec slates, ~11 items
//! per slate, ~16.4 steps per user, ~0.58 items per user (1.31M at full size).

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Result;
use crate::io::npy::{DType, Kind, Method, NpzWriter, npy_bytes, npy_header};
use crate::sources::finn_slates::{DATA_FILE, IND2VAL_FILE, ITEMATTR_FILE};

pub const STEPS: usize = 20;
pub const SLOTS: usize = 25;
/// Users that carry the fixed quirk steps.
pub const FIXED_USERS: u32 = 4;

/// How the `.npy` members are laid out (the real files: little-endian, C order, DEFLATE).
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// The int64 variant of `data.npz`.
    pub int64: bool,
    pub big_endian: bool,
    /// Fortran order (whole arrays are built in memory: small fixtures only).
    pub fortran: bool,
    /// STORED members (`np.savez`) instead of DEFLATE.
    pub stored: bool,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub users: u32,
    pub seed: u64,
    /// Real items (ids 3..items+3); default ~0.576 per user, at least 100.
    pub items: Option<u32>,
    pub layout: Layout,
    /// DEFLATE level (numpy uses zlib's default, 6).
    pub level: u32,
}

impl Options {
    pub fn new(users: u32, seed: u64) -> Self {
        Options {
            users,
            seed,
            items: None,
            layout: Layout::default(),
            level: 6,
        }
    }

    fn n_items(&self) -> u64 {
        u64::from(
            self.items
                .unwrap_or(((f64::from(self.users) * 0.576) as u32).clamp(100, 1_311_772)),
        )
    }
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub users: u32,
    pub items: u64,
    /// users x 20.
    pub steps: u64,
    pub real_steps: u64,
    pub padding_steps: u64,
    /// Steps whose click is a real item (>= 3).
    pub clicks: u64,
    pub no_click_steps: u64,
    pub unk_clicks: u64,
    pub slate_lengths_26: u64,
    /// Real clicks whose `click_idx` does not point at the clicked item.
    pub wrong_click_idx: u64,
    pub data_npz_bytes: u64,
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator: every value is a function of (seed, user, step, slot).
struct Gen {
    seed: u64,
    items: u64,
}

/// One step's shape, without its slot contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    /// Slots in use, the noClick slot 0 included (0 for a padding step).
    slots: usize,
    /// `slate_lengths` as written (26 for the quirk).
    len_field: i64,
    itype: i64,
    /// The clicked slot; `None`: no click.
    click_slot: Option<usize>,
    /// The click is an item not in the slate (the 26th item of an over-long slate).
    click_outside: bool,
    /// `click_idx` is written as 0 whatever the click.
    zero_click_idx: bool,
}

const PADDING: Meta = Meta {
    slots: 0,
    len_field: 0,
    itype: 0,
    click_slot: None,
    click_outside: false,
    zero_click_idx: false,
};

/// The fixed quirk steps of users 0-3:
/// - user 0 (20 steps): step 2 no click; step 3 a slate with `<UNK>` at slots 2 and 5, clicked
///   at slot 4; step 4 a click on `<UNK>` (slot 3); step 5 a rec slate.
/// - user 1: 7 steps, then padding.
/// - user 2 (3 steps): step 0 a full slate with `slate_lengths = 26`, clicked at slot 10;
///   step 1 a real click at slot 4 with `click_idx = 0`; step 2 `slate_lengths = 26`, the
///   click is an item outside the slate and `click_idx = 0`.
/// - user 3 (3 steps): search, rec, search, all clicked.
fn fixed_step(u: u32, t: usize) -> Option<Option<Meta>> {
    let m = |slots, itype, click: Option<usize>| Meta {
        slots,
        len_field: slots as i64,
        itype,
        click_slot: click,
        click_outside: false,
        zero_click_idx: false,
    };
    Some(match (u, t) {
        (0, 2) => Some(m(6, 1, None)),
        (0, 3) => Some(m(8, 1, Some(4))),
        (0, 4) => Some(m(5, 1, Some(3))),
        (0, 5) => Some(m(4, 2, Some(1))),
        (0, _) => Some(m(3 + t % 5, 1, Some(1 + t % 2))),
        (1, t) if t < 7 => Some(m(3 + t, 1 + (t % 2) as i64, Some(1 + t % 3))),
        (1, _) => None,
        (2, 0) => Some(Meta {
            len_field: 26,
            ..m(SLOTS, 1, Some(10))
        }),
        (2, 1) => Some(Meta {
            zero_click_idx: true,
            ..m(9, 1, Some(4))
        }),
        (2, 2) => Some(Meta {
            len_field: 26,
            click_outside: true,
            zero_click_idx: true,
            ..m(SLOTS, 2, None)
        }),
        (3, t) if t < 3 => Some(m(4 + t, 1 + (t % 2) as i64, Some(1 + t))),
        (2 | 3, _) => None,
        _ => return None,
    })
}

impl Gen {
    #[inline]
    fn h(&self, u: u32, t: usize, k: usize, salt: u64) -> u64 {
        mix(
            mix(self.seed ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ u64::from(u))
                ^ ((t as u64) << 8 | k as u64),
        )
    }

    #[inline]
    fn unit(&self, u: u32, t: usize, k: usize, salt: u64) -> f64 {
        (self.h(u, t, k, salt) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn steps(&self, u: u32) -> usize {
        if self.unit(u, 0, 0, 1) < 0.65 {
            STEPS
        } else {
            1 + (self.h(u, 0, 0, 2) % (STEPS as u64 - 1)) as usize
        }
    }

    /// The shape of step `t` of user `u` (`PADDING` past the user's last step).
    fn meta(&self, u: u32, t: usize, steps: usize) -> Meta {
        if u < FIXED_USERS {
            return fixed_step(u, t).flatten().unwrap_or(PADDING);
        }
        if t >= steps {
            return PADDING;
        }
        let full = self.unit(u, t, 0, 3) < 0.04;
        let slots = if full {
            SLOTS
        } else {
            2 + (self.h(u, t, 0, 4) % 19) as usize
        };
        let itype = if self.unit(u, t, 0, 5) < 0.303 { 2 } else { 1 };
        let r = self.unit(u, t, 0, 6);
        let click_slot =
            (r >= 0.24).then(|| 1 + (self.h(u, t, 0, 7) % (slots as u64 - 1)) as usize);
        let long = full && self.unit(u, t, 0, 8) < 5e-4;
        let outside = long && click_slot.is_some() && self.unit(u, t, 0, 9) < 0.5;
        Meta {
            slots,
            len_field: if long { 26 } else { slots as i64 },
            itype,
            click_slot: if outside { None } else { click_slot },
            click_outside: outside,
            zero_click_idx: outside || (click_slot.is_some() && self.unit(u, t, 0, 10) < 1e-4),
        }
    }

    /// The item in slot `k` (>= 1) of step `t`: `<UNK>` about 1% of the time, else a real
    /// item with a skewed (popular-first) distribution.
    #[inline]
    fn slot(&self, u: u32, t: usize, k: usize) -> i64 {
        if u == 0 && t == 3 && (k == 2 || k == 5) || u == 0 && t == 4 && k == 3 {
            return 2;
        }
        let x = self.h(u, t, k, 11);
        if x.is_multiple_of(100) {
            return 2;
        }
        let f = (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        3 + ((f * f * self.items as f64) as i64).min(self.items as i64 - 1)
    }

    fn click(&self, u: u32, t: usize, m: &Meta) -> (i64, i64) {
        if m.slots == 0 {
            return (0, 0);
        }
        if m.click_outside {
            return (3 + (self.h(u, t, 0, 12) % self.items) as i64, 0);
        }
        match m.click_slot {
            None => (1, 0),
            Some(k) => (
                self.slot(u, t, k),
                if m.zero_click_idx { 0 } else { k as i64 },
            ),
        }
    }
}

/// Python's `json.dumps` string with `ensure_ascii=True`.
pub fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const MAINS: &[&str] = &["BAP", "MOTOR", "REAL_ESTATE", "BOAT", "JOB", "TRAVEL"];
const SUBS: &[&str] = &[
    "antiques",
    "",
    "furniture",
    "clothes",
    "sports",
    "electronics",
    "cars",
];
const REGIONS: &[&str] = &[
    "Trøndelag",
    "Sogn og Fjordane",
    "Møre og Romsdal",
    "Østfold",
    "Oslo",
    "Akershus",
    "Hordaland",
    "Rogaland",
    "Nordland",
    "Troms",
    "Finnmark",
    "Vestfold",
    "Telemark",
    "Buskerud",
    "Oppland",
    "Hedmark",
    "Aust-Agder",
    "Vest-Agder",
];
/// Categories 3..=289 (290 with the three specials), as in the real `ind2val.json`.
pub const CATEGORIES: usize = 290;

/// The category names, index = category id.
pub fn category_names() -> Vec<String> {
    let mut names = vec!["PAD".to_owned(), "noClick".into(), "<UNK>".into()];
    names.push("BAP,antiques,Trøndelag".into());
    names.push("MOTOR,,Sogn og Fjordane".into());
    'outer: for r in REGIONS {
        for m in MAINS {
            for s in SUBS {
                if names.len() == CATEGORIES {
                    break 'outer;
                }
                let n = format!("{m},{s},{r}");
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
}

/// `ind2val.json` as Python's `json.dump` writes it (one line, `", "` and `": "`).
pub fn ind2val_json() -> String {
    let cats: Vec<String> = category_names()
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"{i}\": {}", py_json_str(n)))
        .collect();
    format!(
        "{{\"category\": {{{}}}, \"interaction_type\": {{\"1\": \"search\", \"2\": \"rec\", \"0\": \"<UNK>\"}}}}",
        cats.join(", ")
    )
}

/// The category of item `i` (ids 0-2 are their own category).
fn category_of(seed: u64, i: u64) -> u64 {
    if i < 3 {
        i
    } else {
        3 + mix(seed ^ 0x00ca_7e60 ^ mix(i)) % (CATEGORIES as u64 - 3)
    }
}

/// Streams one member: `fill(first_user, users, out)` appends the values of a block of users.
fn member<W: Write + std::io::Seek>(
    z: &mut NpzWriter<W>,
    key: &str,
    dtype: DType,
    layout: Layout,
    shape: &[usize],
    mut fill: impl FnMut(u32, u32, &mut Vec<i64>),
) -> Result<()> {
    let method = if layout.stored {
        Method::Stored
    } else {
        Method::Deflate
    };
    let mut w = z.member(key, method)?;
    let users = shape[0] as u32;
    let mut vals = Vec::new();
    if layout.fortran && shape.len() > 1 {
        fill(0, users, &mut vals);
        w.write_all(&npy_bytes(dtype, true, shape, &vals))?;
        return Ok(w.finish()?);
    }
    w.write_all(&npy_header(dtype, false, shape))?;
    let block = 4096u32;
    let mut bytes = Vec::new();
    let mut u = 0;
    while u < users {
        let n = block.min(users - u);
        vals.clear();
        fill(u, n, &mut vals);
        bytes.clear();
        match (dtype.size, dtype.big_endian) {
            (4, false) => bytes.extend(vals.iter().flat_map(|v| (*v as i32).to_le_bytes())),
            (4, true) => bytes.extend(vals.iter().flat_map(|v| (*v as i32).to_be_bytes())),
            (_, false) => bytes.extend(vals.iter().flat_map(|v| v.to_le_bytes())),
            (_, true) => bytes.extend(vals.iter().flat_map(|v| v.to_be_bytes())),
        }
        w.write_all(&bytes)?;
        u += n;
    }
    Ok(w.finish()?)
}

/// A member filler for the (users, steps) arrays: `f(user, step, meta)` per step.
fn per_step<'a>(
    g: &'a Gen,
    steps: &'a [u8],
    f: impl Fn(u32, usize, &Meta) -> i64 + 'a,
) -> impl FnMut(u32, u32, &mut Vec<i64>) + 'a {
    move |a, n, v| {
        for u in a..a + n {
            for t in 0..STEPS {
                v.push(f(u, t, &g.meta(u, t, steps[u as usize] as usize)));
            }
        }
    }
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let g = Gen {
        seed: o.seed,
        items: o.n_items(),
    };
    let users = o.users;
    let mut dtype = if o.layout.int64 { DType::I8 } else { DType::I4 };
    if o.layout.big_endian {
        dtype = dtype.big_endian();
    }
    let steps: Vec<u8> = (0..users).map(|u| g.steps(u) as u8).collect();
    let mut s = Summary {
        users,
        items: g.items,
        steps: u64::from(users) * STEPS as u64,
        ..Default::default()
    };
    for u in 0..users {
        for t in 0..STEPS {
            let m = g.meta(u, t, steps[u as usize] as usize);
            if m.slots == 0 {
                s.padding_steps += 1;
                continue;
            }
            s.real_steps += 1;
            let (c, idx) = g.click(u, t, &m);
            match c {
                1 => s.no_click_steps += 1,
                2 => s.unk_clicks += 1,
                _ => s.clicks += 1,
            }
            s.slate_lengths_26 += u64::from(m.len_field == 26);
            if c >= 3 && (m.click_outside || m.click_slot != Some(idx as usize)) {
                s.wrong_click_idx += 1;
            }
        }
    }

    let f = fs_err::File::create(out.join(DATA_FILE))?;
    let mut z = NpzWriter::new(BufWriter::with_capacity(1 << 20, f), o.level);
    let (u_, t_, s_) = (users as usize, STEPS, SLOTS);
    let l = o.layout;
    member(&mut z, "userId", dtype, l, &[u_], |a, n, v| {
        v.extend((a..a + n).map(i64::from))
    })?;
    member(
        &mut z,
        "click",
        dtype,
        l,
        &[u_, t_],
        per_step(&g, &steps, |u, t, m| g.click(u, t, m).0),
    )?;
    member(
        &mut z,
        "click_idx",
        dtype,
        l,
        &[u_, t_],
        per_step(&g, &steps, |u, t, m| g.click(u, t, m).1),
    )?;
    member(
        &mut z,
        "slate_lengths",
        dtype,
        l,
        &[u_, t_],
        per_step(&g, &steps, |_, _, m| m.len_field),
    )?;
    member(&mut z, "slate", dtype, l, &[u_, t_, s_], |a, n, v| {
        for u in a..a + n {
            for t in 0..STEPS {
                let m = g.meta(u, t, steps[u as usize] as usize);
                if m.slots == 0 {
                    v.extend([0i64; SLOTS]);
                    continue;
                }
                v.push(1);
                for k in 1..SLOTS {
                    v.push(if k < m.slots { g.slot(u, t, k) } else { 0 });
                }
            }
        }
    })?;
    member(
        &mut z,
        "interaction_type",
        dtype,
        l,
        &[u_, t_],
        per_step(&g, &steps, |_, _, m| m.itype),
    )?;
    let mut w = z.finish()?;
    w.flush()?;
    drop(w);
    s.data_npz_bytes = fs_err::metadata(out.join(DATA_FILE))?.len();

    // itemattr.npz: `category` float64 over every item id (0, 1, 2 are 0., 1., 2.).
    let f = fs_err::File::create(out.join(ITEMATTR_FILE))?;
    let mut z = NpzWriter::new(BufWriter::new(f), o.level);
    let n = (g.items + 3) as usize;
    let fdt = if l.big_endian {
        DType::F8.big_endian()
    } else {
        DType::new(Kind::Float, 8)
    };
    {
        let mut w = z.member("category", Method::Deflate)?;
        w.write_all(&npy_header(fdt, false, &[n]))?;
        let mut bytes = Vec::with_capacity(n * 8);
        for i in 0..n as u64 {
            let c = category_of(o.seed, i) as f64;
            bytes.extend_from_slice(&if l.big_endian {
                c.to_be_bytes()
            } else {
                c.to_le_bytes()
            });
        }
        w.write_all(&bytes)?;
        w.finish()?;
    }
    z.finish()?.flush()?;
    fs_err::write(out.join(IND2VAL_FILE), ind2val_json())?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_like_python() {
        assert_eq!(py_json_str("Trøndelag"), "\"Tr\\u00f8ndelag\"");
        assert_eq!(py_json_str("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(py_json_str("𝄞"), "\"\\ud834\\udd1e\"");
        let j = ind2val_json();
        assert!(j.starts_with(
            "{\"category\": {\"0\": \"PAD\", \"1\": \"noClick\", \"2\": \"<UNK>\", \"3\": \"BAP,antiques,Tr\\u00f8ndelag\", \"4\": \"MOTOR,,Sogn og Fjordane\""
        ));
        assert!(j.is_ascii());
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["category"].as_object().unwrap().len(), CATEGORIES);
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let s1 = write(a.path(), &Options::new(30, 4)).unwrap();
        write(b.path(), &Options::new(30, 4)).unwrap();
        for f in [DATA_FILE, ITEMATTR_FILE, IND2VAL_FILE] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap(),
                "{f}"
            );
        }
        assert_eq!(s1.slate_lengths_26, 2);
        assert!(s1.unk_clicks >= 1 && s1.no_click_steps >= 1 && s1.padding_steps > 0);
        assert!(s1.wrong_click_idx >= 2);
        let c = tempfile::tempdir().unwrap();
        write(c.path(), &Options::new(30, 5)).unwrap();
        assert_ne!(
            std::fs::read(a.path().join(DATA_FILE)).unwrap(),
            std::fs::read(c.path().join(DATA_FILE)).unwrap()
        );
    }
}
