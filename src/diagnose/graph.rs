//! The training transition graph (spec B2.2): directed counts of consecutive pairs in every
//! user's training sequence, as CSR by source with successors ascending, and BFS rings.

use super::data::Split;

pub struct Graph {
    pub n_items: usize,
    /// `off[a]..off[a + 1]` index `succ`/`count` for source a.
    pub off: Vec<usize>,
    pub succ: Vec<u32>,
    pub count: Vec<u32>,
    /// max_b ln(1 + count(a, b)) per source (1 for sources without edges).
    pub row_max: Vec<f64>,
    /// Items appearing in any edge, ascending (the random padding pool).
    pub nodes: Vec<u32>,
    /// Consecutive pairs counted (transitions, with repeats).
    pub transitions: u64,
    /// Reverse adjacency (predecessors), for rings expanded backwards.
    pub pred_off: Vec<usize>,
    pub pred: Vec<u32>,
}

impl Graph {
    pub fn build(train: &Split, n_users: usize, n_items: usize) -> Graph {
        // Counting sort of (a, b) pairs by source, then by successor within a source.
        let mut out_n = vec![0usize; n_items + 1];
        for u in 0..n_users {
            let s = train.items_of(u);
            for w in s.windows(2) {
                out_n[w[0] as usize + 1] += 1;
            }
        }
        for a in 0..n_items {
            out_n[a + 1] += out_n[a];
        }
        let total = out_n[n_items];
        let mut fill = out_n.clone();
        let mut raw = vec![0u32; total];
        for u in 0..n_users {
            let s = train.items_of(u);
            for w in s.windows(2) {
                let a = w[0] as usize;
                raw[fill[a]] = w[1];
                fill[a] += 1;
            }
        }
        let mut off = Vec::with_capacity(n_items + 1);
        let mut succ = Vec::new();
        let mut count = Vec::new();
        let mut row_max = vec![1f64; n_items];
        let mut is_node = vec![false; n_items];
        off.push(0);
        for a in 0..n_items {
            let row = &mut raw[out_n[a]..out_n[a + 1]];
            row.sort_unstable();
            let mut best = 0u32;
            let mut k = 0;
            while k < row.len() {
                let b = row[k];
                let mut c = 0u32;
                while k < row.len() && row[k] == b {
                    c += 1;
                    k += 1;
                }
                succ.push(b);
                count.push(c);
                best = best.max(c);
                is_node[b as usize] = true;
            }
            if !row.is_empty() {
                is_node[a] = true;
                row_max[a] = f64::from(best).ln_1p();
            }
            off.push(succ.len());
        }
        let nodes = (0..n_items as u32)
            .filter(|&i| is_node[i as usize])
            .collect();
        let mut pred_off = vec![0usize; n_items + 1];
        for &b in &succ {
            pred_off[b as usize + 1] += 1;
        }
        for b in 0..n_items {
            pred_off[b + 1] += pred_off[b];
        }
        let mut at = pred_off.clone();
        let mut pred = vec![0u32; succ.len()];
        for a in 0..n_items {
            for &b in &succ[off[a]..off[a + 1]] {
                pred[at[b as usize]] = a as u32;
                at[b as usize] += 1;
            }
        }
        Graph {
            pred_off,
            pred,
            n_items,
            off,
            succ,
            count,
            row_max,
            nodes,
            transitions: total as u64,
        }
    }

    pub fn edges(&self) -> usize {
        self.succ.len()
    }

    pub fn out(&self, a: u32) -> (&[u32], &[u32]) {
        let r = self.off[a as usize]..self.off[a as usize + 1];
        (&self.succ[r.clone()], &self.count[r])
    }

    pub fn preds(&self, b: u32) -> &[u32] {
        &self.pred[self.pred_off[b as usize]..self.pred_off[b as usize + 1]]
    }

    pub fn out_degree(&self, a: u32) -> usize {
        self.off[a as usize + 1] - self.off[a as usize]
    }

