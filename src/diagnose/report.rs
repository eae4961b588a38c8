//! `report.html`: one static page, no scripts and no network fetches, with inline SVG plots
//! drawn here (bars, histograms, a log-log curve) from `diagnostics.json`.

use std::fmt::Write;

use serde_json::Value;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                group(i)
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f != 0.0 && f.abs() < 1e-3 {
                    format!("{f:.2e}")
                } else {
                    format!("{f:.4}")
                }
            }
        }
        Value::String(s) => esc(s),
        Value::Bool(b) => b.to_string(),
        other => esc(&other.to_string()),
    }
}

fn group(i: i64) -> String {
    let s = i.abs().to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if i < 0 { format!("-{out}") } else { out }
}

const W: f64 = 560.0;
const H: f64 = 220.0;
const PAD_L: f64 = 150.0;

/// Horizontal bars: (label, value, highlighted).
fn hbars(title: &str, rows: &[(String, f64, bool)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-12);
    let bh = 22.0;
    let h = rows.len() as f64 * bh + 30.0;
    let mut s = format!(
        r#"<svg class="plot" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{}"><text x="0" y="14" class="t">{}</text>"#,
        esc(title),
        esc(title)
    );
    for (k, (label, v, hi)) in rows.iter().enumerate() {
        let y = 24.0 + k as f64 * bh;
        let w = (W - PAD_L - 70.0) * v / max;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="l" text-anchor="end">{}</text><rect x="{PAD_L}" y="{}" width="{w:.1}" height="{}" class="{}"/><text x="{}" y="{}" class="v">{v:.4}</text>"#,
            PAD_L - 6.0,
            y + 14.0,
            esc(label),
            y + 3.0,
            bh - 6.0,
            if *hi { "bar hi" } else { "bar" },
            PAD_L + w + 4.0,
            y + 14.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical histogram of log2 buckets (bucket b: [2^b, 2^(b+1)), bucket 0 also 0 and 1).
fn histogram(title: &str, xlabel: &str, buckets: &[u64]) -> String {
    let max = buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let (x0, y0, pw, ph) = (50.0, 26.0, W - 70.0, H - 70.0);
    let bw = pw / n;
    let mut s = format!(
        r#"<svg class="plot" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><text x="0" y="14" class="t">{t}</text>"#,
        t = esc(title)
    );
    for (b, &c) in buckets.iter().enumerate() {
        let h = ph * c as f64 / max;
        let x = x0 + b as f64 * bw;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" class="bar"><title>{}–{}: {}</title></rect>"#,
            x + 1.0,
            y0 + ph - h,
            (bw - 2.0).max(1.0),
            if b == 0 { 0 } else { 1u64 << b },
            (1u64 << (b + 1)) - 1,
            group(c as i64)
        );
        if buckets.len() <= 16 || b % 2 == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" class="l" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                y0 + ph + 14.0,
                if b == 0 {
                    "≤1".to_string()
                } else {
                    (1u64 << b).to_string()
                }
            );
        }
    }
    let _ = write!(
        s,
        r#"<line x1="{x0}" y1="{}" x2="{}" y2="{}" class="axis"/><text x="{}" y="{}" class="l" text-anchor="middle">{}</text><text x="{x0}" y="{}" class="l" text-anchor="end">{}</text></svg>"#,
        y0 + ph,
        x0 + pw,
        y0 + ph,
        x0 + pw / 2.0,
        H - 8.0,
        esc(xlabel),
        y0 + 8.0,
        group(max as i64)
    );
    s
}

