//! D3, limited dependence on long histories (spec B6): the order-sufficiency curve — TGH-1
//! (last item) vs TGH-2 (last two) vs TGH-1 anchored on the mean of the last n history
//! embeddings (`last_n`, up to the whole history) — and the shuffle test on 2-gram and 3-gram
//! sequential rules.

use rayon::prelude::*;

use super::data::{Dataset, Split};
use super::graph::{Graph, Rings};
use super::rank::{Hits, Query};
use super::tgh::{self, Params, TieBreak, splitmix64};
use crate::util::linalg;
use crate::util::rng::Rng;

/// Rules need this many occurrences …
pub const MIN_SUPPORT: u32 = 5;
/// … and this share (as 1/10) of the transitions out of their antecedent.
pub const MIN_CONFIDENCE: f64 = 0.1;

/// `support ≥ 5` and `confidence = support / antecedent total ≥ 0.1`, in integers.
fn is_rule(count: u64, total: u64) -> bool {
    count >= u64::from(MIN_SUPPORT) && 10 * count >= total
}

/// 2-gram rules a → b of a transition graph.
pub fn rules2(g: &Graph) -> u64 {
    (0..g.n_items as u32)
        .map(|a| {
            let (_, c) = g.out(a);
            let total: u64 = c.iter().map(|&x| u64::from(x)).sum();
            c.iter().filter(|&&x| is_rule(u64::from(x), total)).count() as u64
        })
        .sum()
}

/// 3-gram rules (a, b) → c over the consecutive triples of every user's sequence in `s`; `g`
/// is the graph of the same sequences (its edges index the (a, b) prefixes). The confidence's
/// denominator is the number of triples starting with (a, b).
pub fn rules3(s: &Split, g: &Graph, n_users: usize) -> u64 {
    let edges = g.edges();
    let edge_of = |a: u32, b: u32| -> usize {
        let (succ, _) = g.out(a);
        g.off[a as usize]
            + succ
                .binary_search(&b)
                .expect("every consecutive pair of the sequences is an edge of their graph")
    };
    // Counting sort of the triples' last items by prefix edge.
    let mut off = vec![0usize; edges + 1];
    for u in 0..n_users {
        for w in s.items_of(u).windows(3) {
            off[edge_of(w[0], w[1]) + 1] += 1;
        }
    }
    for e in 0..edges {
        off[e + 1] += off[e];
    }
    let total = off[edges];
    if total == 0 {
        return 0;
    }
    let mut fill = off.clone();
    let mut last = vec![0u32; total];
    for u in 0..n_users {
        for w in s.items_of(u).windows(3) {
            let e = edge_of(w[0], w[1]);
            last[fill[e]] = w[2];
            fill[e] += 1;
        }
    }
    drop(fill);
    // ~64 pieces of whole prefix buckets, counted in parallel.
    let mut pieces: Vec<(&mut [u32], usize, usize)> = Vec::new();
    let step = total.div_ceil(64).max(1);
    let mut rest: &mut [u32] = &mut last;
    let (mut e0, mut at) = (0usize, 0usize);
    while e0 < edges {
        let mut e1 = e0 + 1;
        while e1 < edges && off[e1] - at < step {
            e1 += 1;
        }
        let (head, tail) = rest.split_at_mut(off[e1] - at);
        pieces.push((head, e0, e1));
        rest = tail;
        at = off[e1];
        e0 = e1;
    }
    pieces
        .into_par_iter()
        .map(|(buf, e0, e1)| {
            let base = off[e0];
            let mut rules = 0u64;
            for e in e0..e1 {
                let bucket = &mut buf[off[e] - base..off[e + 1] - base];
                bucket.sort_unstable();
                let n = bucket.len() as u64;
                let mut k = 0;
                while k < bucket.len() {
                    let mut j = k;
                    while j < bucket.len() && bucket[j] == bucket[k] {
                        j += 1;
                    }
                    rules += u64::from(is_rule((j - k) as u64, n));
                    k = j;
                }
            }
            rules
        })
        .sum()
}

/// The training sequences shuffled per user: Fisher–Yates with the generator of
/// `splitmix64(seed ^ user)`.
pub fn shuffled(train: &Split, n_users: usize, seed: u64) -> Split {
    let mut s = Split {
        item: train.item.clone(),
        ts: Vec::new(),
        off: train.off.clone(),
    };
    let mut slices: Vec<&mut [u32]> = Vec::with_capacity(n_users);
    let mut rest: &mut [u32] = &mut s.item;
    for u in 0..n_users {
        let (a, b) = rest.split_at_mut(train.off[u + 1] - train.off[u]);
        slices.push(a);
        rest = b;
    }
    slices.into_par_iter().enumerate().for_each(|(u, sl)| {
        Rng::new(splitmix64(seed ^ u as u64)).shuffle(sl);
    });
    s
}

