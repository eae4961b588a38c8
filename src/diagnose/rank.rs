//! Full-ranking evaluation of the heuristic and the baselines (spec B2, B7) for every test
//! user, parallel over source items.
//!
//! Every ranker's top-10 depends only on the user's last history item (`src`), except TGH-2
//! (also the item before) and the random padding (the user). So the expensive work — rings,
//! cosine scores against the whole catalogue (one GEMM per chunk of 64 sources), co-occurrence
//! counts — runs once per distinct source, and users only assemble and look up.

use rayon::prelude::*;

use super::data::Dataset;
use super::graph::{Graph, Rings};
use super::tgh::{self, Params, SourceRings, TieBreak, TopK};
use crate::util::linalg;
use crate::util::rng::Rng;

pub const KS: [usize; 3] = [1, 5, 10];
/// Items materialised per baseline ranking (every metric is @K ≤ 10).
const TOP: usize = 10;
/// Sources per GEMM chunk.
const CHUNK: usize = 64;
/// Users whose target's full semantic rank is computed (a seeded sample).
const RANK_SAMPLE: usize = 10_000;

/// One test query (docs/diagnostics.md).
#[derive(Debug, Clone)]
pub struct Query {
    pub user: u32,
    pub src: u32,
    pub src3: u32,
    pub target: u32,
    pub target_ts: Option<i64>,
    pub history_len: usize,
    pub target_in_history: bool,
}

pub fn queries(ds: &Dataset) -> (Vec<Query>, usize) {
    let per: Vec<Option<Option<Query>>> = (0..ds.n_users)
        .into_par_iter()
        .map(|u| {
            let t = ds.test.user_rows(u);
            if t.is_empty() {
                return None;
            }
            let (hist, _) = ds.history(u);
            if hist.len() < 2 {
                return Some(None);
            }
            let target = ds.test.item[t.start];
            Some(Some(Query {
                user: u as u32,
                src: hist[hist.len() - 1],
                src3: hist[hist.len() - 2],
                target,
                target_ts: ds.test.ts[t.start],
                history_len: hist.len(),
                target_in_history: hist.contains(&target),
            }))
        })
        .collect();
    let skipped = per.iter().filter(|p| matches!(p, Some(None))).count();
    (per.into_iter().flatten().flatten().collect(), skipped)
}

/// Training popularity and the popularity order (count desc, id asc) as a rank per item.
pub struct Popularity {
    pub count: Vec<u32>,
    pub rank: Vec<u32>,
    pub order: Vec<u32>,
}

impl Popularity {
    pub fn new(ds: &Dataset) -> Popularity {
        let mut count = vec![0u32; ds.n_items];
        for &i in &ds.train.item {
            count[i as usize] += 1;
        }
        // Candidates are the real items (a padding id 0 is never recommended).
        let mut order: Vec<u32> = (ds.item_base as u32..ds.n_items as u32).collect();
        order.sort_by(|&a, &b| count[b as usize].cmp(&count[a as usize]).then(a.cmp(&b)));
        let mut rank = vec![u32::MAX; ds.n_items];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Popularity { count, rank, order }
    }

    /// The first `k` items by popularity that `skip` rejects not, appended to `list`.
    fn fill(&self, list: &mut Vec<u32>, k: usize, skip: impl Fn(u32) -> bool) {
        for &i in &self.order {
            if list.len() >= k {
                break;
            }
            if !skip(i) && !list.contains(&i) {
                list.push(i);
            }
        }
    }
}

/// Binary user × item incidence of the training rows (distinct pairs), both ways.
pub struct Incidence {
    pub item_off: Vec<usize>,
    pub item_users: Vec<u32>,
    pub user_off: Vec<usize>,
    pub user_items: Vec<u32>,
}