/// Log-log curve of popularity against rank.
fn long_tail(points: &[(f64, f64)]) -> String {
    let title = "Item popularity long tail (train interactions by item rank, log-log)";
    let (x0, y0, pw, ph) = (60.0, 26.0, W - 80.0, H - 70.0);
    let xmax = points
        .iter()
        .map(|p| p.0)
        .fold(1.0, f64::max)
        .log10()
        .max(1e-9);
    let ymax = points
        .iter()
        .map(|p| p.1)
        .fold(1.0, f64::max)
        .log10()
        .max(1e-9);
    let mut path = String::new();
    for (k, (x, y)) in points.iter().filter(|p| p.1 > 0.0).enumerate() {
        let px = x0 + pw * x.log10() / xmax;
        let py = y0 + ph - ph * y.log10() / ymax;
        let _ = write!(path, "{}{px:.1},{py:.1}", if k == 0 { "M" } else { " L" });
    }
    let mut s = format!(
        r#"<svg class="plot" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><text x="0" y="14" class="t">{t}</text><path d="{path}" class="line"/>"#,
        t = esc(title)
    );
    let _ = write!(
        s,
        r#"<line x1="{x0}" y1="{}" x2="{}" y2="{}" class="axis"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{}" class="axis"/><text x="{}" y="{}" class="l" text-anchor="middle">item rank (1 … {})</text><text x="{}" y="{}" class="l" text-anchor="end">{}</text><text x="{}" y="{}" class="l" text-anchor="end">1</text></svg>"#,
        y0 + ph,
        x0 + pw,
        y0 + ph,
        y0 + ph,
        x0 + pw / 2.0,
        H - 8.0,
        group(10f64.powf(xmax).round() as i64),
        x0 - 4.0,
        y0 + 8.0,
        group(10f64.powf(ymax).round() as i64),
        x0 - 4.0,
        y0 + ph
    );
    s
}

