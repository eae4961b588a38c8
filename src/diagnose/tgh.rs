//! The transition-graph heuristic (spec B2.3–B2.6, `tgh.py`): ring-by-ring candidates around
//! the last history items, ranked by item-feature cosine (plus an edge-weight bonus in ring 1),
//! assembled with overflow from inner rings, padded at random from the graph's nodes.

use crate::util::rng::Rng;

/// Edge-weight bonus in ring 1.
pub const ALPHA: f64 = 0.5;
pub const TOTAL_K: usize = 10;
pub const TGH1_HOPS: [usize; 3] = [7, 2, 1];
pub const TGH2_SRC2_HOPS: [usize; 2] = [5, 1];
pub const TGH2_SRC3_HOPS: [usize; 2] = [3, 1];
/// Seed of the random padding (`tgh.py`'s default); the generator is seeded with seed + user.
pub const SEED: u64 = 42;

/// How equal scores are ordered: by item id, or by a seeded hash of it (B2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    Id,
    Hash,
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
            TieBreak::Hash => splitmix64(SEED ^ u64::from(item)),
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
/// of `SEED + user`. The shuffle is simulated sparsely (only swapped positions are stored), so a
/// user costs O(deficit), not O(|pool|).
pub fn pad(list: &mut Vec<u32>, total: usize, pool: &[u32], user: u32) {
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
    let mut rng = Rng::new(SEED + u64::from(user));
    for i in 0..deficit {
        let j = i + rng.below((len - i) as u64) as usize;
        let vi = *swapped.get(&i).unwrap_or(&i);
        let vj = *swapped.get(&j).unwrap_or(&j);
        swapped.insert(i, vj);
        swapped.insert(j, vi);
        list.push(at(vj));
    }
}

/// Per source item: the top-`TOTAL_K` members of each ring (1..=3) in score order, for one
/// tie-break. Ring budgets of TGH-1 (10) and TGH-2 (6, and 4 after excluding ≤ 6 items) are
/// all prefixes of these lists.
#[derive(Debug, Clone, Default)]
pub struct SourceRings {
    pub top: Vec<Vec<u32>>,
}

/// TGH-1's list for a user whose last history item has rings `r`.
pub fn tgh1(r: &SourceRings, pool: &[u32], user: u32, n_items: usize) -> Vec<u32> {
    let k_take = TOTAL_K.min(n_items);
    let picks: Vec<Vec<u32>> = (0..TGH1_HOPS.len())
        .map(|h| {
            r.top
                .get(h)
                .map_or(Vec::new(), |t| t[..t.len().min(k_take)].to_vec())
        })
        .collect();
    let mut l = assemble(&picks, &TGH1_HOPS, TOTAL_K);
    pad(&mut l, TOTAL_K, pool, user);
    l
}

/// TGH-2's list: 6 around the last item (`r2`), then 4 around the one before (`r3`) without
/// the first 6, padded to 10.
pub fn tgh2(
    r2: &SourceRings,
    r3: Option<&SourceRings>,
    pool: &[u32],
    user: u32,
    n_items: usize,
) -> Vec<u32> {
    let budget2 = 6usize.min(n_items);
    let picks2: Vec<Vec<u32>> = (0..2)
        .map(|h| {
            r2.top
                .get(h)
                .map_or(Vec::new(), |t| t[..t.len().min(budget2)].to_vec())
        })
        .collect();
    let mut l = assemble(&picks2, &TGH2_SRC2_HOPS, 6);
    pad(&mut l, 6, pool, user);
    if let Some(r3) = r3 {
        let budget3 = 4usize.min(n_items);
        let picks3: Vec<Vec<u32>> = (0..2)
            .map(|h| {
                r3.top.get(h).map_or(Vec::new(), |t| {
                    t.iter()
                        .copied()
                        .filter(|x| !l.contains(x))
                        .take(budget3)
                        .collect()
                })
            })
            .collect();
        let more = assemble(&picks3, &TGH2_SRC3_HOPS, 4);
        l.extend(more);
    }
    pad(&mut l, TOTAL_K, pool, user);
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
            assemble(&picks, &TGH1_HOPS, 10),
            vec![10, 11, 12, 13, 14, 15, 16, 17, 20, 18]
        );
        // Easy path.
        let picks = vec![(0..10).collect(), (20..30).collect(), (30..40).collect()];
        assert_eq!(
            assemble(&picks, &TGH1_HOPS, 10),
            vec![0, 1, 2, 3, 4, 5, 6, 20, 21, 30]
        );
        // Too few everywhere: everything, in order, then the caller pads.
        let picks = vec![vec![1, 2], vec![], vec![3]];
        assert_eq!(assemble(&picks, &TGH1_HOPS, 10), vec![1, 2, 3]);
    }

    #[test]
    fn padding_is_seeded_per_user_and_skips_listed_items() {
        let pool: Vec<u32> = (0..50).collect();
        let mut a = vec![3, 4];
        pad(&mut a, 10, &pool, 7);
        let mut b = vec![3, 4];
        pad(&mut b, 10, &pool, 7);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        let mut s = a.clone();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 10, "no duplicates");
        let mut c = vec![3, 4];
        pad(&mut c, 10, &pool, 8);
        assert_ne!(a, c);
        let mut short = vec![1];
        pad(&mut short, 10, &[1, 2, 3], 0);
        assert_eq!(short.len(), 3);
        // The sparse shuffle equals a plain partial Fisher–Yates over the candidates.
        let listed = vec![5u32, 0, 49];
        let mut got = listed.clone();
        pad(&mut got, 10, &pool, 3);
        let mut cand: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|x| !listed.contains(x))
            .collect();
        let mut rng = Rng::new(SEED + 3);
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
