//! Dense codes for raw ids, in order of first appearance: the hot path of every adapter's
//! parse (one lookup per id per row).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashTable};

/// Interns byte strings to dense codes in order of first appearance. Canonical decimal keys
/// (most corpora's ids: digits, no leading zero) are looked up by value, which avoids hashing
/// and storing the bytes; `"012"` is not canonical and stays distinct from `"12"`.
///
/// Other keys live back to back in one arena, not one allocation each: Last.fm's million
/// track MBIDs were a million `Box<[u8]>`s per parsing thread, and freeing them and the merged
/// copies cost a second and a half of one core after the parse.
#[derive(Default)]
pub(crate) struct Interner {
    bytes: HashTable<ByteKey>,
    arena: Vec<u8>,
    nums: HashMap<u64, u32, FixedState>,
    /// Codes of small numeric keys by value (`u32::MAX`: not seen): one load instead of a hash
    /// probe. Real ids are mostly small dense numbers (MicroLens' million users), and a hash
    /// table of a million keys misses the cache twice per lookup — measured at 80 % of the
    /// MicroLens pairs parse.
    direct: Vec<u32>,
    /// The display form of each code's key (what the tables call `raw_id`).
    pub keys: Vec<String>,
}

/// A byte key's place in the arena and its code.
#[derive(Clone, Copy)]
struct ByteKey {
    start: usize,
    len: u32,
    code: u32,
}

/// A key as the interner stores it: what [`Interner::absorb`] re-interns.
#[derive(Clone, Copy)]
enum Stored {
    Num(u64),
    Bytes(ByteKey),
}

/// Numeric keys below this go to [`Interner::direct`] (at most 16 MiB of codes).
const DIRECT_KEYS: u64 = 1 << 22;

/// The value of a canonical decimal: 1 to 19 ASCII digits without a leading zero (or `0`).
#[inline]
pub fn canonical_decimal(b: &[u8]) -> Option<u64> {
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    super::text::parse_uint(b)
}

#[inline]
fn hash(b: &[u8]) -> u64 {
    FixedState::default().hash_one(b)
}

impl Interner {
    /// Returns the code and whether the key is new; `display` makes the key's `raw_id` once.
    #[inline]
    pub fn intern(&mut self, key: &[u8], display: impl FnOnce() -> String) -> (u32, bool) {
        match canonical_decimal(key) {
            Some(v) => self.intern_num(v, display),
            None => self.intern_bytes(key, display),
        }
    }

    /// The code of a key interned before, if any.
    #[cfg(test)]
    fn get(&self, key: &[u8]) -> Option<u32> {
        match canonical_decimal(key) {
            Some(v) if v < DIRECT_KEYS => self
                .direct
                .get(v as usize)
                .copied()
                .filter(|&c| c != u32::MAX),
            Some(v) => self.nums.get(&v).copied(),
            None => {
                let arena = &self.arena;
                self.bytes
                    .find(hash(key), |e| Self::is(arena, e, key))
                    .map(|e| e.code)
            }
        }
    }

    #[inline]
    fn is(arena: &[u8], e: &ByteKey, key: &[u8]) -> bool {
        e.len as usize == key.len() && &arena[e.start..e.start + key.len()] == key
    }

