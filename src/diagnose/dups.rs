//! Duplicate images: exact copies (the same sha256) and near copies (perceptual hashes within a
//! Hamming distance), grouped into connected components. The group-aware split keeps each
//! component in one split; the media audit reports the components that straddle splits.
//!
//! Near pairs are found without comparing every pair: two 64-bit hashes within distance `t`
//! agree exactly on at least one of `t + 1` disjoint bit ranges (pigeonhole), so hashes are
//! bucketed by each range and only bucket-mates are compared (multi-index hashing).

use std::collections::HashMap;

/// Pairs of unit vectors with cosine >= `min_cos`: brute force over all pairs (i < j), so only
/// run on tables up to [`MAX_COSINE_IMAGES`] images.
pub fn cosine_pairs(vectors: &[Option<&[f32]>], min_cos: f32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (i, a) in vectors.iter().enumerate() {
        let Some(a) = a else { continue };
        for (j, b) in vectors.iter().enumerate().skip(i + 1) {
            let Some(b) = b else { continue };
            if a.iter().zip(b.iter()).map(|(x, y)| x * y).sum::<f32>() >= min_cos {
                out.push((i as u32, j as u32));
            }
        }
    }
    out
}

/// Above this many images the all-pairs cosine search is skipped (reported as not applicable).
pub const MAX_COSINE_IMAGES: usize = 20_000;

/// Perceptual-hash bits within which two images count as near copies unless a manifest says
/// otherwise. On the AgroSense-format fixture re-encoded (JPEG q60/q70) and half-size copies are
/// 0 to 2 bits from their originals and distinct pictures 22 or more apart; imagehash users
/// commonly take 5 to 10 as "similar".
pub const DEFAULT_NEAR_THRESHOLD: u32 = 8;

/// One image as the grouping sees it.
#[derive(Debug, Clone)]
pub struct Media<'a> {
    pub sha256: &'a str,
    /// `None`: the pixels did not decode (exact copies are still found).
    pub phash: Option<u64>,
}

/// Connected components over exact and (when asked) near copies.
#[derive(Debug, Clone)]
pub struct Groups {
    /// For every image, its component: the smallest index in it.
    pub root: Vec<u32>,
    /// For every image, the component of exact copies only (the smallest index with its sha256).
    pub exact_root: Vec<u32>,
    /// The largest perceptual distance of a near pair inside each component (by root; 0 when
    /// the component holds exact copies only).
    pub max_distance: HashMap<u32, u32>,
}

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let p = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = p;
            x = p;
        }
        x
    }

    /// Joins the two sets; the smaller index becomes the root, so roots are deterministic.
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.0[hi as usize] = lo;
        }
    }
}

/// The bit ranges of the pigeonhole: `t + 1` nearly equal slices of 64 bits.
fn ranges(t: u32) -> Vec<(u32, u32)> {
    let k = (t + 1).min(64);
    (0..k).map(|i| (i * 64 / k, (i + 1) * 64 / k)).collect()
}

fn slice(h: u64, (lo, hi): (u32, u32)) -> u64 {
    let width = hi - lo;
    if width == 64 {
        h
    } else {
        (h >> lo) & ((1u64 << width) - 1)
    }
}

