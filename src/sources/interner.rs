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

    /// Starts loading the table slot of key `v` (a parsed canonical decimal) into the cache, so
    /// that interning it a few rows later does not wait on memory. See [`KeyBatch`].
    #[inline]
    fn prefetch_num(&self, v: u64) {
        if let Some(slot) = self.direct.get(v as usize) {
            crate::util::prefetch(slot);
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
        let mut codes = Vec::with_capacity(stored.len());
        for (n, (k, display)) in stored.iter().zip(part.keys).enumerate() {
            // A part's keys are mostly new here and land all over the direct table: prefetched
            // a few keys ahead, like the parse's own lookups (see `KeyBatch`).
            if let Some(Stored::Num(v)) = stored.get(n + KeyBatch::LEN) {
                self.prefetch_num(*v);
            }
            codes.push(match *k {
                Stored::Num(v) => self.intern_num(v, || display).0,
                Stored::Bytes(e) => {
                    let key = &part.arena[e.start..e.start + e.len as usize];
                    self.intern_bytes(key, || display).0
                }
            });
        }
        codes
    }
}

/// A parsed key waiting in a [`KeyBatch`].
#[derive(Clone, Copy)]
enum Pending {
    Num(u64),
    /// A range of [`KeyBatch::scratch`].
    Bytes(u32, u32),
}

/// Keys of the next few rows, interned together after their table slots were prefetched.
///
/// One lookup per row into a table of a million keys waits on main memory: `perf annotate` put
/// three quarters of the MicroLens pairs parse on the load of the user's slot in the direct
/// table. The CPU overlaps only the misses of the two or three rows its reorder window holds;
/// a batch prefetches [`KeyBatch::LEN`] slots before the first lookup. Keys are interned in the
/// order they were pushed, so codes are exactly those of interning each row as it is parsed.
#[derive(Default)]
pub(crate) struct KeyBatch {
    keys: Vec<Pending>,
    /// The bytes of pending keys that are not canonical decimals (rare: kept, not prefetched).
    scratch: Vec<u8>,
}

impl KeyBatch {
    /// Rows between a key's prefetch and its lookup: enough misses in flight to cover the
    /// memory latency, few enough that the lines are still cached when they are used.
    const LEN: usize = 16;

    /// Queues `key` for `into`; when the batch is full, interns it onto the end of `codes`.
    /// A key's display form (its `raw_id`) is the key as text.
    #[inline]
    pub fn push(&mut self, into: &mut Interner, key: &[u8], codes: &mut Vec<u32>) {
        match canonical_decimal(key) {
            Some(v) => self.push_num(into, v, codes),
            None => {
                let start = self.scratch.len() as u32;
                self.scratch.extend_from_slice(key);
                self.keys
                    .push(Pending::Bytes(start, self.scratch.len() as u32));
                if self.keys.len() == Self::LEN {
                    self.flush(into, codes);
                }
            }
        }
    }

    /// [`KeyBatch::push`] for a key the caller already parsed: `v` is the value of a canonical
    /// decimal key (see [`canonical_decimal`]).
    #[inline]
    pub fn push_num(&mut self, into: &mut Interner, v: u64, codes: &mut Vec<u32>) {
        into.prefetch_num(v);
        self.keys.push(Pending::Num(v));
        if self.keys.len() == Self::LEN {
            self.flush(into, codes);
        }
    }

    /// Interns every queued key in order onto the end of `codes`; call it after the last push.
    pub fn flush(&mut self, into: &mut Interner, codes: &mut Vec<u32>) {
        for &k in &self.keys {
            let code = match k {
                Pending::Num(v) => into.intern_num(v, || v.to_string()).0,
                Pending::Bytes(a, b) => {
                    let key = &self.scratch[a as usize..b as usize];
                    into.intern_bytes(key, || String::from_utf8_lossy(key).into_owned())
                        .0
                }
            };
            codes.push(code);
        }
        self.keys.clear();
        self.scratch.clear();
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

    /// Keys interned through a batch (prefetched, interned a few rows late) get exactly the
    /// codes and display forms of interning each as it comes, for every key shape, batch
    /// boundaries anywhere, repeats inside one batch, and a final partial batch.
    #[test]
    fn batched_interning_equals_interning_each_key() {
        let mut keys: Vec<&str> = Vec::new();
        for k in 0..100 {
            keys.push(KEYS[(k * 7) % KEYS.len()]);
            keys.push(KEYS[k % 5]);
        }
        for n in [
            0,
            1,
            KeyBatch::LEN - 1,
            KeyBatch::LEN,
            KeyBatch::LEN + 1,
            keys.len(),
        ] {
            let mut one = Interner::default();
            let want: Vec<u32> = keys[..n]
                .iter()
                .map(|k| one.intern(k.as_bytes(), || (*k).to_owned()).0)
                .collect();
            let mut batched = Interner::default();
            let mut batch = KeyBatch::default();
            let mut got = Vec::new();
            for (pushed, k) in keys[..n].iter().enumerate() {
                batch.push(&mut batched, k.as_bytes(), &mut got);
                assert!(got.len() <= pushed + 1 && pushed + 1 - got.len() < KeyBatch::LEN);
            }
            batch.flush(&mut batched, &mut got);
            assert_eq!(got, want, "{n} keys");
            assert_eq!(batched.keys, one.keys, "{n} keys");
        }
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
