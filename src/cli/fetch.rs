//! `recdata media` and `recdata cache`.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::error::{Error, Result};
use crate::progress::Reporter;

#[allow(clippy::too_many_arguments)]
pub(super) fn media_cmd(
    urls: &Path,
    out: &Path,
    modality: ModalityArg,
    retry_failed: bool,
    (concurrency, per_host, rate, max_bytes, timeout, retries): (
        usize,
        usize,
        f64,
        Option<u64>,
        f64,
        u32,
    ),
    cache_root: &Path,
    json_out: bool,
    p: &Reporter,
) -> Result<u8> {
    use crate::fetch::media::{MediaFetcher, MediaItem, MediaOptions, Modality};
    let m = match modality {
        ModalityArg::Image => Modality::Image,
        ModalityArg::Audio => Modality::Audio,
        ModalityArg::Video => Modality::Video,
    };
    let text = fs_err::read_to_string(urls)?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if i == 0 && f.get(1).is_some_and(|u| !u.contains("://")) {
            continue; // header
        }
        if f.len() < 2 || f.len() > 3 || !f[1].contains("://") {
            return Err(Error::BadInput {
                path: urls.to_path_buf(),
                message: format!(
                    "line {}: expected `key<TAB>url[<TAB>sha256]`, got {:?}",
                    i + 1,
                    line
                ),
            });
        }
        items.push(MediaItem {
            key: f[0].to_string(),
            url: f[1].to_string(),
            sha256: f
                .get(2)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase()),
        });
    }
    let mut o = MediaOptions::new(m);
    o.http.concurrency = concurrency.max(1);
    o.http.per_host = per_host.max(1);
    o.http.retries = retries.max(1);
    o.http.read_timeout = std::time::Duration::from_secs_f64(timeout.max(0.001));
    o.rate_per_host = rate;
    if let Some(b) = max_bytes {
        o.max_bytes = b;
    }
    let cache = crate::fetch::cache::Cache::open(cache_root.to_path_buf())?;
    let mut journal = out.as_os_str().to_os_string();
    journal.push(".journal.jsonl");
    let fetcher = MediaFetcher::new(cache, o)?;
    let (results, summary) = fetcher.run(items, Path::new(&journal), retry_failed, p)?;
    crate::fetch::media::write_results(out, &results)?;
    if json_out {
        println!(
            "{}",
            json!({"type": "media_summary", "summary": summary, "out": out})
        );
    } else {
        let mut o = std::io::stdout().lock();
        for (k, v) in &summary.by_status {
            writeln!(o, "{k}\t{v}")?;
        }
        p.info(format!(
            "Fetched {} of {} item(s) in {:.1}s ({:.0}/s); status table {}",
            summary.fetched,
            summary.items,
            summary.seconds,
            summary.items_per_second,
            out.display()
        ));
    }
    Ok(0)
}

pub(super) fn cache_cmd(
    action: &CacheAction,
    root: &Path,
    json_out: bool,
    p: &Reporter,
) -> Result<u8> {
    let c = crate::fetch::cache::Cache::open(root.to_path_buf())?;
    let mut out = std::io::stdout().lock();
    match action {
        CacheAction::Ls => {
            let entries = c.ls()?;
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            for e in &entries {
                if json_out {
                    writeln!(out, "{}", json!({"type": "cache_entry", "entry": e}))?;
                } else {
                    writeln!(
                        out,
                        "{:<9} {}  {:>10}  {}",
                        e.kind,
                        e.key,
                        crate::fetch::http::human_bytes(e.bytes),
                        e.origin
                    )?;
                }
            }
            p.info(format!(
                "Cache {}: {} entries, {}",
                root.display(),
                entries.len(),
                crate::fetch::http::human_bytes(total)
            ));
        }
        CacheAction::Gc {
            older_than_days,
            keep,
            dry_run,
        } => {
            let mut keys = Vec::new();
            for mf in keep {
                let m = crate::stages::manifest::load(mf)?;
                let lock = crate::fetch::lockfile::LockFile::load(mf)?;
                for f in &m.source.files {
                    if let Some(s) = f
                        .sha256
                        .clone()
                        .or_else(|| lock.get(&f.url).map(|l| l.sha256.clone()))
                    {
                        keys.push(s);
                    }
                }
            }
            let rep = c.gc((older_than_days * 86400.0) as u64, &keys, *dry_run)?;
            if json_out {
                writeln!(
                    out,
                    "{}",
                    json!({"type": "cache_gc", "dry_run": dry_run, "report": rep})
                )?;
            } else {
                for r in &rep.removed {
                    writeln!(
                        out,
                        "{}{r}",
                        if *dry_run {
                            "would remove "
                        } else {
                            "removed "
                        }
                    )?;
                }
                p.info(format!(
                    "{} {} entries, {} ({} kept)",
                    if *dry_run { "Would-free" } else { "Freed" },
                    rep.removed.len(),
                    crate::fetch::http::human_bytes(rep.freed_bytes),
                    rep.kept
                ));
            }
        }
    }
    Ok(0)
}

/// `recdata fetch`: download and verify a manifest's files without building.
pub(super) fn run(cli: &Cli, p: &Reporter) -> Result<u8> {
    let Command::Fetch { manifest, cache } = &cli.command else {
        unreachable!("dispatched on the variant")
    };
    let m = crate::stages::manifest::load(manifest)?;
    if m.source.files.is_empty() {
        p.info(format!(
            "Nothing {} reads local files only (source.path)",
            manifest.display()
        ));
        return Ok(0);
    }
    let c = crate::fetch::cache::Cache::open(cache.root())?;
    let got = crate::stages::source::fetch(&m, &c, p)?;
    let mut out = std::io::stdout().lock();
    for (f, g) in &got {
        if cli.json {
            writeln!(
                out,
                "{}",
                json!({"type": "fetched", "file": f.name, "sha256": g.sha256, "bytes": g.bytes,
                           "served_by": g.served_by, "path": c.blob_path(&g.sha256), "attempts": g.attempts})
            )?;
        } else {
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                f.name,
                g.sha256,
                g.bytes,
                g.served_by.as_deref().unwrap_or("cache")
            )?;
        }
    }
    Ok(0)
}