    /// `EW[a, b] = ln(1 + count) / max_b' ln(1 + count(a, b'))`.
    pub fn edge_weight(&self, a: u32, count: u32) -> f64 {
        f64::from(count).ln_1p() / self.row_max[a as usize]
    }

    /// Count of the edge (a, b), 0 when absent (binary search in the sorted successors).
    pub fn count(&self, a: u32, b: u32) -> u32 {
        let (s, c) = self.out(a);
        s.binary_search(&b).map_or(0, |k| c[k])
    }
}

/// Reusable BFS state: an epoch-stamped visited array, so each source costs only what its
/// rings touch.
pub struct Rings {
    mark: Vec<u32>,
    /// The ring of each marked item (0: the source itself, not in ring 1).
    level: Vec<u8>,
    epoch: u32,
    /// Ring h (1-based) is `members[bounds[h-1]..bounds[h]]`.
    pub members: Vec<u32>,
    pub bounds: Vec<usize>,
}

impl Rings {
    pub fn new(n_items: usize) -> Rings {
        Rings {
            mark: vec![0; n_items],
            level: vec![0; n_items],
            epoch: 0,
            members: Vec::new(),
            bounds: Vec::new(),
        }
    }

    /// Rings 1..=depth around `s`: ring 1 is the successors (s itself included on a
    /// self-loop); ring h is the successors of ring h−1 not yet visited (s counts as visited).
    pub fn compute(&mut self, g: &Graph, s: u32, depth: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        let e = self.epoch;
        self.members.clear();
        self.bounds.clear();
        self.bounds.push(0);
        // Ring 1: all successors, s included on a self-loop; then s is visited.
        for &b in g.out(s).0 {
            self.mark[b as usize] = e;
            self.level[b as usize] = 1;
            self.members.push(b);
        }
        if g.out(s).0.binary_search(&s).is_err() {
            self.level[s as usize] = 0;
        }
        self.mark[s as usize] = e;
        self.bounds.push(self.members.len());
        let mut visited = self.members.len() + 1;
        for h in 1..depth {
            let (lo, hi) = (self.bounds[h - 1], self.bounds[h]);
            let lvl = (h + 1).min(255) as u8;
            // Forward costs the out-edges of ring h; backward (each unvisited item looks for a
            // predecessor in ring h, stopping at the first) costs at most the in-edges of the
            // unvisited items. Around hubs ring h+1 is most of the catalogue and backward wins.
            let forward: usize = self.members[lo..hi].iter().map(|&v| g.out_degree(v)).sum();
            let backward = g.n_items - visited.min(g.n_items);
            if forward <= backward.saturating_mul(4) {
                for k in lo..hi {
                    let v = self.members[k];
                    for &b in g.out(v).0 {
                        if self.mark[b as usize] != e {
                            self.mark[b as usize] = e;
                            self.level[b as usize] = lvl;
                            self.members.push(b);
                        }
                    }
                }
            } else {
                let ring = lvl - 1;
                let mut found = Vec::new();
                for b in 0..g.n_items as u32 {
                    if self.mark[b as usize] == e {
                        continue;
                    }
                    if g.preds(b)
                        .iter()
                        .any(|&a| self.mark[a as usize] == e && self.level[a as usize] == ring)
                    {
                        found.push(b);
                    }
                }
                for &b in &found {
                    self.mark[b as usize] = e;
                    self.level[b as usize] = lvl;
                }
                self.members.extend(found);
            }
            visited = self.members.len() + 1;
            self.bounds.push(self.members.len());
        }
    }

    pub fn ring(&self, h: usize) -> &[u32] {
        &self.members[self.bounds[h - 1]..self.bounds[h]]
    }

    /// The ring (1-based) holding `item`, if any.
    pub fn ring_of(&self, item: u32) -> Option<usize> {
        if self.mark[item as usize] != self.epoch || self.level[item as usize] == 0 {
            return None;
        }
        Some(self.level[item as usize] as usize)
    }
}