    #[inline]
    fn intern_num(&mut self, v: u64, display: impl FnOnce() -> String) -> (u32, bool) {
        let next = self.keys.len() as u32;
        if v < DIRECT_KEYS {
            let v = v as usize;
            if v >= self.direct.len() {
                // Doubling keeps growth amortized; the cap bounds the table.
                let len = (v + 1).max(self.direct.len() * 2).min(DIRECT_KEYS as usize);
                self.direct.resize(len, u32::MAX);
            }
            match self.direct[v] {
                u32::MAX => self.direct[v] = next,
                c => return (c, false),
            }
        } else {
            match self.nums.entry(v) {
                hashbrown::hash_map::Entry::Occupied(e) => return (*e.get(), false),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(next);
                }
            }
        }
        self.keys.push(display());
        (next, true)
    }

    #[inline]
    fn intern_bytes(&mut self, key: &[u8], display: impl FnOnce() -> String) -> (u32, bool) {
        let next = self.keys.len() as u32;
        let arena = &self.arena;
        let entry = self.bytes.entry(
            hash(key),
            |e| Self::is(arena, e, key),
            |e| hash(&arena[e.start..e.start + e.len as usize]),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => (e.get().code, false),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(ByteKey {
                    start: self.arena.len(),
                    len: key.len() as u32,
                    code: next,
                });
                self.arena.extend_from_slice(key);
                self.keys.push(display());
                (next, true)
            }
        }
    }

    /// Every stored key, indexed by its code.
    fn stored(&self) -> Vec<Stored> {
        let mut by_code = vec![Stored::Num(0); self.keys.len()];
        for (v, &c) in self.direct.iter().enumerate() {
            if c != u32::MAX {
                by_code[c as usize] = Stored::Num(v as u64);
            }
        }
        for (&v, &c) in &self.nums {
            by_code[c as usize] = Stored::Num(v);
        }
        for e in &self.bytes {
            by_code[e.code as usize] = Stored::Bytes(*e);
        }
        by_code
    }

    /// Interns every key of `part` (an interner of a later part of the same file) in its order
    /// and returns the code each of `part`'s codes becomes. A part's new keys all come after the
    /// earlier parts', so codes keep following first appearance; a key is new here exactly when
    /// its code is at least the number of keys before the call. Keys are matched as the part
    /// stored them (not by their display form), exactly as one sequential parse would; the
    /// part's display strings are moved, not copied.
    pub fn absorb(&mut self, part: Interner) -> Vec<u32> {
        if self.keys.is_empty() {
            let codes = (0..part.keys.len() as u32).collect();
            *self = part;
            return codes;
        }
        let stored = part.stored();
        stored
            .into_iter()
            .zip(part.keys)
            .map(|(k, display)| match k {
                Stored::Num(v) => self.intern_num(v, || display).0,
                Stored::Bytes(e) => {
                    let key = &part.arena[e.start..e.start + e.len as usize];
                    self.intern_bytes(key, || display).0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 12] = [
        "7",
        "007",
        "4194303",
        "4194304",
        "18446744073709551615",
        "123456789012345678901234",
        "0f8d1f4e-6b1c-4a3e-9e0b-2f1a6f7c9d10",
        "0F8D1F4E-6B1C-4A3E-9E0B-2F1A6F7C9D10",
        "0f8d1f4e-6b1c-4a3e-9e0b-2f1a6f7c9d1g",
        "0f8d1f4e06b1c-4a3e-9e0b-2f1a6f7c9d10",
        "user_000001",
        "",
    ];

    /// Every key shape gets one code per distinct key, whichever table holds it: small
    /// decimals (the direct table, both sides of its bound), large ones, and everything else
    /// (leading zeros, ids longer than a u64, text) as bytes — and equal-looking keys of
    /// different spellings stay apart.
    #[test]
    fn interner_keeps_every_key_shape_distinct_and_stable() {
        let mut i = Interner::default();
        let first: Vec<u32> = KEYS
            .iter()
            .map(|k| {
                let (c, new) = i.intern(k.as_bytes(), || (*k).to_owned());
                assert!(new, "{k}");
                c
            })
            .collect();
        assert_eq!(first, (0..KEYS.len() as u32).collect::<Vec<_>>());
        for (k, c) in KEYS.iter().zip(&first) {
            assert_eq!(
                i.intern(k.as_bytes(), || unreachable!()),
                (*c, false),
                "{k}"
            );
            assert_eq!(i.get(k.as_bytes()), Some(*c), "{k}");
        }
        assert_eq!(i.get(b"8"), None);
        assert_eq!(i.get(b"4194305"), None);
        assert_eq!(i.get(b"user_000002"), None);
        assert_eq!(i.keys, KEYS);
    }

    /// Absorbing parts gives the codes of one interner fed the parts' keys in order, for every
    /// key shape, including keys whose display differs from the stored bytes (Last.fm's
    /// tracks without an MBID) and parts that repeat earlier keys.
    #[test]
    fn absorbing_parts_equals_interning_them_in_order() {
        let parts: [&[&str]; 3] = [
            &KEYS[..5],
            &[KEYS[3], KEYS[6], "x", KEYS[0], KEYS[11], KEYS[5]],
            &KEYS[..],
        ];
        let shown = |k: &str| format!("<{k}>");
        let mut one = Interner::default();
        let mut want = Vec::new();
        let mut merged = Interner::default();
        let mut got = Vec::new();
        for part in parts {
            let mut p = Interner::default();
            let local: Vec<u32> = part
                .iter()
                .map(|k| p.intern(k.as_bytes(), || shown(k)).0)
                .collect();
            let map = merged.absorb(p);
            got.extend(local.iter().map(|&c| map[c as usize]));
            want.extend(part.iter().map(|k| one.intern(k.as_bytes(), || shown(k)).0));
        }
        assert_eq!(got, want);
        assert_eq!(merged.keys, one.keys);
        for k in KEYS {
            assert_eq!(merged.get(k.as_bytes()), one.get(k.as_bytes()), "{k}");
        }
    }
}
