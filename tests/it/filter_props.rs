//! Properties of the filter and split stages: the k-core against brute force, leave-one-out and
//! temporal splits never put a training event after a held-out one.

use recdata::progress::Reporter;
use recdata::sources::{Entities, Normalized, RawInteractions};
use recdata::stages::filter::{self, FilterConfig};
use recdata::stages::split::{self, SplitConfig};
use recdata::util::rng::Rng;

fn corpus(pairs: &[(u32, u32)], n_users: u32, n_items: u32) -> Normalized {
    Normalized {
        interactions: RawInteractions {
            user: pairs.iter().map(|p| p.0).collect(),
            item: pairs.iter().map(|p| p.1).collect(),
            ts: (0..pairs.len() as i64).collect(),
            order: (0..pairs.len() as u64).collect(),
            ..Default::default()
        },
        event: "play".into(),
        users: Entities {
            raw_id: (0..n_users).map(|u| format!("u{u}")).collect(),
            ..Default::default()
        },
        items: Entities {
            raw_id: (0..n_items).map(|i| format!("i{i}")).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The largest (user set, item set) whose induced rows give every kept user ≥ ku rows and
/// every kept item ≥ ki rows, by enumerating all subsets. Returns the kept row indices.
fn brute_force(pairs: &[(u32, u32)], n_users: u32, n_items: u32, ku: u64, ki: u64) -> Vec<usize> {
    let mut best: Vec<usize> = vec![];
    for us in 0u32..(1 << n_users) {
        for is in 0u32..(1 << n_items) {
            let rows: Vec<usize> = (0..pairs.len())
                .filter(|&r| us >> pairs[r].0 & 1 == 1 && is >> pairs[r].1 & 1 == 1)
                .collect();
            let ok_u = (0..n_users)
                .filter(|u| us >> u & 1 == 1)
                .all(|u| rows.iter().filter(|&&r| pairs[r].0 == u).count() as u64 >= ku);
            let ok_i = (0..n_items)
                .filter(|i| is >> i & 1 == 1)
                .all(|i| rows.iter().filter(|&&r| pairs[r].1 == i).count() as u64 >= ki);
            if ok_u && ok_i && rows.len() > best.len() {
                best = rows;
            }
        }
    }
    best
}

#[test]
fn k_core_equals_brute_force_on_random_graphs() {
    let mut rng = Rng::new(42);
    for case in 0..300 {
        let (nu, ni) = (1 + rng.below(4) as u32, 1 + rng.below(4) as u32);
        let n = rng.below(14) as usize;
        let pairs: Vec<(u32, u32)> = (0..n)
            .map(|_| {
                (
                    rng.below(u64::from(nu)) as u32,
                    rng.below(u64::from(ni)) as u32,
                )
            })
            .collect();
        let (ku, ki) = (1 + rng.below(3), 1 + rng.below(3));
        let cfg = FilterConfig {
            min_user_interactions: ku,
            min_item_interactions: ki,
            ..Default::default()
        };
        let out = filter::run(&cfg, &corpus(&pairs, nu, ni), &Reporter::silent()).unwrap();
        // ts was set to the row index, so the surviving ts are the surviving rows.
        let mut got: Vec<usize> = out.ts.iter().map(|t| *t as usize).collect();
        got.sort_unstable();
        let want = brute_force(&pairs, nu, ni, ku, ki);
        assert_eq!(got, want, "case {case}: pairs {pairs:?} ku {ku} ki {ki}");
        // And the result meets both thresholds.
        for &u in &out.user {
            assert!(out.user.iter().filter(|x| **x == u).count() as u64 >= ku);
        }
        for &i in &out.item {
            assert!(out.item.iter().filter(|x| **x == i).count() as u64 >= ki);
        }
        assert!(out.stats.k_core_converged);
    }
}

fn random_log(seed: u64, users: u32, items: u32, rows: usize) -> Normalized {
    let mut rng = Rng::new(seed);
    let mut n = corpus(
        &(0..rows)
            .map(|_| {
                (
                    rng.below(u64::from(users)) as u32,
                    rng.below(u64::from(items)) as u32,
                )
            })
            .collect::<Vec<_>>(),
        users,
        items,
    );
    // Coarse timestamps so that ties are common.
    n.interactions.ts = (0..rows).map(|_| rng.below(50) as i64 * 1000).collect();
    n
}

fn split_cfg(toml: &str) -> SplitConfig {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.toml");
    std::fs::write(
        &p,
        format!("[dataset]\nname = \"x\"\nversion = \"1\"\n[source]\ncorpus = \"lastfm-1k\"\npath = \".\"\n[stages.split]\n{toml}"),
    )
    .unwrap();
    recdata::stages::manifest::load(&p).unwrap().split.unwrap()
}

#[test]
fn leave_one_out_holds_out_each_users_latest_events() {
    for seed in 0..20 {
        let n = random_log(seed, 15, 30, 400);
        let f = filter::run(&FilterConfig::default(), &n, &Reporter::silent()).unwrap();
        let a = split::run(&split_cfg("method = \"leave_one_out\""), &f.user, &f.ts);
        for u in 0..15u32 {
            let of = |s: u8| -> Vec<(usize, i64)> {
                a.order
                    .iter()
                    .enumerate()
                    .filter(|(k, r)| a.split[*k] == s && f.user[**r as usize] == u)
                    .map(|(k, r)| (k, f.ts[*r as usize]))
                    .collect()
            };
            let (train, valid, test) = (of(split::TRAIN), of(split::VALID), of(split::TEST));
            if train.is_empty() && valid.is_empty() && test.is_empty() {
                continue;
            }
            if test.is_empty() {
                assert!(valid.is_empty() && train.len() < 3);
                continue;
            }
            assert_eq!((valid.len(), test.len()), (1, 1));
            let max_train = train.iter().map(|x| x.1).max().unwrap_or(i64::MIN);
            assert!(
                max_train <= valid[0].1 && valid[0].1 <= test[0].1,
                "seed {seed} user {u}"
            );
            // and by position: nothing held out precedes a training row of the same user
            assert!(
                train
                    .iter()
                    .all(|t| t.0 < valid[0].0 && valid[0].0 < test[0].0)
            );
        }
    }
}

#[test]
fn temporal_split_never_trains_on_the_future() {
    for seed in 0..10 {
        let n = random_log(seed, 10, 20, 500);
        let f = filter::run(&FilterConfig::default(), &n, &Reporter::silent()).unwrap();
        let a = split::run(
            &split_cfg("method = \"temporal\"\nvalid_quantile = 0.7\ntest_quantile = 0.85"),
            &f.user,
            &f.ts,
        );
        let cut = a.stats.protocol["test_start_ms"].as_i64().unwrap();
        let vcut = a.stats.protocol["valid_start_ms"].as_i64().unwrap();
        for (k, r) in a.order.iter().enumerate() {
            let t = f.ts[*r as usize];
            match a.split[k] {
                split::TRAIN => assert!(t < vcut && t < cut),
                split::VALID => assert!(vcut <= t && t < cut),
                _ => assert!(t >= cut),
            }
        }
    }
}

#[test]
fn random_tie_break_and_random_split_are_seeded() {
    let n = random_log(3, 10, 20, 300);
    let f = filter::run(&FilterConfig::default(), &n, &Reporter::silent()).unwrap();
    let cfg = split_cfg(
        "method = \"random\"\nratios = [0.8, 0.1, 0.1]\nseed = 9\ntie_break = \"random\"",
    );
    let (a, b) = (
        split::run(&cfg, &f.user, &f.ts),
        split::run(&cfg, &f.user, &f.ts),
    );
    assert_eq!((a.order.clone(), a.split.clone()), (b.order, b.split));
    let other = split::run(
        &split_cfg("method = \"random\"\nratios = [0.8, 0.1, 0.1]\nseed = 10"),
        &f.user,
        &f.ts,
    );
    assert_ne!(a.split, other.split);
    assert_eq!(
        a.stats.train + a.stats.valid + a.stats.test,
        f.user.len() as u64
    );
}

#[test]
fn dedup_policies() {
    // user 0: item 1 at t=0, item 1 at t=0 (exact dup), item 2 at t=1, item 1 at t=2.
    let mut n = corpus(&[(0, 1), (0, 1), (0, 2), (0, 1)], 1, 3);
    n.interactions.ts = vec![0, 0, 1000, 2000];
    let run = |d| {
        filter::run(
            &FilterConfig {
                dedup: d,
                ..Default::default()
            },
            &n,
            &Reporter::silent(),
        )
        .unwrap()
    };
    assert_eq!(run(filter::Dedup::None).ts.len(), 4);
    assert_eq!(run(filter::Dedup::Exact).ts, vec![0, 1000, 2000]);
    assert_eq!(run(filter::Dedup::KeepFirst).ts, vec![0, 1000]);
    assert_eq!(run(filter::Dedup::KeepLast).ts, vec![1000, 2000]);
    let capped = filter::run(
        &FilterConfig {
            max_user_interactions: Some(2),
            over_max: filter::OverMax::KeepRecent,
            ..Default::default()
        },
        &n,
        &Reporter::silent(),
    )
    .unwrap();
    assert_eq!(capped.ts, vec![1000, 2000]);
    let window = filter::run(
        &FilterConfig {
            start: Some(500),
            end: Some(2000),
            ..Default::default()
        },
        &n,
        &Reporter::silent(),
    )
    .unwrap();
    assert_eq!(window.ts, vec![1000]);
}

#[test]
fn keep_all_items_keeps_the_catalogue() {
    // Items 0..4 listed; only items 0 and 1 are interacted with.
    let n = corpus(&[(0, 0), (0, 1), (1, 1)], 2, 5);
    let f = filter::run(&FilterConfig::default(), &n, &Reporter::silent()).unwrap();
    assert_eq!(f.item_codes, vec![0, 1]);
    let all = filter::run(
        &FilterConfig {
            keep_all_items: true,
            ..Default::default()
        },
        &n,
        &Reporter::silent(),
    )
    .unwrap();
    assert_eq!(all.item_codes, vec![0, 1, 2, 3, 4]);
    assert_eq!(all.item, f.item);
    assert_eq!(all.stats.catalogue_items, 5);
    assert_eq!(all.stats.items, 5);
}

#[test]
fn items_without_titles_publish_a_null_title_column() {
    use recdata::io::parquet::read_batch;
    let n = corpus(&[(0, 0), (1, 1)], 2, 2);
    assert!(n.items.title.is_none());
    let f = filter::run(&FilterConfig::default(), &n, &Reporter::silent()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    recdata::stages::filter::write(dir.path(), "", &n, &f, &[]).unwrap_or_else(|e| panic!("{e}"));
    let items = read_batch(&dir.path().join("items.parquet")).unwrap();
    let title = items.column_by_name("title").expect("a title column");
    assert_eq!(title.null_count(), 2);
}

/// The filter's canonical order and dense ids against a brute-force sort: rows by (the user's
/// raw id in `raw_id_cmp` order, ts, adapter order, row), dense ids as positions among the
/// distinct raw ids in that order. Random corpora with many ties in time and in order, and raw
/// ids of every shape: canonical numbers (the sort's fast path), numbers with leading zeros and
/// numbers longer than a u64 (which force the comparison sort), text, and an empty id.
#[test]
fn canonical_order_and_dense_ids_equal_a_brute_force_sort() {
    let numbers = ["7", "10", "2", "123456", "99", "100", "0", "4194304"];
    let mixed = [
        "7",
        "007",
        "10",
        "u5",
        "user_10",
        "",
        "18446744073709551616",
        "2",
    ];
    let text = ["b", "a", "ab", "ba", "10", "9", "z", "Z"];
    let mut rng = Rng::new(7);
    for case in 0..400 {
        let pool: &[&str] = match case % 3 {
            0 => &numbers,
            1 => &mixed,
            _ => &text,
        };
        let nu = 1 + rng.below(pool.len() as u64) as usize;
        let ni = 1 + rng.below(pool.len() as u64) as usize;
        let n = rng.below(60) as usize;
        let user: Vec<u32> = (0..n).map(|_| rng.below(nu as u64) as u32).collect();
        let item: Vec<u32> = (0..n).map(|_| rng.below(ni as u64) as u32).collect();
        let ts: Vec<i64> = (0..n).map(|_| rng.below(4) as i64).collect();
        let order: Vec<u64> = (0..n).map(|_| rng.below(3)).collect();
        // Codes name the pool's ids in a shuffled order, as first appearance would.
        let mut user_ids: Vec<String> = pool[..nu].iter().map(|s| s.to_string()).collect();
        let mut item_ids: Vec<String> = pool[..ni].iter().map(|s| s.to_string()).collect();
        user_ids.rotate_left(case % nu);
        item_ids.reverse();
        let norm = Normalized {
            interactions: RawInteractions {
                user: user.clone(),
                item: item.clone(),
                ts: ts.clone(),
                order: order.clone(),
                value: Some((0..n).map(|r| r as f32).collect()),
                ..Default::default()
            },
            event: "play".into(),
            users: Entities {
                raw_id: user_ids.clone(),
                ..Default::default()
            },
            items: Entities {
                raw_id: item_ids.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = filter::run(
            &FilterConfig {
                k_core: false,
                ..Default::default()
            },
            &norm,
            &Reporter::silent(),
        );
        let out = match out {
            Ok(o) => o,
            Err(e) => panic!("case {case}: {e}"),
        };
        // The expected order and ids, by brute force.
        let dense = |ids: &[String], codes: &[u32]| -> Vec<u32> {
            let mut present: Vec<&String> = codes.iter().map(|c| &ids[*c as usize]).collect();
            present.sort_by(|a, b| filter::raw_id_cmp(a, b));
            present.dedup();
            codes
                .iter()
                .map(|c| {
                    present
                        .iter()
                        .position(|p| **p == ids[*c as usize])
                        .unwrap() as u32
                })
                .collect()
        };
        let (du, di) = (dense(&user_ids, &user), dense(&item_ids, &item));
        let mut rows: Vec<usize> = (0..n).collect();
        rows.sort_by(|&a, &b| (du[a], ts[a], order[a], a).cmp(&(du[b], ts[b], order[b], b)));
        let got_rows: Vec<usize> = out
            .value
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| *v as usize)
            .collect();
        assert_eq!(got_rows, rows, "case {case}: users {user_ids:?}");
        assert_eq!(
            out.user,
            rows.iter().map(|&r| du[r]).collect::<Vec<_>>(),
            "case {case}"
        );
        assert_eq!(
            out.item,
            rows.iter().map(|&r| di[r]).collect::<Vec<_>>(),
            "case {case}"
        );
        assert_eq!(
            out.ts,
            rows.iter().map(|&r| ts[r]).collect::<Vec<_>>(),
            "case {case}"
        );
    }
}
