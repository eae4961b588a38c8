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

/// The longest a function may be without saying why (the issue's bound for "a room one can
/// read").
const MAX_FN_LINES: usize = 150;
/// What a longer function says above its signature, with the reason after it.
const LONG_MARK: &str = "Long on purpose:";

/// Each function in `text` as (name, first line, line count), found by a small lexer that
/// skips comments, strings (raw ones too: report templates carry CSS braces) and char
/// literals, so only code braces are counted.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Open functions: (name, start line, brace depth at their body).
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    let (mut i, mut line, mut depth) = (0usize, 1usize, 0usize);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => line += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    line += usize::from(b[i] == b'\n');
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'r' if (i == 0 || !ident(b[i - 1]))
                && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) == Some(&b'"') {
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    j += 1;
                    while j < b.len() && !b[j..].starts_with(&close) {
                        line += usize::from(b[j] == b'\n');
                        j += 1;
                    }
                    i = j + close.len();
                    continue;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    line += usize::from(b.get(i) == Some(&b'\n'));
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    let end = b[i + 2..].iter().position(|&x| x == b'\'').unwrap_or(0);
                    i += end + 3;
                    continue;
                }
                let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                if b.get(i + 1 + ch_len) == Some(&b'\'') {
                    i += ch_len + 2;
                    continue;
                }
            }
            b'f' if b[i..].starts_with(b"fn ") && (i == 0 || !ident(b[i - 1])) => {
                let name: String = text[i + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                pending = Some((name, line));
            }
            b';' if pending.is_some() && open.last().is_none_or(|o| o.2 <= depth) => {
                // A signature without a body (a trait method) — unless inside the signature's
                // own brackets, which this lexer does not track: good enough for this crate.
                pending = None;
            }
            b'{' => {
                depth += 1;
                if let Some((name, start)) = pending.take() {
                    open.push((name, start, depth));
                }
            }
            b'}' => {
                if let Some(o) = open.last()
                    && o.2 == depth
                {
                    let (name, start, _) = open.pop().expect("checked");
                    out.push((name, start, line - start + 1));
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn no_function_is_longer_than_150_lines_without_a_stated_reason() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unexplained = Vec::new();
    let mut longest = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (name, start, len) in functions(&text) {
            longest = longest.max(len);
            if len <= MAX_FN_LINES {
                continue;
            }
            // The reason sits in the comments right above the signature (or its attributes).
            let above = lines[start.saturating_sub(15)..start - 1]
                .iter()
                .rev()
                .take_while(|l| {
                    let t = l.trim_start();
                    t.starts_with("//") || t.starts_with("#[")
                });
            if !above.into_iter().any(|l| l.contains(LONG_MARK)) {
                let shown = f.strip_prefix(&src).unwrap().display();
                unexplained.push(format!("{shown}:{start} fn {name}: {len} lines"));
            }
        }
    }
    // The lexer must see long functions at all, or this test could pass on nothing.
    assert!(
        longest > 100,
        "the longest function found has {longest} lines"
    );
    assert!(
        unexplained.is_empty(),
        "functions over {MAX_FN_LINES} lines without a `// {LONG_MARK} <reason>` above them:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn the_function_lexer_skips_strings_comments_and_chars() {
    let text = "fn a() {\n    let s = \"}}\";\n    let r = r#\"{ \"\" }\"#;\n    // }\n    let c = '}';\n    let l: &'static str = \"\";\n}\nfn b();\nfn c() {\n}\n";
    assert_eq!(
        functions(text),
        vec![("a".to_owned(), 1, 7), ("c".to_owned(), 9, 2)]
    );
}
