//! Dataset characteristics (spec B9) per split and overall: sizes, density, popularity
//! concentration, degree and history-length distributions, repeats, time span, cold start.

use serde_json::{Value, json};

use super::data::{Dataset, Split};

/// mean / median / p90 / max of a list of counts, and a log2 histogram (bucket b holds
/// values in [2^b, 2^(b+1)), bucket 0 also holds 0 and 1).
pub fn distribution(mut v: Vec<u64>) -> Value {
    if v.is_empty() {
        return json!({ "n": 0 });
    }
    v.sort_unstable();
    let n = v.len();
    let q = |p: f64| v[((n - 1) as f64 * p).round() as usize];
    let mut hist = Vec::<u64>::new();
    for &x in &v {
        let b = if x <= 1 {
            0
        } else {
            63 - x.leading_zeros() as usize
        };
        if hist.len() <= b {
            hist.resize(b + 1, 0);
        }
        hist[b] += 1;
    }
    json!({
        "n": n,
        "mean": v.iter().sum::<u64>() as f64 / n as f64,
        "median": q(0.5),
        "p90": q(0.9),
        "min": v[0],
        "max": v[n - 1],
        "log2_histogram": hist,
    })
}

/// Gini of item popularity over all `n_items` (zeros included):
/// Σ (2i − I − 1) x_(i) / (I Σ x), x ascending, i 1-based.
pub fn gini(counts: &[u64]) -> f64 {
    let mut x = counts.to_vec();
    x.sort_unstable();
    let n = x.len() as f64;
    let sum: f64 = x.iter().map(|&v| v as f64).sum();
    if sum == 0.0 || x.is_empty() {
        return 0.0;
    }
    let w: f64 = x
        .iter()
        .enumerate()
        .map(|(i, &v)| (2.0 * (i as f64 + 1.0) - n - 1.0) * v as f64)
        .sum();
    w / (n * sum)
}

/// Share of interactions on the top `frac` of the `n_items` items (at least one item).
fn top_share(counts: &[u64], frac: f64) -> f64 {
    let mut x = counts.to_vec();
    x.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = x.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let k = ((x.len() as f64 * frac).ceil() as usize)
        .max(1)
        .min(x.len());
    x[..k].iter().sum::<u64>() as f64 / total as f64
}

/// The statistics of a set of per-user sequences (`splits` concatenated per user in order).
fn summarize(ds: &Dataset, splits: &[&Split]) -> Value {
    let n_items = ds.n_items;
    let mut item_count = vec![0u64; n_items];
    let mut user_len = Vec::new();
    let (mut rows, mut repeats) = (0u64, 0u64);
    let (mut tmin, mut tmax) = (i64::MAX, i64::MIN);
    let mut seen = vec![u32::MAX; n_items];
    for u in 0..ds.n_users {
        let mut len = 0u64;
        for s in splits {
            for r in s.user_rows(u) {
                let i = s.item[r] as usize;
                item_count[i] += 1;
                if seen[i] == u as u32 {
                    repeats += 1;
                }
                seen[i] = u as u32;
                if let Some(t) = s.ts[r] {
                    tmin = tmin.min(t);
                    tmax = tmax.max(t);
                }
                len += 1;
            }
        }
        if len > 0 {
            user_len.push(len);
        }
        rows += len;
    }
    let users = user_len.len();
    let items = item_count.iter().filter(|&&c| c > 0).count();
    // Padding ids (id_base = 1) are not items: popularity is over the real ones.
    let item_count = &item_count[ds.item_base.min(item_count.len())..];
    let n_items = ds.items();
    json!({
        "users": users,
        "items": items,
        "interactions": rows,
        "density": if users > 0 && n_items > 0 { rows as f64 / (users as f64 * n_items as f64) } else { 0.0 },
        "gini": gini(item_count),
        "top1_share": top_share(item_count, 0.01),
        "top20_share": top_share(item_count, 0.20),
        "user_degree": distribution(user_len),
        "item_degree": distribution(item_count.iter().copied().filter(|&c| c > 0).collect()),
        "repeat_ratio": if rows > 0 { repeats as f64 / rows as f64 } else { 0.0 },
        "ts_min": (tmin != i64::MAX).then_some(tmin),
        "ts_max": (tmax != i64::MIN).then_some(tmax),
    })
}

/// Valid/test users and items never seen in train.
fn cold_start(ds: &Dataset) -> Value {
    let mut in_train = vec![false; ds.n_items];
    for &i in &ds.train.item {
        in_train[i as usize] = true;
    }
    let part = |s: &Split| {
        let users: Vec<usize> = (0..ds.n_users)
            .filter(|&u| !s.user_rows(u).is_empty())
            .collect();
        let cold_users = users
            .iter()
            .filter(|&&u| ds.train.user_rows(u).is_empty())
            .count();
        let mut distinct = vec![false; ds.n_items];
        for &i in &s.item {
            distinct[i as usize] = true;
        }
        let items = distinct.iter().filter(|&&d| d).count();
        let cold_items = (0..ds.n_items)
            .filter(|&i| distinct[i] && !in_train[i])
            .count();
        let cold_rows = s.item.iter().filter(|&&i| !in_train[i as usize]).count();
        let share = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        json!({
            "users_without_train": share(cold_users, users.len()),
            "items_without_train": share(cold_items, items),
            "rows_with_item_without_train": share(cold_rows, s.rows()),
        })
    };
    json!({ "valid": part(&ds.valid), "test": part(&ds.test) })
}

pub fn compute(ds: &Dataset) -> Value {
    json!({
        "n_users": ds.users(),
        "n_items": ds.items(),
        "all": summarize(ds, &[&ds.train, &ds.valid, &ds.test]),
        "train": summarize(ds, &[&ds.train]),
        "valid": summarize(ds, &[&ds.valid]),
        "test": summarize(ds, &[&ds.test]),
        "cold_start": cold_start(ds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_and_distribution_by_hand() {
        // x = [0, 0, 1, 3]: Σ(2i − 5)x_i = (1)(1) + (3)(3) = 10; I Σx = 4 · 4 = 16.
        assert!((gini(&[3, 0, 1, 0]) - 10.0 / 16.0).abs() < 1e-12);
        assert_eq!(gini(&[2, 2, 2]), 0.0);
        let d = distribution(vec![1, 2, 3, 4, 100]);
        assert_eq!(d["median"], 3);
        assert_eq!(d["max"], 100);
        assert_eq!(d["p90"], 100);
        assert_eq!(d["log2_histogram"], json!([1, 2, 1, 0, 0, 0, 1]));
        assert!((top_share(&[10, 0, 0, 0, 0], 0.2) - 1.0).abs() < 1e-12);
    }
}