/// Distinct perceptual hashes within `t` bits of each other: (a, b, distance) with a < b.
pub fn near_pairs(hashes: &[u64], t: u32) -> Vec<(u64, u64, u32)> {
    let mut uniq: Vec<u64> = hashes.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let rs = ranges(t);
    let mut out = Vec::new();
    for (ri, &r) in rs.iter().enumerate() {
        let mut buckets: HashMap<u64, Vec<u64>> = HashMap::new();
        for &h in &uniq {
            buckets.entry(slice(h, r)).or_default().push(h);
        }
        for b in buckets.values() {
            for (i, &a) in b.iter().enumerate() {
                for &c in &b[i + 1..] {
                    let d = (a ^ c).count_ones();
                    // Count each pair once: at the first range where the two agree.
                    if d <= t && rs[..ri].iter().all(|&q| slice(a, q) != slice(c, q)) {
                        out.push((a.min(c), a.max(c), d));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Groups `media` by exact copies and, with `near = Some(t)`, near copies within `t` bits.
pub fn group(media: &[Media<'_>], near: Option<u32>) -> Groups {
    group_with(media, near, &[])
}

/// [`group`], with further near pairs (indices into `media`) found some other way: embedding
/// cosine above a threshold. They join groups like perceptual-hash pairs (distance not counted).
pub fn group_with(media: &[Media<'_>], near: Option<u32>, extra: &[(u32, u32)]) -> Groups {
    let n = media.len();
    let mut exact = UnionFind((0..n as u32).collect());
    let mut first_by_sha: HashMap<&str, u32> = HashMap::new();
    for (i, m) in media.iter().enumerate() {
        match first_by_sha.get(m.sha256) {
            Some(&j) => exact.union(j, i as u32),
            None => {
                first_by_sha.insert(m.sha256, i as u32);
            }
        }
    }
    let exact_root: Vec<u32> = (0..n as u32).map(|i| exact.find(i)).collect();
    let mut all = UnionFind(exact_root.clone());
    let mut pair_distance: Vec<(u32, u32, u32)> = Vec::new();
    if let Some(t) = near {
        let hashes: Vec<u64> = media.iter().filter_map(|m| m.phash).collect();
        let mut by_hash: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, m) in media.iter().enumerate() {
            if let Some(h) = m.phash {
                by_hash.entry(h).or_default().push(i as u32);
            }
        }
        // Equal hashes (distance 0) with different bytes are near copies too.
        for ids in by_hash.values() {
            for w in ids.windows(2) {
                if exact_root[w[0] as usize] != exact_root[w[1] as usize] {
                    pair_distance.push((w[0], w[1], 0));
                }
                all.union(w[0], w[1]);
            }
        }
        for (a, b, d) in near_pairs(&hashes, t) {
            let (ia, ib) = (by_hash[&a][0], by_hash[&b][0]);
            all.union(ia, ib);
            pair_distance.push((ia, ib, d));
        }
    }
    for &(a, b) in extra {
        all.union(a, b);
    }
    let root: Vec<u32> = (0..n as u32).map(|i| all.find(i)).collect();
    let mut max_distance: HashMap<u32, u32> = HashMap::new();
    for &(a, _, d) in &pair_distance {
        let e = max_distance.entry(root[a as usize]).or_default();
        *e = (*e).max(d);
    }
    Groups {
        root,
        exact_root,
        max_distance,
    }
}

/// The members of every group, given each item's group root (as in [`Groups::root`]): index
/// lists in root order, singletons included.
pub fn members(root: &[u32]) -> std::collections::BTreeMap<u32, Vec<usize>> {
    let mut m: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &r) in root.iter().enumerate() {
        m.entry(r).or_default().push(i);
    }
    m
}

/// The groups with more than one member (the duplicate groups), in root order.
pub fn duplicate_groups(root: &[u32]) -> Vec<Vec<usize>> {
    members(root)
        .into_values()
        .filter(|m| m.len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_pairs_equal_brute_force() {
        let mut rng = crate::util::rng::Rng::derive(7, "dups");
        let mut hashes: Vec<u64> = (0..400).map(|_| rng.next_u64()).collect();
        // Planted neighbours at 1..=10 bits.
        for k in 0..40 {
            let flips = 1 + k % 10;
            let mut h = hashes[k as usize];
            for b in 0..flips {
                h ^= 1 << ((b * 7 + k) % 64);
            }
            hashes.push(h);
        }
        for t in [0, 3, 8, 12] {
            let mut uniq = hashes.clone();
            uniq.sort_unstable();
            uniq.dedup();
            let mut brute = Vec::new();
            for (i, &a) in uniq.iter().enumerate() {
                for &b in &uniq[i + 1..] {
                    let d = (a ^ b).count_ones();
                    if d <= t {
                        brute.push((a.min(b), a.max(b), d));
                    }
                }
            }
            brute.sort_unstable();
            assert_eq!(near_pairs(&hashes, t), brute, "t = {t}");
        }
    }

    #[test]
    fn groups_join_exact_and_near_copies() {
        let m = |s: &'static str, h: Option<u64>| Media {
            sha256: s,
            phash: h,
        };
        let media = [
            m("a", Some(0b1111)),
            m("b", Some(0)),
            m("a", Some(0b1111)),
            m("c", Some(0b0111)),
            m("d", None),
            m("d", None),
            m("e", Some(u64::MAX)),
        ];
        let g = group(&media, None);
        assert_eq!(g.root, [0, 1, 0, 3, 4, 4, 6]);
        let g = group(&media, Some(1));
        assert_eq!(g.root, [0, 1, 0, 0, 4, 4, 6]);
        assert_eq!(g.exact_root, [0, 1, 0, 3, 4, 4, 6]);
        assert_eq!(g.max_distance[&0], 1);
        let g = group(&media, Some(4));
        assert_eq!(g.root, [0, 0, 0, 0, 4, 4, 6]);
    }
}
