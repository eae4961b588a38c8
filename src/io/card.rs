//! The generated dataset card (`README.md`), rendered only from `dataset.json` and the
//! canonical schemas — never the source of truth, always reproducible.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// `x` as a code span that is safe in a Markdown table cell: `|` escaped (GitHub's tables honour
/// `\|` inside code spans), and a fence longer than any run of backticks in `x`.
fn code(x: &str) -> String {
    let x = x.replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in x.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 { " " } else { "" };
    format!("{fence}{pad}{x}{pad}{fence}")
}

/// Above this many raw files, the card summarises them per folder.
const MAX_LISTED: usize = 30;

/// The folder of a relative path (`.` for a file at the top).
fn folder_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((d, _)) => format!("{d}/"),
        None => "./".into(),
    }
}

#[derive(Default)]
struct FolderSummary {
    files: u64,
    bytes: u64,
    formats: std::collections::BTreeMap<String, u64>,
}

impl FolderSummary {
    fn formats(&self) -> String {
        self.formats
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// (path, bytes) grouped by folder, with counts per file extension.
fn by_folder(files: impl Iterator<Item = (String, u64)>) -> Vec<(String, FolderSummary)> {
    let mut m: std::collections::BTreeMap<String, FolderSummary> = Default::default();
    for (path, bytes) in files {
        let e = m.entry(folder_of(&path)).or_default();
        e.files += 1;
        e.bytes += bytes;
        let name = path.rsplit('/').next().unwrap_or(&path);
        let ext = name
            .rsplit_once('.')
            .map_or("(none)".to_owned(), |(_, x)| x.to_ascii_lowercase());
        *e.formats.entry(ext).or_default() += 1;
    }
    m.into_iter().collect()
}

pub fn render(doc: &Value) -> String {
    let ds = &doc["dataset"];
    let name = s(&ds["name"]);
    let version = s(&ds["version"]);
    let mut o = String::new();
    let title = ds["title"]
        .as_str()
        .map_or_else(|| name.clone(), str::to_owned);
    let _ = writeln!(o, "# {title} — version {version}\n");
    let _ = writeln!(o, "{}\n", s(&ds["description"]));
    let _ = writeln!(
        o,
        "Built by recdata {} from corpus `{}`. Everything below is generated from `dataset.json`.\n",
        s(&doc["tool"]["version"]),
        s(&doc["source"]["corpus"])
    );
    let _ = writeln!(o, "## License and source\n\n{}\n", s(&ds["license"]));
    if let Some(h) = ds["homepage"].as_str() {
        let _ = writeln!(o, "Corpus home page: <{h}>\n");
    }
    if let Some(c) = ds["citation"].as_str() {
        let _ = writeln!(o, "Cite the corpus as: {c}\n");
    }
    let raw: Vec<&Value> = doc["source"]["files"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if raw.len() <= MAX_LISTED {
        let _ = writeln!(o, "| raw file | bytes | sha256 |\n| --- | ---: | --- |");
        for f in raw {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` |",
                code(&s(&f["file"])),
                s(&f["bytes"]),
                s(&f["sha256"])
            );
        }
    } else {
        // An image corpus has thousands of files: one row per folder here, every file with
        // its sha256 in dataset.json (`source.files`).
        let _ = writeln!(
            o,
            "{} raw files, by folder (each file's size and sha256 are in `dataset.json`, `source.files`):\n\n\
             | folder | files | bytes | formats |\n| --- | ---: | ---: | --- |",
            raw.len()
        );
        for (folder, g) in by_folder(
            raw.iter()
                .map(|f| (s(&f["file"]), f["bytes"].as_u64().unwrap_or(0))),
        ) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                code(&folder),
                g.files,
                g.bytes,
                g.formats()
            );
        }
    }
    if let Some(dl) = doc["source"]["downloaded"].as_array() {
        let _ = writeln!(
            o,
            "\nDownloaded (verified by sha256 before use):\n\n| file | from | bytes | sha256 | extracted |\n| --- | --- | ---: | --- | --- |"
        );
        for f in dl {
            let ex = match f["extracted"].as_object() {
                Some(e) => format!(
                    "{} files, {} bytes ({})",
                    e.get("files").map_or(String::new(), |v| v.to_string()),
                    e.get("bytes").map_or(String::new(), |v| v.to_string()),
                    e.get("kind").and_then(|v| v.as_str()).unwrap_or("")
                ),
                None => "—".into(),
            };
            let _ = writeln!(
                o,
                "| {} | <{}> | {} | `{}` | {ex} |",
                code(&s(&f["name"])),
                s(&f["url"]),
                s(&f["bytes"]),
                s(&f["sha256"])
            );
        }
    }
    render_media_coverage(&mut o, doc);
    render_captions(&mut o, doc);
    render_encoders(&mut o, doc);
    render_semantic_ids(&mut o, doc);
    render_sample_diagnostics(&mut o, doc);

    let _ = writeln!(
        o,
        "\n## Files\n\n| file | rows | bytes | sha256 |\n| --- | ---: | ---: | --- |"
    );
    for f in doc["files"].as_array().into_iter().flatten() {
        let sha = s(&f["sha256"]);
        let _ = writeln!(
            o,
            "| {} | {} | {} | `{}…` |",
            code(&s(&f["path"])),
            s(&f["rows"]),
            s(&f["bytes"]),
            &sha[..sha.len().min(16)]
        );
    }

    render_statistics(&mut o, doc);
    render_accounting(&mut o, doc);
    render_schema(&mut o, doc);
    render_loading(&mut o, doc);
    let _ = writeln!(
        o,
        "## Reproduce\n\n`recdata build <manifest>` with the manifest recorded in `dataset.json`; stage fingerprints:\n"
    );
    for st in doc["stages"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "- {}: `{}`", s(&st["stage"]), s(&st["fingerprint"]));
    }
    o
}

/// `## Modality coverage`: per modality, how many items have their file, and why the others
/// do not.
fn render_media_coverage(o: &mut String, doc: &Value) {
    if let Some(cov) = doc["media_coverage"].as_array() {
        let _ = writeln!(
            o,
            "\n## Modality coverage\n\nMedia fetched by URL or read from the corpus' own files; `media.parquet` has one row per item and modality with the \
             outcome, and `media/<modality>/<item_id>.<ext>` holds the verified files.\n\n\
             | modality | items | with it | coverage | missing, by reason |\n| --- | ---: | ---: | ---: | --- |"
        );
        for c in cov {
            let why = reasons(&c["missing_by_status"]);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.1}% | {why} |",
                s(&c["modality"]),
                s(&c["items"]),
                s(&c["ok"]),
                c["coverage"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
        let any = cov
            .iter()
            .any(|c| c["examples"].as_array().is_some_and(|a| !a.is_empty()));
        if any {
            let _ = writeln!(o, "\nExamples of items without their media:\n");
            for (c, e) in cov.iter().flat_map(|c| {
                c["examples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |e| (c, e))
            }) {
                let _ = writeln!(
                    o,
                    "- item {} ({}): {}{}",
                    s(&e["item_id"]),
                    s(&c["modality"]),
                    s(&e["status"]),
                    e["error"]
                        .as_str()
                        .map(|x| format!(" — {x}"))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// `## Statistics`: rows, users, items, density and the per-user / per-item distributions,
/// overall and per split.
fn render_statistics(o: &mut String, doc: &Value) {
    let st = &doc["statistics"];
    let _ = writeln!(o, "\n## Statistics\n");
    let _ = writeln!(
        o,
        "{} interactions by {} users on {} items (density {}), from {} to {}.\n",
        s(&st["rows"]),
        s(&st["users"]),
        s(&st["items"]),
        s(&st["density"]),
        s(&st["first_event"]),
        s(&st["last_event"])
    );
    let _ = writeln!(
        o,
        "| per | min | median | mean | max |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for (label, key) in [
        ("user", "interactions_per_user"),
        ("item", "interactions_per_item"),
    ] {
        let d = &st[key];
        let _ = writeln!(
            o,
            "| {label} | {} | {} | {} | {} |",
            s(&d["min"]),
            s(&d["median"]),
            s(&d["mean"]),
            s(&d["max"])
        );
    }
    if let Some(splits) = st["splits"].as_object() {
        let _ = writeln!(
            o,
            "\n| split | rows | users | items | first event | last event |\n| --- | ---: | ---: | ---: | --- | --- |"
        );
        for (k, v) in splits {
            let _ = writeln!(
                o,
                "| {k} | {} | {} | {} | {} | {} |",
                s(&v["rows"]),
                s(&v["users"]),
                s(&v["items"]),
                s(&v["first_event"]),
                s(&v["last_event"])
            );
        }
    }
}

/// `## Split protocol` and the row accounting: raw lines, rejects, the filter's steps, the
/// splits.
fn render_accounting(o: &mut String, doc: &Value) {
    let _ = writeln!(o, "\n## Split protocol\n");
    match doc["split"].as_object() {
        Some(p) => {
            for (k, v) in p {
                let _ = writeln!(o, "- `{k}`: {}", s(v));
            }
        }
        None => {
            let _ = writeln!(
                o,
                "No split stage: `interactions.parquet` holds every filtered row."
            );
        }
    }

    let acc = &doc["accounting"];
    let _ = writeln!(
        o,
        "\n## Row accounting\n\nEvery raw row is in a table or in `rejects.parquet` with a reason.\n"
    );
    let _ = writeln!(
        o,
        "| raw file | lines | header | skipped | rows | rejected | repaired |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let accounts: Vec<(&String, &Value)> = acc["raw"].as_object().into_iter().flatten().collect();
    if accounts.len() <= MAX_LISTED {
        for (f, a) in accounts {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                code(f),
                s(&a["lines"]),
                s(&a["header"]),
                s(&a["skipped"]),
                s(&a["rows"]),
                s(&a["rejected"]),
                s(&a["repaired"])
            );
        }
    } else {
        // Summed per folder (the per-file counts are in dataset.json, `accounting.raw`).
        let mut sums: std::collections::BTreeMap<String, [u64; 7]> = Default::default();
        for (f, a) in accounts {
            let e = sums.entry(folder_of(f)).or_default();
            e[0] += 1;
            for (k, key) in ["lines", "header", "skipped", "rows", "rejected", "repaired"]
                .iter()
                .enumerate()
            {
                e[k + 1] += a[*key].as_u64().unwrap_or(0);
            }
        }
        for (folder, e) in sums {
            let _ = writeln!(
                o,
                "| {} ({} files) | {} | {} | {} | {} | {} | {} |",
                code(&folder),
                e[0],
                e[1],
                e[2],
                e[3],
                e[4],
                e[5],
                e[6]
            );
        }
    }
    if let Some(r) = acc["rejected"].as_object().filter(|r| !r.is_empty()) {
        let _ = writeln!(
            o,
            "\nRejected rows by reason: {}.",
            r.iter()
                .map(|(k, v)| format!("`{k}` {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let f = &acc["filter"];
    let _ = writeln!(
        o,
        "\nFilter: {} normalized interactions; removed {} outside the time window, {} duplicates, {} by the per-user cap, \
         {} by the k-core ({} rounds, converged: {}); {} remain ({} users, {} items).",
        s(&f["input_rows"]),
        s(&f["removed_time_window"]),
        s(&f["removed_dedup"]),
        s(&f["removed_max_user"]),
        s(&f["removed_k_core"]),
        s(&f["k_core_rounds"]),
        s(&f["k_core_converged"]),
        s(&f["output_rows"]),
        s(&f["users"]),
        s(&f["items"])
    );
    let _ = writeln!(
        o,
        "\nCatalogue: the raw files name {} users and {} items; `users.parquet` and `items.parquet` keep the {} and {} with surviving interactions or side-table references.",
        s(&f["catalogue_users"]),
        s(&f["catalogue_items"]),
        s(&f["users"]),
        s(&f["items"])
    );
    let side = f["side_tables"].as_array().into_iter().flatten();
    for t in side {
        let _ = writeln!(
            o,
            "\nTable `{}`: {} normalized rows; {} removed with their filtered-out users; {} remain.",
            s(&t["table"]),
            s(&t["input_rows"]),
            s(&t["removed_user_filtered"]),
            s(&t["output_rows"])
        );
    }
    if f["users_without_interactions"].as_u64().unwrap_or(0)
        + f["items_without_interactions"].as_u64().unwrap_or(0)
        > 0
    {
        let _ = writeln!(
            o,
            "\nKept from side tables without interactions: {} users, {} items.",
            s(&f["users_without_interactions"]),
            s(&f["items_without_interactions"])
        );
    }
    if let Some(sp) = acc["splits"].as_object() {
        let _ = writeln!(
            o,
            "\nSplits: {} train, {} valid, {} test ({} users too short for valid/test kept wholly in train).",
            s(&sp["train"]),
            s(&sp["valid"]),
            s(&sp["test"]),
            s(&sp["users_train_only"])
        );
    }
}

/// `## Schema`: the columns of every table.
fn render_schema(o: &mut String, doc: &Value) {
    let _ = writeln!(o, "\n## Schema\n");
    let corpus = s(&doc["source"]["corpus"]);
    let mut tables: Vec<String> = doc["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["table"].as_str().map(str::to_owned))
        .collect();
    tables.dedup();
    for t in tables {
        let Ok(schema) = crate::io::schema::table(&t) else {
            continue;
        };
        let _ = writeln!(
            o,
            "### {t}\n\n{}\n\n| column | type | nullable | description |\n| --- | --- | --- | --- |",
            schema.description
        );
        for f in schema.fields_for(&corpus) {
            let _ = writeln!(
                o,
                "| `{}` | `{}` | {} | {} |",
                f.name,
                f.type_,
                if f.nullable { "yes" } else { "no" },
                f.description
            );
        }
        let _ = writeln!(o);
    }
}

/// Three-line snippets for the readers users already have; each is run by the tests
/// (tests/it/interop.rs) against a built dataset.
fn render_loading(o: &mut String, doc: &Value) {
    let has_splits = doc["files"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["table"] == "splits");
    let (train, tables) = if has_splits {
        ("splits/train.parquet", "splits/*.parquet")
    } else {
        ("interactions.parquet", "interactions.parquet")
    };
    let hf_files = if has_splits {
        "{\"train\": \"splits/train.parquet\", \"validation\": \"splits/valid.parquet\", \"test\": \"splits/test.parquet\"}"
    } else {
        "{\"train\": \"interactions.parquet\"}"
    };
    let first_rs = if has_splits { "splits" } else { "interactions" };
    let _ = writeln!(
        o,
        "## How to load\n\nRun these in this directory. Copied it elsewhere? Run `recdata verify .` first: it re-hashes every file against `dataset.json` and checks row counts and schemas (exit 1 on any difference).\n\n\
         polars:\n\n```python\nimport polars as pl\ntrain = pl.read_parquet(\"{train}\")\nitems = pl.read_parquet(\"items.parquet\")\n```\n\n\
         pyarrow:\n\n```python\nimport pyarrow.parquet as pq\ntrain = pq.read_table(\"{train}\")\nitems = pq.read_table(\"items.parquet\")\n```\n\n\
         Hugging Face datasets:\n\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"parquet\", data_files={hf_files})\ntrain = ds[\"train\"]\n```\n\n\
         DuckDB:\n\n```python\nimport duckdb\ncon = duckdb.connect()\ncon.sql(\"SELECT item_id, count(*) AS n FROM '{tables}' GROUP BY item_id ORDER BY n DESC LIMIT 10\").show()\n```\n\n\
         Croissant (`croissant.json`, validated with `mlcroissant validate`):\n\n```python\nimport mlcroissant as mlc\nds = mlc.Dataset(\"croissant.json\")\nrecords = ds.records(\"{first_rs}\")\n```\n\n\
         RecBole: `recdata export --format recbole . --out recbole/` writes the atomic files (`.inter`, `.item`, `.user`).\n"
    );
}

fn reasons(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| "—".into())
}

fn render_captions(o: &mut String, doc: &Value) {
    let Some(caps) = doc["captions"].as_array() else {
        return;
    };
    let _ = writeln!(
        o,
        "\n## Captions\n\nItem media described by a multimodal LLM behind an OpenAI-compatible endpoint; \
         `captions/<name>.parquet` has the answer, model, prompt sha256 and token counts per item.\n\n\
         | captioner | media | model | endpoint | prompt sha256 | items | captioned | coverage | tokens in / out | missing, by reason |\n\
         | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"
    );
    for c in caps {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | `{}…` | {} | {} | {:.1}% | {} / {} | {} |",
            s(&c["name"]),
            s(&c["media"]),
            s(&c["model"]),
            s(&c["endpoint"]),
            s(&c["prompt_sha256"]).chars().take(12).collect::<String>(),
            s(&c["items"]),
            s(&c["ok"]),
            c["coverage"].as_f64().unwrap_or(0.0) * 100.0,
            s(&c["prompt_tokens"]),
            s(&c["completion_tokens"]),
            reasons(&c["missing_by_status"]),
        );
    }
    for c in caps {
        let _ = writeln!(
            o,
            "\nPrompt of `{}`: \"{}\"",
            s(&c["name"]),
            s(&c["prompt"])
        );
    }
}

fn render_encoders(o: &mut String, doc: &Value) {
    let Some(encs) = doc["encoders"].as_array() else {
        return;
    };
    let _ = writeln!(
        o,
        "\n## Embeddings\n\nOne vector per item in `embeddings/<encoder>.parquet` (items without one are in \
         `encode_status.parquet` with the reason). Model files are pinned by sha256; the preprocessing is in \
         each file's parquet metadata and in `dataset.json`.\n\n\
         | encoder | model | input | dim | dtype | model sha256 | items | encoded | coverage | computed on | missing, by reason |\n\
         | --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | --- | --- |"
    );
    for e in encs {
        let input = e["input"]
            .as_object()
            .and_then(|m| m.iter().next())
            .map(|(k, v)| format!("{k}: {}", s(v)))
            .unwrap_or_else(|| s(&e["input"]));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | `{}…` | {} | {} | {:.1}% | {} | {} |",
            s(&e["name"]),
            s(&e["model"]),
            input.replace('|', "\\|"),
            s(&e["dim"]),
            s(&e["dtype"]),
            s(&e["model_sha256"]).chars().take(12).collect::<String>(),
            s(&e["items"]),
            s(&e["ok"]),
            e["coverage"].as_f64().unwrap_or(0.0) * 100.0,
            reasons(&e["computed_on"]),
            reasons(&e["missing_by_status"]),
        );
    }
    let mut licences: Vec<String> = encs
        .iter()
        .filter(|e| !s(&e["license"]).is_empty() && s(&e["license"]) != "—")
        .map(|e| {
            format!(
                "- `{}` ({}): {} — {}",
                s(&e["name"]),
                s(&e["model"]),
                s(&e["license"]),
                s(&e["source"])
            )
        })
        .collect();
    licences.dedup();
    // Encoders that write into one embedding space (a CLIP image tower and its text tower).
    let mut spaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in encs {
        if let Some(sp) = e["space"].as_str().filter(|x| !x.is_empty()) {
            spaces.entry(sp.to_string()).or_default().push(format!(
                "`{}` ({})",
                s(&e["name"]),
                s(&e["model"])
            ));
        }
    }
    for (sp, members) in &spaces {
        let _ = writeln!(
            o,
            "\nEmbedding space `{sp}`: {} write comparable vectors (cosine across them is meaningful, e.g. text-to-image retrieval).",
            members.join(", ")
        );
    }
    if !licences.is_empty() {
        let _ = writeln!(
            o,
            "\nModel licences (the embeddings inherit their terms):\n\n{}",
            licences.join("\n")
        );
    }
}

fn render_semantic_ids(o: &mut String, doc: &Value) {
    let r = &doc["semantic_ids"];
    if r.is_null() {
        return;
    }
    let m = &r["metrics"];
    let f = |v: &Value| v.as_f64().map_or("—".into(), |x| format!("{x:.4}"));
    let _ = writeln!(
        o,
        "\n## Semantic IDs\n\n`semantic_ids.parquet` gives each item a tuple of codes ({} over {}: codebooks {}, {} dims, seed {}), \
         `codebooks.parquet` the centroids. Codes sha256 `{}…` (SIMD level {}).\n\n\
         | collisions before → after | max group | extra level | reconstruction MSE | relative error | NN recall@{} (x̂) | neighbours sharing level 1 |\n\
         | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n\
         | {} → {} | {} | {} | {} | {} | {} | {} |\n\n\
         | level | codes | used | perplexity | normalised entropy | mean branching | max/min count |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        s(&r["algorithm"]),
        r["input"]["embeddings"]
            .as_array()
            .map(|a| a.iter().map(s).collect::<Vec<_>>().join(" + "))
            .unwrap_or_default(),
        s(&r["options"]["codebooks"]),
        s(&r["dim"]),
        s(&r["options"]["seed"]),
        s(&r["codes_sha256"]).chars().take(12).collect::<String>(),
        s(&r["simd"]),
        s(&m["nn"]["k"]),
        f(&m["collisions_before"]["rate"]),
        f(&m["collision_rate_after"]),
        s(&m["collisions_before"]["max_group"]),
        s(&r["options"]["dedup"]),
        m["reconstruction_mse"]
            .as_f64()
            .map_or("—".into(), |x| format!("{x:.4e}")),
        f(&m["relative_error"]),
        f(&m["nn"]["recall_reconstructed"]),
        f(&m["nn"]["prefix1_agreement"]),
    );
    for l in m["levels"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.1} | {:.3} | {} | {:.2} |",
            s(&l["level"]),
            s(&l["codebook_size"]),
            s(&l["used"]),
            l["perplexity"].as_f64().unwrap_or(0.0),
            l["normalized_entropy"].as_f64().unwrap_or(0.0),
            l["mean_branching"]
                .as_f64()
                .map_or("—".into(), |x| format!("{x:.1}")),
            l["max_min_ratio"].as_f64().unwrap_or(0.0),
        );
    }
}

/// A labelled sample corpus' diagnostics: the verdict, the trivial baselines and the media
/// duplicates (details in `diagnostics.json` and `report.html`).
fn render_sample_diagnostics(o: &mut String, doc: &Value) {
    let d = &doc["diagnostics"];
    if d["baselines"].is_null() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## Diagnostics\n\n**{}** (details: `diagnostics.json`, `report.html`)\n",
        s(&d["verdict"]["summary"])
    );
    let b = &d["baselines"];
    let _ = writeln!(
        o,
        "Trivial baselines on the test split (no learning involved):\n\n| baseline | accuracy |\n| --- | ---: |"
    );
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("—".to_string(), |x| format!("{:.1} %", 100.0 * x))
    };
    let _ = writeln!(
        o,
        "| samples: majority class (`{}`) | {} |",
        s(&b["samples"]["majority_class"]["label"]),
        pct(&b["samples"]["majority_class"]["accuracy"])
    );
    if b["samples"]["nearest_centroid"]["applicable"] == true {
        let _ = writeln!(
            o,
            "| samples: nearest centroid, standardised N, P, K, temperature, humidity, pH, rainfall | {} |",
            pct(&b["samples"]["nearest_centroid"]["accuracy"])
        );
    }
    if b["images"]["knn_embeddings"]["applicable"] == true {
        let _ = writeln!(
            o,
            "| images: 5-NN on the `{}` embeddings (cosine) | {} |",
            s(&b["images"]["knn_embeddings"]["encoder"]),
            pct(&b["images"]["knn_embeddings"]["accuracy"])
        );
    }
    if !b["images"].is_null() {
        let i = &b["images"];
        let _ = writeln!(
            o,
            "| images: majority class (`{}`) | {} |\n| images: exact-hash lookup (memorising the train images) | {} |\n| images: near-hash lookup | {} |",
            s(&i["majority_class"]["class"]),
            pct(&i["majority_class"]["accuracy"]),
            pct(&i["exact_hash_lookup"]["accuracy"]),
            pct(&i["near_hash_lookup"]["accuracy"])
        );
    }
    let m = &d["media"];
    if !m.is_null() {
        let _ = writeln!(
            o,
            "\nMedia duplicates in `{}`: {} images, {} distinct contents; {} exact-copy group(s) ({} across splits), {} near-copy group(s) within {} perceptual-hash bits ({} across splits). Test images with a copy in train: {} exact, {} near, of {}.",
            s(&m["table"]),
            s(&m["images"]),
            s(&m["distinct_contents"]),
            s(&m["exact"]["groups"]),
            s(&m["exact"]["groups_across_splits"]),
            s(&m["near"]["groups"]),
            s(&m["near_threshold"]),
            s(&m["near"]["groups_across_splits"]),
            s(&m["test_images_with_train_copy"]["exact"]),
            s(&m["test_images_with_train_copy"]["near"]),
            s(&m["test_images"])
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_spans_survive_pipes_and_backticks_in_table_cells() {
        assert_eq!(super::code("a/b.csv"), "`a/b.csv`");
        assert_eq!(super::code("a|b"), "`a\\|b`");
        assert_eq!(super::code("a|b`c"), "`` a\\|b`c ``");
    }
}
