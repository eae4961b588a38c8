//! Small, dependency-free helpers shared by every stage.

pub mod hash;
pub mod linalg;
pub mod lock;
pub mod rng;
pub mod rss;
pub mod time;

/// Asks the CPU to bring `p`'s cache line in without waiting for it: a hint with no effect on
/// results, for loops whose next lookups into a table larger than the cache are known a few
/// iterations ahead (a no-op where the architecture has no stable prefetch instruction).
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86_64's baseline, and a prefetch never dereferences: it
        // cannot fault whatever the address (here a live reference).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(p).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `table[code]` for each of `codes`, in order, each entry prefetched a few codes ahead: for
/// a table larger than the cache indexed in no order (a million user codes into a 4 MB map),
/// where every plain lookup would wait on memory in turn.
pub fn gather<'a>(codes: &'a [u32], table: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    const AHEAD: usize = 16;
    codes.iter().enumerate().map(move |(n, &c)| {
        if let Some(&a) = codes.get(n + AHEAD) {
            prefetch(&table[a as usize]);
        }
        table[c as usize]
    })
}

/// `s` cut to at most `max` characters, with how much was left out: values echoed in messages
/// (a 5 MB dataset name, a 6 MB path) must not make the message itself megabytes long.
pub fn clip(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} more characters)", n - max)
}

/// A path for a message, clipped like [`clip`].
pub fn shown(p: &std::path::Path) -> String {
    clip(&p.display().to_string(), 300)
}