/// `YYYY-MM-DD` (UTC) of a time in ms since the epoch (proleptic Gregorian calendar).
fn date(ms: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// "first – last (N days)" of a split's event times; "—" without times.
fn time_span(min: &Value, max: &Value) -> String {
    match (min.as_i64(), max.as_i64()) {
        (Some(a), Some(b)) => {
            let days = (b - a) as f64 / 86_400_000.0;
            let span = if days >= 1.0 {
                format!("{} days", group(days.round() as i64))
            } else {
                format!("{:.1} h", days * 24.0)
            };
            format!("{} – {} ({span})", date(a), date(b))
        }
        _ => "—".into(),
    }
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn buckets(v: &Value) -> Vec<u64> {
    v["log2_histogram"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
main{max-width:1180px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #dde1e7;padding-bottom:4px}\
.muted{color:#5b6475}.verdict{padding:14px 16px;border-radius:8px;margin:14px 0;font-size:15px}.verdict.bad{background:#fdecea;border:1px solid #f5b5ad}.verdict.ok{background:#e8f5ec;border:1px solid #a8d8b4}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}.card{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:12px}\
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #eceef2;padding:5px 8px;text-align:left;vertical-align:top}th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.sev-error{color:#b3261e;font-weight:600}.sev-warning{color:#a15c00;font-weight:600}.sev-info{color:#375a9e}.clean{color:#2e7d32}\
.plot .t{font-size:13px;font-weight:600;fill:#1d2330}.plot .l{font-size:11px;fill:#5b6475}.plot .v{font-size:11px;fill:#1d2330}.plot .bar{fill:#7a9cc6}.plot .bar.hi{fill:#d9822b}.plot .axis{stroke:#9aa3b2}.plot .line{fill:none;stroke:#3b6db3;stroke-width:2}\
code{background:#eef0f3;padding:1px 4px;border-radius:3px}#leakage td:nth-child(5){min-width:300px}#leakage td:nth-child(6){font-size:12px;min-width:260px;word-break:break-all}#statistics td:nth-child(11){white-space:nowrap}";

pub fn render(doc: &Value) -> String {
    let name = doc["dataset"]["name"].as_str().unwrap_or("dataset");
    let version = doc["dataset"]["version"].as_str().unwrap_or("");
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>recdata diagnostics: {n} {ver}</title><style>{CSS}</style></head><body><main>",
        n = esc(name),
        ver = esc(version)
    );
    let _ = write!(
        s,
        "<h1>Diagnostics: {} <span class=\"muted\">{}</span></h1><div class=\"muted\">recdata {} · {} test users · split <code>{}</code> · embeddings {}</div>",
        esc(name),
        esc(version),
        num(&doc["tool"]["version"]),
        num(&doc["test_users"]),
        num(&doc["protocol"]["split_method"]),
        doc["protocol"]["embedding"]["name"]
            .as_str()
            .map_or("none".to_string(), |n| format!("<code>{}</code>", esc(n)))
    );
    verdict_section(doc, &mut s);
    rankers_section(doc, &mut s);
    plots_section(doc, &mut s);
    shortcuts_section(doc, &mut s);
    leakage_section(doc, &mut s);
    coverage_section(doc, &mut s);
    statistics_section(doc, &mut s);
    let _ = writeln!(
        s,
        "<p class=\"muted\">Definitions: docs/diagnostics.md. Protocol: {}.</p></main></body></html>",
        esc(&doc["protocol"].to_string())
    );
    s
}

/// The verdict: solvable by shortcuts or not, the gap, the flags.
fn verdict_section(doc: &Value, s: &mut String) {
    let v = &doc["verdict"];
    let solvable = v["shortcut_solvable"] == true;
    let _ = write!(
        s,
        "<section id=\"verdict\"><div class=\"verdict {}\"><b>{}</b><br>shortcut gap (best heuristic NDCG@10 / best baseline − 1): {}",
        if solvable { "bad" } else { "ok" },
        esc(v["summary"].as_str().unwrap_or("")),
        num(&v["shortcut_gap"])
    );
    if let Some(flags) = v["flags"].as_array()
        && !flags.is_empty()
    {
        s.push_str("<br>flags: ");
        let f: Vec<String> = flags
            .iter()
            .map(|f| {
                format!(
                    "<code>{}</code> = {} (&gt; {}; {})",
                    num(&f["id"]),
                    num(&f["value"]),
                    num(&f["threshold"]),
                    num(&f["statistic"])
                )
            })
            .collect();
        s.push_str(&f.join("; "));
    }
    let _ = write!(
        s,
        "<div class=\"muted\">{}</div></div></section>",
        esc(v["note"].as_str().unwrap_or(""))
    );
}

/// The rankers' scores (heuristics and baselines) as bars and a table.
fn rankers_section(doc: &Value, s: &mut String) {
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    if let Some(r) = doc["rankers"].as_object() {
        for (name, m) in r {
            let hi = name.starts_with("tgh");
            bars.push((name.clone(), m["ndcg@10"].as_f64().unwrap_or(0.0), hi));
            let mut row = vec![format!("<code>{}</code>", esc(name))];
            for k in [
                "recall@1",
                "recall@5",
                "recall@10",
                "ndcg@1",
                "ndcg@5",
                "ndcg@10",
            ] {
                row.push(num(&m[k]));
            }
            rows.push(row);
        }
    }
    let _ = write!(
        s,
        "<section id=\"rankers\"><h2>Heuristic vs baselines (full ranking, no sampled negatives)</h2><div class=\"grid\"><div class=\"card\">{}</div><div class=\"card\">{}</div></div></section>",
        hbars(
            "NDCG@10 per ranker (orange: transition-graph heuristic)",
            &bars
        ),
        table(
            &["ranker", "R@1", "R@5", "R@10", "N@1", "N@5", "N@10"],
            &rows
        )
    );
}

/// The popularity curve and the recency (order-sufficiency) curve.
fn plots_section(doc: &Value, s: &mut String) {
    let curve: Vec<(f64, f64)> = doc["plots"]["popularity_curve"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    let recency: Vec<(String, f64, bool)> = doc["shortcuts"]["d3"]["curve"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["history"].as_str().unwrap_or("?").to_string(),
                c["ndcg@10"].as_f64().unwrap_or(0.0),
                c["last_n"] == 1,
            )
        })
        .collect();
    let _ = write!(
        s,
        "<section id=\"distributions\"><h2>Distributions</h2><div class=\"grid\"><div class=\"card\" id=\"popularity\">{}</div><div class=\"card\" id=\"history\">{}</div><div class=\"card\" id=\"branching\">{}</div><div class=\"card\" id=\"recency\">{}</div></div></section>",
        long_tail(&curve),
        histogram(
            "History length of test users",
            "items in history (log2 buckets)",
            &buckets(&doc["plots"]["history_length"])
        ),
        histogram(
            "Transition branching at the query source",
            "out-degree of the last history item in the training graph (log2 buckets)",
            &buckets(&doc["shortcuts"]["d1"]["out_degree_distribution"])
        ),
        hbars(
            "NDCG@10 of the heuristic by the history used (D3)",
            &recency
        )
    );
}

/// The shortcut statistics D1–D3 with their reading.
fn shortcuts_section(doc: &Value, s: &mut String) {
    let d1 = &doc["shortcuts"]["d1"];
    let d2 = &doc["shortcuts"]["d2"];
    let d3 = &doc["shortcuts"]["d3"];
    let rc = &d1["ring_coverage"];
    let st = vec![
        vec![
            "D1 graph locality".into(),
            "out-degree at the source: mean / median / p90 / share 0".into(),
            format!(
                "{} / {} / {} / {}",
                num(&d1["out_degree_mean"]),
                num(&d1["out_degree_median"]),
                num(&d1["out_degree_p90"]),
                num(&d1["out_degree_zero_share"])
            ),
        ],
        vec![
            "".into(),
            "transition entropy at the source (nats): mean / median / normalised".into(),
            format!(
                "{} / {} / {}",
                num(&d1["entropy_mean"]),
                num(&d1["entropy_median"]),
                num(&d1["entropy_normalized_mean"])
            ),
        ],
        vec![
            "".into(),
            "target in ring 1 / 2 / 3 / unreachable".into(),
            format!(
                "{} / {} / {} / {}",
                num(&rc["c1"]),
                num(&rc["c2"]),
                num(&rc["c3"]),
                num(&rc["c_inf"])
            ),
        ],
        vec![
            "".into(),
            "S<sub>10</sub>: target in ring 1 of a source with out-degree ≤ 10".into(),
            num(&d1["s10"]),
        ],
        vec![
            "D2 feature smoothness".into(),
            "mean cosine of transitions vs random pairs (gap, AUC)".into(),
            format!(
                "{} vs {} (gap {}, AUC {})",
                num(&d2["smoothness"]["mean_cos_transitions"]),
                num(&d2["smoothness"]["mean_cos_random"]),
                num(&d2["smoothness"]["gap"]),
                num(&d2["smoothness"]["auc"])
            ),
        ],
        vec![
            "".into(),
            "embedding-NN NDCG@10; median semantic rank of the target".into(),
            format!(
                "{}; {}",
                num(&d2["embnn_ndcg10"]),
                num(&d2["semantic_rank_median"])
            ),
        ],
        vec![
            "D3 recency".into(),
            format!(
                "NDCG@10 by the history used ({} test users{}): {}",
                num(&d3["curve_users"]),
                if d3["curve_sampled"] == true {
                    ", a seeded sample"
                } else {
                    ""
                },
                d3["curve"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| format!(
                        "{} (<code>{}</code>)",
                        num(&c["history"]),
                        num(&c["ranker"])
                    ))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            d3["curve"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| num(&c["ndcg@10"]))
                .collect::<Vec<_>>()
                .join(" / "),
        ],
        vec![
            "".into(),
            "order sufficiency: last 1 / best longer context (&gt; 0.95: flat or falling curve)"
                .into(),
            num(&d3["order_sufficiency"]),
        ],
        vec![
            "".into(),
            "2-gram rules (support ≥ 5, confidence ≥ 0.1): original → shuffled per user".into(),
            format!(
                "{} → {} ({})",
                num(&d3["shuffle_test"]["rules_2gram"]["original"]),
                num(&d3["shuffle_test"]["rules_2gram"]["shuffled"]),
                num(&d3["shuffle_test"]["rules_2gram"]["change"])
            ),
        ],
        vec![
            "".into(),
            "3-gram rules (support ≥ 5, confidence ≥ 0.1): original → shuffled per user".into(),
            format!(
                "{} → {} ({})",
                num(&d3["shuffle_test"]["rules_3gram"]["original"]),
                num(&d3["shuffle_test"]["rules_3gram"]["shuffled"]),
                num(&d3["shuffle_test"]["rules_3gram"]["change"])
            ),
        ],
        vec![
            "".into(),
            "targets already in the history".into(),
            num(&d3["target_repeat_share"]),
        ],
    ];
    let _ = write!(
        s,
        "<section id=\"shortcuts\"><h2>Shortcut statistics</h2>{}</section>",
        table(&["family", "statistic", "value"], &st)
    );
}

/// The leakage findings.
fn leakage_section(doc: &Value, s: &mut String) {
    let mut lrows = Vec::new();
    for f in doc["leakage"].as_array().into_iter().flatten() {
        let count = f["count"].as_u64().unwrap_or(0);
        let applicable = f["applicable"] != false;
        let sev = f["severity"].as_str().unwrap_or("info");
        let status = if !applicable {
            "<span class=\"muted\">not checked</span>".to_string()
        } else if count == 0 {
            "<span class=\"clean\">clean</span>".to_string()
        } else {
            format!("<span class=\"sev-{sev}\">{sev}</span>")
        };
        let ex: Vec<String> = f["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("<code>{}</code>", esc(&e.to_string())))
            .collect();
        lrows.push(vec![
            format!("<code>{}</code>", num(&f["id"])),
            status,
            num(&f["count"]),
            num(&f["share"]),
            esc(f["description"].as_str().unwrap_or("")),
            ex.join("<br>"),
        ]);
    }
    let _ = write!(
        s,
        "<section id=\"leakage\"><h2>Leakage audit</h2>{}</section>",
        table(
            &["finding", "status", "count", "share", "what", "examples"],
            &lrows
        )
    );
}

/// Coverage of the test targets by each ranker.
fn coverage_section(doc: &Value, s: &mut String) {
    let crow: Vec<Vec<String>> = doc["coverage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let share = match (c["ok"].as_f64(), c["total"].as_f64()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.1}%", 100.0 * a / b),
                _ => "—".into(),
            };
            vec![
                esc(c["what"].as_str().unwrap_or("")),
                num(&c["ok"]),
                num(&c["total"]),
                share,
                match &c["detail"] {
                    Value::Null => "—".to_string(),
                    Value::Object(o) if o.is_empty() => "—".to_string(),
                    d => esc(&d.to_string()),
                },
            ]
        })
        .collect();
    let _ = write!(
        s,
        "<section id=\"coverage\"><h2>Modality coverage</h2>{}</section>",
        if crow.is_empty() {
            "<p class=\"muted\">This dataset has no media or embeddings.</p>".to_string()
        } else {
            table(&["modality", "ok", "items", "share", "detail"], &crow)
        }
    );
}

/// Statistics per split and cold start.
fn statistics_section(doc: &Value, s: &mut String) {
    let st = &doc["stats"];
    let mut srows = Vec::new();
    for part in ["all", "train", "valid", "test"] {
        let p = &st[part];
        srows.push(vec![
            part.to_string(),
            num(&p["users"]),
            num(&p["items"]),
            num(&p["interactions"]),
            num(&p["density"]),
            num(&p["gini"]),
            num(&p["top1_share"]),
            num(&p["top20_share"]),
            format!(
                "{} / {} / {}",
                num(&p["user_degree"]["mean"]),
                num(&p["user_degree"]["median"]),
                num(&p["user_degree"]["max"])
            ),
            num(&p["repeat_ratio"]),
            time_span(&p["ts_min"], &p["ts_max"]),
        ]);
    }
    let cs = &st["cold_start"];
    let _ = write!(
        s,
        "<section id=\"statistics\"><h2>Statistics</h2>{}<p>Cold start — valid: users without train rows {}, items without train rows {}; test: users {}, items {}, rows whose item has no train rows {}. Transition graph: {} edges, {} transitions.</p></section>",
        table(
            &[
                "split",
                "users",
                "items",
                "interactions",
                "density",
                "Gini",
                "top 1%",
                "top 20%",
                "user degree mean / median / max",
                "repeat ratio",
                "time span (UTC)"
            ],
            &srows
        ),
        num(&cs["valid"]["users_without_train"]),
        num(&cs["valid"]["items_without_train"]),
        num(&cs["test"]["users_without_train"]),
        num(&cs["test"]["items_without_train"]),
        num(&cs["test"]["rows_with_item_without_train"]),
        num(&doc["graph"]["edges"]),
        num(&doc["graph"]["transitions"])
    );
}

/// `report.html` of a labelled sample corpus: the verdict, class balance per split, the
/// baselines, and the duplicate groups with their thumbnails side by side.
pub fn render_samples(doc: &Value) -> String {
    let name = doc["dataset"]["name"].as_str().unwrap_or("dataset");
    let version = doc["dataset"]["version"].as_str().unwrap_or("");
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>recdata diagnostics: {n} {ver}</title><style>{CSS}.thumbs{{display:flex;gap:8px;flex-wrap:wrap;margin:6px 0 14px}}.thumbs figure{{margin:0;font-size:12px;max-width:260px}}.thumbs img{{height:96px;border:1px solid #ccd;display:block}}</style></head><body><main>",
        n = esc(name),
        ver = esc(version)
    );
    let _ = write!(
        s,
        "<h1>Diagnostics: {} <span class=\"muted\">{}</span></h1><div class=\"muted\">recdata {} · labelled samples · split <code>{}</code></div>",
        esc(name),
        esc(version),
        num(&doc["tool"]["version"]),
        num(&doc["protocol"]["split_method"])
    );
    let leak = doc["verdict"]["media_leakage"].as_u64().unwrap_or(0);
    let _ = write!(
        s,
        "<section id=\"verdict\"><div class=\"verdict {}\"><b>{}</b></div></section>",
        if leak > 0 { "bad" } else { "ok" },
        esc(doc["verdict"]["summary"].as_str().unwrap_or(""))
    );
    // Class balance.
    let _ = write!(
        s,
        "<section id=\"balance\"><h2>Class balance per split</h2><table><tr><th>label</th><th>train</th><th>valid</th><th>test</th><th>share train / valid / test</th></tr>"
    );
    for l in doc["class_balance"]["labels"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let share: Vec<String> = l["share"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!("{:.3}", v.as_f64().unwrap_or(0.0)))
            .collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            num(&l["label"]),
            num(&l["train"]),
            num(&l["valid"]),
            num(&l["test"]),
            share.join(" / ")
        );
    }
    s.push_str("</table></section>");
    // Baselines.
    let b = &doc["baselines"];
    let _ = write!(
        s,
        "<section id=\"baselines\"><h2>Trivial baselines on the test split</h2><p class=\"muted\">What an accuracy means: these need no learning.</p><table><tr><th>baseline</th><th>test items</th><th>accuracy</th></tr><tr><td>samples: majority class ({})</td><td>{}</td><td>{}</td></tr>",
        num(&b["samples"]["majority_class"]["label"]),
        num(&b["samples"]["test_samples"]),
        num(&b["samples"]["majority_class"]["accuracy"])
    );
    let nc = &b["samples"]["nearest_centroid"];
    if nc["applicable"] == true {
        let _ = write!(
            s,
            "<tr><td>samples: nearest centroid on the standardised numeric features</td><td>{}</td><td>{}</td></tr>",
            num(&nc["test_samples"]),
            num(&nc["accuracy"])
        );
    }
    if b["images"]["knn_embeddings"]["applicable"] == true {
        let k = &b["images"]["knn_embeddings"];
        let _ = write!(
            s,
            "<tr><td>images: {}-NN on the <code>{}</code> embeddings (cosine)</td><td>{}</td><td>{}</td></tr>",
            num(&k["k"]),
            num(&k["encoder"]),
            num(&b["images"]["test_images"]),
            num(&k["accuracy"])
        );
    }
    if !b["images"].is_null() {
        let i = &b["images"];
        let _ = write!(
            s,
            "<tr><td>images: majority class ({})</td><td>{}</td><td>{}</td></tr><tr><td>images: exact-hash lookup (memorising the train images)</td><td>{}</td><td>{}</td></tr><tr><td>images: near-hash lookup</td><td>{}</td><td>{}</td></tr>",
            num(&i["majority_class"]["class"]),
            num(&i["test_images"]),
            num(&i["majority_class"]["accuracy"]),
            num(&i["test_images"]),
            num(&i["exact_hash_lookup"]["accuracy"]),
            num(&i["test_images"]),
            num(&i["near_hash_lookup"]["accuracy"])
        );
    }
    s.push_str("</table></section>");
    media_audit_section(doc, &mut s);
    s
}

/// The media audit of a sample corpus: exact and near duplicates across the split, with their
/// thumbnails side by side.
fn media_audit_section(doc: &Value, s: &mut String) {
    let m = &doc["media"];
    if !m.is_null() {
        let _ = write!(
            s,
            "<section id=\"media\"><h2>Media duplicates: <code>{}</code></h2><p>{} images, {} distinct contents; exact-copy groups: {} ({} across splits); near-copy groups (perceptual hash within {} bits): {} ({} across splits); groups with conflicting classes: {}. Test images with a copy in train: {} exact, {} near, of {}.</p>",
            num(&m["table"]),
            num(&m["images"]),
            num(&m["distinct_contents"]),
            num(&m["exact"]["groups"]),
            num(&m["exact"]["groups_across_splits"]),
            num(&m["near_threshold"]),
            num(&m["near"]["groups"]),
            num(&m["near"]["groups_across_splits"]),
            num(&m["groups_with_conflicting_classes"]),
            num(&m["test_images_with_train_copy"]["exact"]),
            num(&m["test_images_with_train_copy"]["near"]),
            num(&m["test_images"])
        );
        for g in m["groups"].as_array().into_iter().flatten().take(12) {
            let splits: Vec<&str> = g["splits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let _ = write!(
                s,
                "<h3>{} copies{} · splits: {}</h3><div class=\"thumbs\">",
                esc(g["kind"].as_str().unwrap_or("")),
                if g["kind"] == "near" {
                    format!(" (up to {} bits apart)", num(&g["max_distance"]))
                } else {
                    String::new()
                },
                esc(&splits.join(", "))
            );
            for im in g["images"].as_array().into_iter().flatten().take(6) {
                let id = im["image_id"].to_string();
                let img = m["thumbnails"][&id].as_str().map_or(String::new(), |uri| {
                    format!("<img src=\"{}\" alt=\"image {}\">", esc(uri), esc(&id))
                });
                let _ = write!(
                    s,
                    "<figure>{img}<figcaption><b>{}</b> · {}<br>{}</figcaption></figure>",
                    num(&im["split"]),
                    num(&im["class"]),
                    num(&im["path"])
                );
            }
            s.push_str("</div>");
        }
        s.push_str("</section>");
    }
    s.push_str("</main></body></html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_and_time_spans() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(1_577_836_800_000), "2020-01-01");
        assert_eq!(date(-86_400_000), "1969-12-31");
        assert_eq!(
            time_span(&json!(1_577_836_800_000i64), &json!(1_609_459_200_000i64)),
            "2020-01-01 – 2021-01-01 (366 days)"
        );
        assert_eq!(
            time_span(&json!(0), &json!(7_200_000)),
            "1970-01-01 – 1970-01-01 (2.0 h)"
        );
        assert_eq!(time_span(&Value::Null, &json!(5)), "—");
    }

    #[test]
    fn report_shows_the_time_span_and_the_recency_curve() {
        let split = json!({ "users": 2, "items": 3, "interactions": 4, "ts_min": 1_577_836_800_000i64, "ts_max": 1_609_459_200_000i64 });
        let doc = json!({
            "dataset": { "name": "d", "version": "1" },
            "stats": { "all": split, "train": split, "valid": { "ts_min": null, "ts_max": null }, "test": split },
            "shortcuts": { "d3": {
                "curve": [
                    { "history": "last 1", "ranker": "tgh1", "last_n": 1, "ndcg@10": 0.25 },
                    { "history": "last 2", "ranker": "tgh2", "last_n": 2, "ndcg@10": 0.125 },
                    { "history": "full history", "ranker": "tgh1_anchor_all", "last_n": "all", "ndcg@10": 0.0625 }
                ],
                "curve_users": 7, "curve_sampled": false, "order_sufficiency": 2.0,
                "shuffle_test": { "rules_2gram": { "original": 9, "shuffled": 3, "change": -0.5 }, "rules_3gram": { "original": 4, "shuffled": 1, "change": -0.75 } }
            } },
        });
        let html = render(&doc);
        assert!(html.contains("<th>time span (UTC)</th>"));
        assert!(html.contains("2020-01-01 – 2021-01-01 (366 days)"));
        assert!(html.contains("id=\"recency\""));
        assert!(html.contains("full history (<code>tgh1_anchor_all</code>)"));
        assert!(html.contains("0.2500 / 0.1250 / 0.0625"));
        assert!(html.contains("3-gram rules") && html.contains("4 → 1 (-0.7500)"));
        assert!(html.contains("9 → 3 (-0.5000)"));
    }
}