impl Incidence {
    pub fn new(ds: &Dataset) -> Incidence {
        let mut user_off = Vec::with_capacity(ds.n_users + 1);
        user_off.push(0);
        let mut user_items = Vec::with_capacity(ds.train.rows());
        for u in 0..ds.n_users {
            let mut it = ds.train.items_of(u).to_vec();
            it.sort_unstable();
            it.dedup();
            user_items.extend(it);
            user_off.push(user_items.len());
        }
        let mut item_off = vec![0usize; ds.n_items + 1];
        for &i in &user_items {
            item_off[i as usize + 1] += 1;
        }
        for i in 0..ds.n_items {
            item_off[i + 1] += item_off[i];
        }
        let mut at = item_off.clone();
        let mut item_users = vec![0u32; user_items.len()];
        for u in 0..ds.n_users {
            for &i in &user_items[user_off[u]..user_off[u + 1]] {
                item_users[at[i as usize]] = u as u32;
                at[i as usize] += 1;
            }
        }
        Incidence {
            item_off,
            item_users,
            user_off,
            user_items,
        }
    }

    fn users_of(&self, i: u32) -> &[u32] {
        &self.item_users[self.item_off[i as usize]..self.item_off[i as usize + 1]]
    }

    fn items_of(&self, u: u32) -> &[u32] {
        &self.user_items[self.user_off[u as usize]..self.user_off[u as usize + 1]]
    }
}

/// What is computed once per source item.
#[derive(Debug, Clone, Default)]
pub struct PerSource {
    pub rings_id: SourceRings,
    pub rings_hash: SourceRings,
    pub markov: Vec<u32>,
    pub knn: Vec<u32>,
    pub embnn: Vec<u32>,
    pub out_degree: usize,
    /// Transition entropy at the source (nats).
    pub entropy: f64,
}

/// Per query: what the per-source pass found about its target.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetInfo {
    /// Ring of the target around `src` (0: not within 3 hops).
    pub ring: u8,
    /// 1 + items (other than src) with a higher cosine to src; sampled users only.
    pub semantic_rank: Option<u32>,
}

pub struct Ranked {
    pub per_source: Vec<PerSource>,
    /// Index into `per_source` by item (u32::MAX when the item is no source).
    pub source_index: Vec<u32>,
    pub target: Vec<TargetInfo>,
}

/// Rings computed per source: D1's ring coverage needs 3, the heuristic's hop lists their
/// length.
pub fn depth(p: &Params) -> usize {
    p.depth().max(3)
}

