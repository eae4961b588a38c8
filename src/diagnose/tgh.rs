//! The transition-graph heuristic (spec B2.3–B2.6, `tgh.py`): ring-by-ring candidates around
//! the last history items, ranked by item-feature cosine (plus an edge-weight bonus in ring 1),
//! assembled with overflow from inner rings, padded at random from the graph's nodes.

use serde_json::{Value, json};

use super::graph::{Graph, Rings};
use crate::util::rng::Rng;

/// The heuristic's parameters (spec B2, B10; `[stages.diagnostics]` keys of the same names).
/// The defaults are `tgh.py`'s.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Params {
    /// Edge-weight bonus in ring 1 (`edge_weight_alpha`).
    pub alpha: f64,
    /// Length of every heuristic list (and the per-ring `k_take` of TGH-1).
    pub total_k: usize,
    /// TGH-1's per-ring budgets around the last history item (`hop_k`).
    pub tgh1_hops: Vec<usize>,
    /// TGH-2's per-ring budgets around the last history item (`src2_hop_k`).
    pub tgh2_src2_hops: Vec<usize>,
    /// TGH-2's per-ring budgets around the item before it (`src3_hop_k`).
    pub tgh2_src3_hops: Vec<usize>,
    /// Random padding (generator seeded with seed + user id), the `hash` tie-break key
    /// `splitmix64(seed ^ item)`, and the diagnostics' seeded samples.
    pub seed: u64,
    /// D3 anchors: TGH-1 with the anchor = normalised mean of the last n history embeddings
    /// (`last_n`); 0 stands for the whole history.
    pub last_n: Vec<usize>,
    /// Test users (a seeded sample) on which the `last_n` curve is evaluated.
    pub last_n_sample: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            alpha: 0.5,
            total_k: 10,
            tgh1_hops: vec![7, 2, 1],
            tgh2_src2_hops: vec![5, 1],
            tgh2_src3_hops: vec![3, 1],
            seed: 42,
            last_n: vec![3, 5, 0],
            last_n_sample: 10_000,
        }
    }
}

impl Params {
    /// Items TGH-2 takes around the last history item (6 by default).
    pub fn budget2(&self) -> usize {
        self.tgh2_src2_hops.iter().sum()
    }

    /// Items TGH-2 takes around the item before (4 by default).
    pub fn budget3(&self) -> usize {
        self.tgh2_src3_hops.iter().sum()
    }

    /// Ring members kept per ring and source: enough for TGH-1 (`total_k`) and for TGH-2's
    /// second source after excluding the first source's items.
    pub fn ring_top(&self) -> usize {
        self.total_k.max(self.budget2() + self.budget3())
    }

    /// Rings the assembly reads (`tgh.py` materialises `max(max_hops = 2, len(hop_k))`; rings
    /// past `len(hop_k)` only feed its optional semantic padding, which recdata does not run).
    pub fn depth(&self) -> usize {
        self.tgh1_hops
            .len()
            .max(self.tgh2_src2_hops.len())
            .max(self.tgh2_src3_hops.len())
    }

    /// The `last_n` entry as written in diagnostics.json (`"all"` for 0).
    pub fn last_n_label(n: usize) -> Value {
        if n == 0 { json!("all") } else { json!(n) }
    }

    /// `protocol.tgh` of diagnostics.json.
    pub fn json(&self) -> Value {
        json!({
            "alpha": self.alpha,
            "total_k": self.total_k,
            "tgh1_hops": self.tgh1_hops,
            "tgh2_src2_hops": self.tgh2_src2_hops,
            "tgh2_src3_hops": self.tgh2_src3_hops,
            "ring_depth": { "tgh1": self.tgh1_hops.len().max(2), "tgh2": self.tgh2_src2_hops.len().max(self.tgh2_src3_hops.len()).max(2) },
            "seed": self.seed,
            "last_n": self.last_n.iter().map(|&n| Self::last_n_label(n)).collect::<Vec<_>>(),
            "last_n_sample": self.last_n_sample,
            "semantic_pad": false,
            "padding": "xoshiro256** seeded with seed + user id (not Python's random)",
        })
    }
}

/// How equal scores are ordered: by item id, or by a seeded hash of it (B2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    Id,
    /// `splitmix64(seed ^ item_id)`.
    Hash(u64),
}

pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl TieBreak {
    pub fn key(self, item: u32) -> u64 {
        match self {
            TieBreak::Id => u64::from(item),
            TieBreak::Hash(seed) => splitmix64(seed ^ u64::from(item)),
        }
    }
}

