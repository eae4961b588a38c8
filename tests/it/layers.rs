//! The crate's layers, checked: every `crate::<module>` reference in `src/` (test modules aside)
//! points to a module of a strictly lower layer, so no two modules can import each other through
//! any chain. The table below is the module map of `src/lib.rs`; a new top-level module must be
//! placed in it.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top. A module may use any module of a lower layer, never one of its own or above.
const LAYERS: &[&[&str]] = &[
    // Plain helpers (hashing, rng, clocks) and progress/events: nothing of recdata's own.
    &["util", "progress"],
    &["error"],
    // Reading and writing bytes and tables; fault injection points.
    &["io", "fault"],
    // The spanned-TOML toolkit and the manifest's own header: no stage, adapter, fetch or slurm.
    &["manifest"],
    // Parts that read their own manifest sections and do one job each.
    &["fetch", "encode", "semantic", "stats", "slurm", "export"],
    &["sources", "diagnose"],
    &["synth", "verify"],
    // The stage chain: the whole manifest, the plan and its execution.
    &["stages"],
    // The fuzz targets' entry points (over adapters, the manifest and fetch), run by the CLI.
    &["fuzzing"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules each file refers to through `crate::`, outside `#[cfg(test)]` modules.
fn references(text: &str, modules: &[String]) -> Vec<String> {
    // A test module sits at the end of its file by this crate's convention.
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|s| s.trim().split("::").next().unwrap_or("").trim())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![&rest[..end]]
        };
        for n in names {
            if modules.iter().any(|m| m == n) && !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// module → (module it uses → the files that use it).
fn graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || stem != "lib" && stem != "main").then_some(stem)
        })
        .collect();
    modules.sort();
    modules.dedup();
    let mut g = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        let dir = src.join(m);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{m}.rs")));
        }
        let uses: &mut BTreeMap<String, Vec<String>> = g.entry(m.clone()).or_default();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for r in references(&text, &modules) {
                if &r != m {
                    let shown = f.strip_prefix(&src).unwrap().display().to_string();
                    uses.entry(r).or_default().push(shown);
                }
            }
        }
    }
    g
}

#[test]
fn every_module_is_placed_in_a_layer() {
    let unplaced: Vec<String> = graph()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from the layer table of tests/it/layers.rs: {unplaced:?}"
    );
}

#[test]
fn no_module_imports_its_own_layer_or_one_above() {
    let g = graph();
    // The scanner must see the imports that exist, or this test could pass on nothing.
    assert!(g["stages"].contains_key("manifest") && g["sources"].contains_key("io"));
    let mut upward = Vec::new();
    for (m, uses) in &g {
        let Some(lm) = layer_of(m) else { continue };
        for (u, files) in uses {
            if layer_of(u).is_some_and(|lu| lu >= lm) {
                upward.push(format!("{m} → {u} (in {})", files.join(", ")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that break the layers (a module may use only lower layers):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scanner_reads_grouped_and_nested_paths() {
    let modules: Vec<String> = ["io", "util", "stages"].map(String::from).to_vec();
    let text = "use crate::{io::parquet, util};\nfn f() { crate::stages::build(); }\n#[cfg(test)]\nmod tests { use crate::fault; }";
    assert_eq!(references(text, &modules), ["io", "util", "stages"]);
}