// Long on purpose: the hot loop of the diagnostics: all rankers scored in one pass per query
// source, sharing its neighbour buffers.
pub fn per_source_pass(
    ds: &Dataset,
    g: &Graph,
    pop: &Popularity,
    inc: &Incidence,
    qs: &[Query],
    p: &Params,
) -> Ranked {
    let n = ds.n_items;
    let depth = depth(p);
    let mut is_src = vec![false; n];
    for q in qs {
        is_src[q.src as usize] = true;
        is_src[q.src3 as usize] = true;
    }
    let sources: Vec<u32> = (0..n as u32).filter(|&i| is_src[i as usize]).collect();
    let mut source_index = vec![u32::MAX; n];
    for (k, &s) in sources.iter().enumerate() {
        source_index[s as usize] = k as u32;
    }
    // Queries grouped by src (as indices into qs), for target lookups during the pass.
    let mut by_src: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    for (qi, q) in qs.iter().enumerate() {
        by_src[source_index[q.src as usize] as usize].push(qi as u32);
    }
    let mut rng = Rng::derive(p.seed, "semantic-rank-sample");
    let mut ranked_q = vec![false; qs.len()];
    for i in linalg::sample(qs.len(), RANK_SAMPLE.min(qs.len()), &mut rng) {
        ranked_q[i] = true;
    }
    let emb = ds.embeddings.as_ref();
    type Chunk = (Vec<PerSource>, Vec<(u32, TargetInfo)>);
    let chunks: Vec<Chunk> = sources
        .par_chunks(CHUNK)
        .map_init(
            || (Rings::new(n), vec![0u32; n], Vec::<u32>::new()),
            |(rings, co, touched), chunk| {
                // Cosines of each source in the chunk against every item (rows of unit vectors).
                let scores: Vec<f32> = match emb {
                    Some(e) => {
                        let a: Vec<f32> = chunk
                            .iter()
                            .flat_map(|&s| e.row(s).iter().copied())
                            .collect();
                        let mut out = vec![0f32; chunk.len() * n];
                        linalg::dots(&a, chunk.len(), e.dim, &e.data, n, &mut out);
                        out
                    }
                    None => Vec::new(),
                };
                let mut outs = Vec::with_capacity(chunk.len());
                let mut infos = Vec::new();
                for (c, &s) in chunk.iter().enumerate() {
                    let cos = |i: u32| -> f64 {
                        if scores.is_empty() {
                            0.0
                        } else {
                            f64::from(scores[c * n + i as usize])
                        }
                    };
                    rings.compute(g, s, depth);
                    let (succ, counts) = g.out(s);
                    // TGH ring tops, both tie-breaks.
                    let rings_id = tgh::ring_tops(g, rings, s, p.depth(), p, TieBreak::Id, cos);
                    let rings_hash =
                        tgh::ring_tops(g, rings, s, p.depth(), p, TieBreak::Hash(p.seed), cos);
                    // Markov: ring 1 by (count desc, popularity), then popularity.
                    let mut t = TopK::new(TOP);
                    for (&b, &cnt) in succ.iter().zip(counts) {
                        t.push(f64::from(cnt), u64::from(pop.rank[b as usize]), b);
                    }
                    let mut markov = t.ids();
                    pop.fill(&mut markov, TOP, |i| succ.binary_search(&i).is_ok());
                    // Item-kNN: cosine of binary co-occurrence with the source.
                    touched.clear();
                    for &u in inc.users_of(s) {
                        for &j in inc.items_of(u) {
                            if co[j as usize] == 0 {
                                touched.push(j);
                            }
                            co[j as usize] += 1;
                        }
                    }
                    let ns = inc.users_of(s).len() as f64;
                    let mut t = TopK::new(TOP);
                    for &j in touched.iter() {
                        if j != s {
                            let nj = inc.users_of(j).len() as f64;
                            let sim = f64::from(co[j as usize]) / (ns * nj).sqrt();
                            t.push(sim, u64::from(pop.rank[j as usize]), j);
                        }
                    }
                    let mut knn = t.ids();
                    pop.fill(&mut knn, TOP, |i| i != s && co[i as usize] > 0);
                    for &j in touched.iter() {
                        co[j as usize] = 0;
                    }
                    // Embedding-NN: all items by cosine, the source last.
                    let embnn = if scores.is_empty() {
                        Vec::new()
                    } else {
                        let mut t = TopK::new(TOP);
                        for i in ds.item_base as u32..n as u32 {
                            if i != s {
                                t.push(cos(i), u64::from(pop.rank[i as usize]), i);
                            }
                        }
                        t.ids()
                    };
                    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
                    let entropy = if total > 0.0 {
                        -counts
                            .iter()
                            .map(|&c| {
                                let p = f64::from(c) / total;
                                p * p.ln()
                            })
                            .sum::<f64>()
                    } else {
                        0.0
                    };
                    let k = source_index[s as usize] as usize;
                    for &qi in &by_src[k] {
                        let q = &qs[qi as usize];
                        let ring = rings.ring_of(q.target).unwrap_or(0) as u8;
                        let semantic_rank =
                            (ranked_q[qi as usize] && !scores.is_empty()).then(|| {
                                let ct = cos(q.target);
                                1 + (0..n as u32).filter(|&i| i != s && cos(i) > ct).count() as u32
                            });
                        infos.push((
                            qi,
                            TargetInfo {
                                ring,
                                semantic_rank,
                            },
                        ));
                    }
                    outs.push(PerSource {
                        rings_id,
                        rings_hash,
                        markov,
                        knn,
                        embnn,
                        out_degree: succ.len(),
                        entropy,
                    });
                }
                (outs, infos)
            },
        )
        .collect();
    let mut per_source = Vec::with_capacity(sources.len());
    let mut target = vec![TargetInfo::default(); qs.len()];
    for (o, infos) in chunks {
        per_source.extend(o);
        for (qi, t) in infos {
            target[qi as usize] = t;
        }
    }
    Ranked {
        per_source,
        source_index,
        target,
    }
}

/// Recall and NDCG at 1, 5, 10 summed over users (divide by the user count).
#[derive(Debug, Clone, Copy, Default)]
pub struct Hits {
    pub recall: [f64; 3],
    pub ndcg: [f64; 3],
}

impl Hits {
    pub fn add_list(&mut self, list: &[u32], target: u32) {
        self.add_rank(list.iter().position(|&i| i == target).map(|p| p + 1));
    }