/// Rule counts on the original and the shuffled training sequences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShuffleTest {
    pub rules2: u64,
    pub rules2_shuffled: u64,
    pub rules3: u64,
    pub rules3_shuffled: u64,
}

pub fn shuffle_test(ds: &Dataset, g: &Graph, seed: u64) -> ShuffleTest {
    let sh = shuffled(&ds.train, ds.n_users, seed);
    let gs = Graph::build(&sh, ds.n_users, ds.n_items);
    ShuffleTest {
        rules2: rules2(g),
        rules2_shuffled: rules2(&gs),
        rules3: rules3(&ds.train, g, ds.n_users),
        rules3_shuffled: rules3(&sh, &gs, ds.n_users),
    }
}

/// The test queries the order-sufficiency curve is evaluated on: all when there are at most
/// `k`, else the `k` users with the smallest `(splitmix64(seed ^ user), user)`; as ascending
/// indices into `qs`.
pub fn curve_sample(qs: &[Query], k: usize, seed: u64) -> Vec<usize> {
    if qs.len() <= k {
        return (0..qs.len()).collect();
    }
    let mut idx: Vec<usize> = (0..qs.len()).collect();
    idx.sort_unstable_by_key(|&i| (splitmix64(seed ^ u64::from(qs[i].user)), qs[i].user));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// Rows of anchors scored against the catalogue per GEMM.
const BLOCK: usize = 64;

/// The anchor of `last n` history items (0: all): the f64 sum of their unit rows, normalised,
/// rounded to f32 (zero when the sum is zero).
pub fn anchor(e: &super::data::Embeddings, history: &[u32], n: usize) -> Vec<f32> {
    let take = if n == 0 {
        history.len()
    } else {
        n.min(history.len())
    };
    let mut sum = vec![0f64; e.dim];
    for &i in &history[history.len() - take..] {
        for (s, &x) in sum.iter_mut().zip(e.row(i)) {
            *s += f64::from(x);
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        sum.iter().map(|x| (x / norm) as f32).collect()
    } else {
        vec![0f32; e.dim]
    }
}

/// TGH-1 with the anchor of the last n history items (one entry of `p.last_n` each), on the
/// queries `sample` (indices into `qs`): rings, edge bonus and padding as TGH-1 around the
/// last item; only the cosine comes from the anchor. Hits per `p.last_n` entry, summed in
/// `sample` order; empty without embeddings (every cosine would be 0: TGH-1 itself).
pub fn last_n_hits(
    ds: &Dataset,
    g: &Graph,
    qs: &[Query],
    sample: &[usize],
    p: &Params,
) -> Vec<Hits> {
    let Some(e) = ds.embeddings.as_ref() else {
        return Vec::new();
    };
    let nv = p.last_n.len();
    if nv == 0 {
        return Vec::new();
    }
    let n = ds.n_items;
    let depth = p.tgh1_hops.len();
    // (position in sample, variant), grouped by source so that blocks share rings.
    let mut rows: Vec<(u32, u16)> = (0..sample.len() as u32)
        .flat_map(|k| (0..nv as u16).map(move |v| (k, v)))
        .collect();
    rows.sort_by_key(|&(k, v)| (qs[sample[k as usize]].src, k, v));
    let ranks: Vec<Vec<(u32, u16, Option<usize>)>> = rows
        .par_chunks(BLOCK)
        .map_init(
            || (Rings::new(n), None::<u32>),
            |(rings, ring_src), block| {
                let mut hist: Option<(u32, Vec<u32>)> = None;
                let mut a = Vec::with_capacity(block.len() * e.dim);
                for &(k, v) in block {
                    let q = &qs[sample[k as usize]];
                    if hist.as_ref().is_none_or(|h| h.0 != q.user) {
                        hist = Some((q.user, ds.history(q.user as usize).0));
                    }
                    let h = &hist.as_ref().expect("set above").1;
                    a.extend(anchor(e, h, p.last_n[v as usize]));
                }
                let mut scores = vec![0f32; block.len() * n];
                linalg::dots(&a, block.len(), e.dim, &e.data, n, &mut scores);
                block
                    .iter()
                    .enumerate()
                    .map(|(r, &(k, v))| {
                        let q = &qs[sample[k as usize]];
                        if *ring_src != Some(q.src) {
                            rings.compute(g, q.src, depth);
                            *ring_src = Some(q.src);
                        }
                        let row = &scores[r * n..(r + 1) * n];
                        let cos = |i: u32| f64::from(row[i as usize]);
                        let tops = tgh::ring_tops(g, rings, q.src, depth, p, TieBreak::Id, cos);
                        let list = tgh::tgh1(&tops, p, &g.nodes, q.user, n);
                        (k, v, list.iter().position(|&i| i == q.target))
                    })
                    .collect()
            },
        )
        .collect();
    let mut at = vec![None; sample.len() * nv];
    for (k, v, pos) in ranks.into_iter().flatten() {
        at[k as usize * nv + v as usize] = pos;
    }
    let mut hits = vec![Hits::default(); nv];
    for (slot, pos) in at.into_iter().enumerate() {
        hits[slot % nv].add_rank(pos.map(|p| p + 1));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(per_user: &[&[u32]]) -> Split {
        Split::from_sequences(per_user)
    }

    #[test]
    fn rules_by_hand() {
        // 0→1 six times with 1→2 after it five times and 1→3 once; 0→4 once.
        let mut seqs: Vec<Vec<u32>> = vec![vec![0, 1, 2]; 5];
        seqs.push(vec![0, 1, 3]);
        seqs.push(vec![0, 4]);
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let s = split(&refs);
        let g = Graph::build(&s, refs.len(), 5);
        // 2-grams: 0→1 (6 of 7), 1→2 (5 of 6) are rules; 1→3, 0→4 lack support.
        assert_eq!(rules2(&g), 2);
        // 3-grams: (0,1)→2 has 5 of 6; (0,1)→3 has 1.
        assert_eq!(rules3(&s, &g, refs.len()), 1);
        // Confidence: 5 of 51 (< 0.1) is not a rule, 5 of 50 is.
        let mut seqs: Vec<Vec<u32>> = vec![vec![0, 1]; 5];
        seqs.extend(std::iter::repeat_n(vec![0, 2], 45));
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let g = Graph::build(&split(&refs), refs.len(), 3);
        assert_eq!(rules2(&g), 2);
        seqs.push(vec![0, 2]);
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let g = Graph::build(&split(&refs), refs.len(), 3);
        assert_eq!(rules2(&g), 1);
    }

    #[test]
    fn shuffle_is_per_user_and_seeded() {
        let s = split(&[&[0, 1, 2, 3, 4, 5], &[6, 7, 8]]);
        let a = shuffled(&s, 2, 42);
        assert_eq!(a.off, s.off);
        let mut u0 = a.items_of(0).to_vec();
        u0.sort_unstable();
        assert_eq!(u0, vec![0, 1, 2, 3, 4, 5]);
        let mut want = vec![6u32, 7, 8];
        Rng::new(splitmix64(42 ^ 1)).shuffle(&mut want);
        assert_eq!(a.items_of(1), want.as_slice());
        assert_eq!(shuffled(&s, 2, 42).item, a.item);
    }

    #[test]
    fn anchor_is_the_normalised_mean_of_the_last_n() {
        let e = super::super::data::Embeddings {
            name: "e".into(),
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
            present: 3,
        };
        let h = [0u32, 1, 2];
        assert_eq!(anchor(&e, &h, 1), vec![0.6, 0.8]);
        // Last 2: (0, 1) + (0.6, 0.8) = (0.6, 1.8), normalised.
        let a = anchor(&e, &h, 2);
        let norm = 0.6f64.hypot(1.8);
        assert!((f64::from(a[0]) - 0.6 / norm).abs() < 1e-6);
        assert!((f64::from(a[1]) - 1.8 / norm).abs() < 1e-6);
        // All: (1.6, 1.8) normalised; n larger than the history is the whole history.
        let all = anchor(&e, &h, 0);
        assert_eq!(all, anchor(&e, &h, 10));
        let norm = 1.6f64.hypot(1.8);
        assert!((f64::from(all[0]) - 1.6 / norm).abs() < 1e-6);
    }

    #[test]
    fn curve_sample_is_seeded_by_user() {
        let qs: Vec<Query> = (0..50u32)
            .map(|u| Query {
                user: u * 3,
                src: 0,
                src3: 0,
                target: 0,
                target_ts: None,
                history_len: 2,
                target_in_history: false,
            })
            .collect();
        assert_eq!(curve_sample(&qs, 100, 42).len(), 50);
        let s = curve_sample(&qs, 10, 42);
        assert_eq!(s.len(), 10);
        let mut keys: Vec<(u64, u32)> = qs
            .iter()
            .map(|q| (splitmix64(42 ^ u64::from(q.user)), q.user))
            .collect();
        keys.sort_unstable();
        let mut want: Vec<u32> = keys[..10].iter().map(|k| k.1).collect();
        want.sort_unstable();
        assert_eq!(s.iter().map(|&i| qs[i].user).collect::<Vec<_>>(), want);
    }
}