/// The best `k` of scored items by (score desc, key asc), kept sorted; O(k) per insert.
pub struct TopK {
    k: usize,
    pub items: Vec<(f64, u64, u32)>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn before(a: &(f64, u64, u32), b: &(f64, u64, u32)) -> bool {
        a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    pub fn push(&mut self, score: f64, key: u64, item: u32) {
        let e = (score, key, item);
        if self.items.len() == self.k {
            match self.items.last() {
                Some(last) if Self::before(&e, last) => {}
                _ => return,
            }
        }
        let pos = self
            .items
            .iter()
            .position(|x| Self::before(&e, x))
            .unwrap_or(self.items.len());
        self.items.insert(pos, e);
        self.items.truncate(self.k);
    }

    pub fn ids(&self) -> Vec<u32> {
        self.items.iter().map(|x| x.2).collect()
    }
}

/// B2.5's assembly: `picks[h]` are ring h's valid picks in score order (at most the per-ring
/// budget each). An outer ring's deficit is filled first from the inner rings' surplus, placed
/// before its own picks; leftover surplus follows; the list is cut at `total`.
pub fn assemble(picks: &[Vec<u32>], hops: &[usize], total: usize) -> Vec<u32> {
    let mut result = Vec::with_capacity(total);
    let mut overflow: std::collections::VecDeque<u32> = Default::default();
    for (h, &want) in hops.iter().enumerate() {
        let p: &[u32] = picks.get(h).map_or(&[], |v| v.as_slice());
        let take = overflow.len().min(want.saturating_sub(p.len()));
        result.extend(overflow.drain(..take));
        let want = want - take;
        if p.is_empty() {
            continue;
        }
        let n = want.min(p.len());
        result.extend_from_slice(&p[..n]);
        overflow.extend(&p[n..]);
    }
    if result.len() < total {
        result.extend(overflow);
    }
    result.truncate(total);
    result
}

/// Appends random items of `pool` (ascending, the graph's nodes) not already in `list` until
/// it has `total` items: a partial Fisher–Yates draw over those candidates with the generator
/// of `seed + user`. The shuffle is simulated sparsely (only swapped positions are stored), so a
/// user costs O(deficit), not O(|pool|).
pub fn pad(list: &mut Vec<u32>, total: usize, pool: &[u32], user: u32, seed: u64) {
    if list.len() >= total {
        return;
    }
    let mut excluded: Vec<usize> = list
        .iter()
        .filter_map(|x| pool.binary_search(x).ok())
        .collect();
    excluded.sort_unstable();
    excluded.dedup();
    let len = pool.len() - excluded.len();
    let deficit = (total - list.len()).min(len);
    // Candidate index → pool index, skipping the excluded positions.
    let at = |c: usize| -> u32 {
        let mut p = c;
        for &e in &excluded {
            if e <= p {
                p += 1;
            }
        }
        pool[p]
    };
    let mut swapped: std::collections::HashMap<usize, usize> = Default::default();
    let mut rng = Rng::new(seed.wrapping_add(u64::from(user)));
    for i in 0..deficit {
        let j = i + rng.below((len - i) as u64) as usize;
        let vi = *swapped.get(&i).unwrap_or(&i);
        let vj = *swapped.get(&j).unwrap_or(&j);
        swapped.insert(i, vj);
        swapped.insert(j, vi);
        list.push(at(vj));
    }
}

/// Per anchor: the top [`Params::ring_top`] members of each ring (1..=depth) in score order,
/// for one tie-break. TGH-1's and TGH-2's per-ring budgets are prefixes of these lists (TGH-2's
/// second source after excluding at most `budget2` items).
#[derive(Debug, Clone, Default)]
pub struct SourceRings {
    pub top: Vec<Vec<u32>>,
}

/// The ring tops around source `s` (`rings` computed around `s` to at least `depth`): score =
/// `cos(i)` (the anchor's cosine) plus `alpha · EW[s, i]` in ring 1, ordered by (score desc,
/// tie key asc).
pub fn ring_tops(
    g: &Graph,
    rings: &Rings,
    s: u32,
    depth: usize,
    p: &Params,
    tb: TieBreak,
    cos: impl Fn(u32) -> f64,
) -> SourceRings {
    let (k, alpha) = (p.ring_top(), p.alpha);
    let (succ, counts) = g.out(s);
    let top = (1..=depth)
        .map(|h| {
            let mut t = TopK::new(k);
            if h == 1 {
                for (&b, &cnt) in succ.iter().zip(counts) {
                    t.push(cos(b) + alpha * g.edge_weight(s, cnt), tb.key(b), b);
                }
            } else {
                for &b in rings.ring(h) {
                    t.push(cos(b), tb.key(b), b);
                }
            }
            t.ids()
        })
        .collect();
    SourceRings { top }
}

/// TGH-1's list for a user whose last history item has rings `r`.
pub fn tgh1(r: &SourceRings, p: &Params, pool: &[u32], user: u32, n_items: usize) -> Vec<u32> {
    let k_take = p.total_k.min(n_items);
    let picks: Vec<Vec<u32>> = (0..p.tgh1_hops.len())
        .map(|h| {
            r.top
                .get(h)
                .map_or(Vec::new(), |t| t[..t.len().min(k_take)].to_vec())
        })
        .collect();
    let mut l = assemble(&picks, &p.tgh1_hops, p.total_k);
    pad(&mut l, p.total_k, pool, user, p.seed);
    l
}

/// TGH-2's list: `budget2` (6) around the last item (`r2`), padded to `budget2`, then
/// `budget3` (4) around the one before (`r3`) without the first ones, padded to `total_k`.
pub fn tgh2(
    r2: &SourceRings,
    r3: Option<&SourceRings>,
    p: &Params,
    pool: &[u32],
    user: u32,
    n_items: usize,
) -> Vec<u32> {
    let (b2, b3) = (p.budget2(), p.budget3());
    let take2 = b2.min(n_items);
    let picks2: Vec<Vec<u32>> = (0..p.tgh2_src2_hops.len())
        .map(|h| {
            r2.top
                .get(h)
                .map_or(Vec::new(), |t| t[..t.len().min(take2)].to_vec())
        })
        .collect();
    let mut l = assemble(&picks2, &p.tgh2_src2_hops, b2);
    pad(&mut l, b2, pool, user, p.seed);
    if let Some(r3) = r3 {
        let take3 = b3.min(n_items);
        let picks3: Vec<Vec<u32>> = (0..p.tgh2_src3_hops.len())
            .map(|h| {
                r3.top.get(h).map_or(Vec::new(), |t| {
                    t.iter()
                        .copied()
                        .filter(|x| !l.contains(x))
                        .take(take3)
                        .collect()
                })
            })
            .collect();
        let more = assemble(&picks3, &p.tgh2_src3_hops, b3);
        l.extend(more);
    }
    pad(&mut l, p.total_k, pool, user, p.seed);
    l.truncate(p.total_k);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembly_fills_outer_deficits_from_inner_surplus() {
        // Ring 1 has 9 picks, ring 2 one, ring 3 none: ring 1 gives 7 (2 overflow), ring 2 is
        // short by 1 and takes one overflow item first, ring 3 wants 1 and takes the last
        // overflow item.
        let picks = vec![vec![10, 11, 12, 13, 14, 15, 16, 17, 18], vec![20], vec![]];
        assert_eq!(
            assemble(&picks, &[7, 2, 1], 10),
            vec![10, 11, 12, 13, 14, 15, 16, 17, 20, 18]
        );
        // Easy path.
        let picks = vec![(0..10).collect(), (20..30).collect(), (30..40).collect()];
        assert_eq!(
            assemble(&picks, &[7, 2, 1], 10),
            vec![0, 1, 2, 3, 4, 5, 6, 20, 21, 30]
        );
        // Too few everywhere: everything, in order, then the caller pads.
        let picks = vec![vec![1, 2], vec![], vec![3]];
        assert_eq!(assemble(&picks, &[7, 2, 1], 10), vec![1, 2, 3]);
    }

    #[test]
    fn padding_is_seeded_per_user_and_skips_listed_items() {
        let pool: Vec<u32> = (0..50).collect();
        let mut a = vec![3, 4];
        pad(&mut a, 10, &pool, 7, 42);
        let mut b = vec![3, 4];
        pad(&mut b, 10, &pool, 7, 42);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        let mut s = a.clone();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 10, "no duplicates");
        let mut c = vec![3, 4];
        pad(&mut c, 10, &pool, 8, 42);
        assert_ne!(a, c);
        let mut short = vec![1];
        pad(&mut short, 10, &[1, 2, 3], 0, 42);
        assert_eq!(short.len(), 3);
        // The sparse shuffle equals a plain partial Fisher–Yates over the candidates.
        let listed = vec![5u32, 0, 49];
        let mut got = listed.clone();
        pad(&mut got, 10, &pool, 3, 42);
        let mut cand: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|x| !listed.contains(x))
            .collect();
        let mut rng = Rng::new(42 + 3);
        for i in 0..7 {
            let j = i + rng.below((cand.len() - i) as u64) as usize;
            cand.swap(i, j);
        }
        assert_eq!(&got[3..], &cand[..7]);
    }

    #[test]
    fn topk_orders_by_score_then_key() {
        let mut t = TopK::new(3);
        for (s, i) in [(0.5, 4u32), (0.9, 7), (0.5, 2), (0.1, 1), (0.9, 3)] {
            t.push(s, TieBreak::Id.key(i), i);
        }
        assert_eq!(t.ids(), vec![3, 7, 2]);
    }
}