    /// Adds one user whose target is at 1-based `rank` (None: not in the list).
    pub fn add_rank(&mut self, rank: Option<usize>) {
        if let Some(rank) = rank {
            for (k, &cut) in KS.iter().enumerate() {
                if rank <= cut {
                    self.recall[k] += 1.0;
                    self.ndcg[k] += 1.0 / ((rank + 1) as f64).log2();
                }
            }
        }
    }

    pub fn merge(mut self, o: &Hits) -> Hits {
        for k in 0..3 {
            self.recall[k] += o.recall[k];
            self.ndcg[k] += o.ndcg[k];
        }
        self
    }

    pub fn json(&self, users: usize) -> serde_json::Value {
        let d = users.max(1) as f64;
        let mut m = serde_json::Map::new();
        for (k, cut) in KS.iter().enumerate() {
            m.insert(
                format!("recall@{cut}"),
                serde_json::json!(self.recall[k] / d),
            );
        }
        for (k, cut) in KS.iter().enumerate() {
            m.insert(format!("ndcg@{cut}"), serde_json::json!(self.ndcg[k] / d));
        }
        serde_json::Value::Object(m)
    }

    pub fn ndcg10(&self, users: usize) -> f64 {
        self.ndcg[2] / users.max(1) as f64
    }

    pub fn recall10(&self, users: usize) -> f64 {
        self.recall[2] / users.max(1) as f64
    }
}

/// TGH-1 and TGH-2 (id tie-break) hits on the queries `sel` (indices into `qs`), summed in
/// that order.
pub fn tgh_hits_on(
    ds: &Dataset,
    g: &Graph,
    r: &Ranked,
    qs: &[Query],
    sel: &[usize],
    p: &Params,
) -> (Hits, Hits) {
    let (mut h1, mut h2) = (Hits::default(), Hits::default());
    for &k in sel {
        let q = &qs[k];
        let ps = &r.per_source[r.source_index[q.src as usize] as usize];
        let p3 = &r.per_source[r.source_index[q.src3 as usize] as usize];
        let n = ds.n_items;
        h1.add_list(&tgh::tgh1(&ps.rings_id, p, &g.nodes, q.user, n), q.target);
        h2.add_list(
            &tgh::tgh2(&ps.rings_id, Some(&p3.rings_id), p, &g.nodes, q.user, n),
            q.target,
        );
    }
    (h1, h2)
}

pub const RANKERS: [&str; 8] = [
    "mostpop",
    "markov",
    "itemknn",
    "embnn",
    "tgh1",
    "tgh2",
    "tgh1_hash",
    "tgh2_hash",
];

/// Hits of every ranker over all queries (parallel over users, reduced in a fixed order).
pub fn evaluate(
    ds: &Dataset,
    g: &Graph,
    pop: &Popularity,
    r: &Ranked,
    qs: &[Query],
    p: &Params,
) -> Vec<Hits> {
    let mostpop: Vec<u32> = pop.order.iter().take(TOP).copied().collect();
    let has_emb = ds.embeddings.is_some();
    let parts: Vec<Vec<Hits>> = qs
        .par_chunks(4096)
        .map(|chunk| {
            let mut h = vec![Hits::default(); RANKERS.len()];
            for q in chunk {
                let ps = &r.per_source[r.source_index[q.src as usize] as usize];
                let p3 = &r.per_source[r.source_index[q.src3 as usize] as usize];
                h[0].add_list(&mostpop, q.target);
                h[1].add_list(&ps.markov, q.target);
                h[2].add_list(&ps.knn, q.target);
                if has_emb {
                    h[3].add_list(&ps.embnn, q.target);
                }
                let n = ds.n_items;
                h[4].add_list(&tgh::tgh1(&ps.rings_id, p, &g.nodes, q.user, n), q.target);
                h[5].add_list(
                    &tgh::tgh2(&ps.rings_id, Some(&p3.rings_id), p, &g.nodes, q.user, n),
                    q.target,
                );
                h[6].add_list(&tgh::tgh1(&ps.rings_hash, p, &g.nodes, q.user, n), q.target);
                h[7].add_list(
                    &tgh::tgh2(&ps.rings_hash, Some(&p3.rings_hash), p, &g.nodes, q.user, n),
                    q.target,
                );
            }
            h
        })
        .collect();
    let mut total = vec![Hits::default(); RANKERS.len()];
    for p in parts {
        for (t, h) in total.iter_mut().zip(&p) {
            *t = t.merge(h);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::data::{Dataset, Split};

    fn split(per_user: &[&[u32]]) -> Split {
        Split::from_sequences(per_user)
    }

    /// The hand-worked case of docs/diagnostics.md's tests: edges 0→1 ×2, 0→2, 1→0, 2→0 ×2,
    /// 1→3, 3→4; user 3's history is [2, 0] and the target 3.
    #[test]
    fn rankings_worked_by_hand() {
        let ds = Dataset {
            dir: std::path::PathBuf::new(),
            n_users: 4,
            n_items: 8,
            user_base: 0,
            item_base: 0,
            train: split(&[&[0, 1, 0, 2, 0, 1], &[1, 3, 4], &[5], &[2, 0]]),
            valid: split(&[&[], &[], &[], &[]]),
            test: split(&[&[], &[], &[], &[3]]),
            embeddings: None,
            meta: serde_json::Value::Null,
        };
        let g = Graph::build(&ds.train, ds.n_users, ds.n_items);
        assert_eq!(g.edges(), 6);
        assert_eq!(g.count(0, 1), 2);
        assert_eq!(g.count(2, 0), 2);
        assert_eq!(g.nodes, vec![0, 1, 2, 3, 4]);
        let (qs, skipped) = queries(&ds);
        assert_eq!((qs.len(), skipped), (1, 0));
        assert_eq!((qs[0].src, qs[0].src3, qs[0].target), (0, 2, 3));
        let pop = Popularity::new(&ds);
        assert_eq!(&pop.order[..6], &[0, 1, 2, 3, 4, 5]);
        let inc = Incidence::new(&ds);
        let p = Params::default();
        let r = per_source_pass(&ds, &g, &pop, &inc, &qs, &p);
        let ps = &r.per_source[r.source_index[0] as usize];
        // Rings around 0: {1, 2} (1 first: EW 1 vs ln2/ln3), {3}, {4}.
        assert_eq!(ps.rings_id.top, vec![vec![1, 2], vec![3], vec![4]]);
        assert_eq!(r.target[0].ring, 2);
        // TGH-1: 1, 2, 3, 4, then the only node left (0) as padding.
        assert_eq!(
            tgh::tgh1(&ps.rings_id, &p, &g.nodes, 3, 8),
            vec![1, 2, 3, 4, 0]
        );
        // TGH-2: 1, 2, 3 around 0, padded to 6 with 0 and 4 (random order); nothing new
        // around 2 (its rings {0}, {1} are already listed).
        let p3 = &r.per_source[r.source_index[2] as usize];
        let l2 = tgh::tgh2(&ps.rings_id, Some(&p3.rings_id), &p, &g.nodes, 3, 8);
        assert_eq!(&l2[..3], &[1, 2, 3]);
        let mut rest = l2[3..].to_vec();
        rest.sort_unstable();
        assert_eq!(rest, vec![0, 4]);
        // Markov: ring 1 by count (1, 2), then popularity without ring 1.
        assert_eq!(&ps.markov, &[1, 2, 0, 3, 4, 5, 6, 7]);
        // Item-kNN: sim(0, 2) = 2/√(2·2) = 1, sim(0, 1) = 1/√(2·2) = 0.5, then popularity.
        assert_eq!(&ps.knn, &[2, 1, 0, 3, 4, 5, 6, 7]);
        let h = evaluate(&ds, &g, &pop, &r, &qs, &p);
        // tgh1: target at rank 3 → R@1 0, R@5 1, NDCG@5 = 1/log2(4) = 0.5.
        let t1 = h[4].json(1);
        assert_eq!(t1["recall@1"], 0.0);
        assert_eq!(t1["recall@5"], 1.0);
        assert!((t1["ndcg@10"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        // mostpop and markov: rank 4 → NDCG = 1/log2(5).
        let want = 1.0 / 5f64.log2();
        assert!((h[0].json(1)["ndcg@10"].as_f64().unwrap() - want).abs() < 1e-12);
        assert!((h[1].json(1)["ndcg@10"].as_f64().unwrap() - want).abs() < 1e-12);
    }
}
