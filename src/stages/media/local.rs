//! Media that ship with the corpus as local files (MicroLens covers and videos, Qilin note
//! images, AgroSense soil photos): found by path template, checked exactly like downloads
//! (size cap, magic bytes, full decode for images), and copied into the content-addressed
//! cache so a published version keeps its own immutable copy.

use std::path::Path;

use arrow_array::{Array, StringArray};
use rayon::prelude::*;

use crate::error::Result;
use crate::fetch::cache::Cache;
use crate::fetch::media::{MediaOptions, MediaResult, check_content};
use crate::progress::Reporter;
use crate::util::hash::sha256_file;

/// One raw id as a path component: no separators, no `.`/`..`, nothing empty.
fn safe_component(raw: &str) -> bool {
    !raw.is_empty() && raw != "." && raw != ".." && !raw.contains(['/', '\\', '\0'])
}

fn result(rel: &str, status: &str, error: Option<String>) -> MediaResult {
    MediaResult {
        key: String::new(),
        url: rel.to_owned(),
        status: status.to_owned(),
        http_status: None,
        bytes: None,
        sha256: None,
        format: None,
        width: None,
        height: None,
        attempts: 1,
        error,
    }
}

/// Checks every item's file; one result per item, in the order of `ids`.
pub fn check_all(
    src: &Path,
    templates: &[String],
    ids: &[u32],
    raw: &StringArray,
    o: &MediaOptions,
    cache: &Cache,
    p: &Reporter,
) -> Result<Vec<MediaResult>> {
    let bar = p.count_bar(
        ids.len() as u64,
        &format!("Checking local {}", o.modality.name()),
    );
    let out = (0..ids.len())
        .into_par_iter()
        .map(|i| {
            let r = check_one(
                src,
                templates,
                ids[i],
                raw.value(i),
                raw.is_null(i),
                o,
                cache,
            );
            bar.inc(1);
            r.map(|mut r| {
                r.key = ids[i].to_string();
                r
            })
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let ok = out.iter().filter(|r| r.ok()).count();
    p.info(format!(
        "Checked {} local {} file(s): {ok} ok, {} without a usable file",
        out.len(),
        o.modality.name(),
        out.len() - ok
    ));
    Ok(out)
}

fn check_one(
    src: &Path,
    templates: &[String],
    id: u32,
    raw: &str,
    raw_null: bool,
    o: &MediaOptions,
    cache: &Cache,
) -> Result<MediaResult> {
    let names: Vec<String> = templates
        .iter()
        .map(|t| {
            t.replace("{raw_id}", raw)
                .replace("{item_id}", &id.to_string())
        })
        .collect();
    if raw_null || !safe_component(raw) {
        return Ok(result(
            &names[0],
            "bad_path",
            Some(format!("raw id {raw:?} cannot be used as a file name")),
        ));
    }
    let Some(rel) = names.iter().find(|n| src.join(n).is_file()) else {
        return Ok(result(
            &names[0],
            "not_found",
            Some(format!("no file at {}", names.join(" or "))),
        ));
    };
    let path = src.join(rel);
    let bytes = fs_err::metadata(&path)?.len();
    if bytes > o.max_bytes {
        let mut r = result(
            rel,
            "too_large",
            Some(format!("{bytes} bytes > max_bytes {}", o.max_bytes)),
        );
        r.bytes = Some(bytes);
        return Ok(r);
    }
    let mut head = vec![0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = fs_err::File::open(&path)?;
        let mut n = 0;
        while n < head.len() {
            let k = f.read(&mut head[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        n
    };
    head.truncate(n);
    let (format, width, height) = match check_content(o.modality, &path, &head) {
        Ok(x) => x,
        Err(e) => {
            let mut r = result(rel, o.modality.not_status(), Some(e));
            r.bytes = Some(bytes);
            return Ok(r);
        }
    };
    // Hash the copy, not the source, so what is stored is exactly what was hashed even if
    // the source changes meanwhile.
    let tmp_dir = cache.root.join("partial");
    fs_err::create_dir_all(&tmp_dir)?;
    let tmp = tmp_dir.join(format!("local-{}-{id}", std::process::id()));
    fs_err::copy(&path, &tmp)?;
    let (sha, bytes) = sha256_file(&tmp)?;
    let _lock = cache.lock(&sha)?;
    cache.commit_blob(&tmp, &sha, bytes, &format!("file:{rel}"))?;
    Ok(MediaResult {
        key: String::new(),
        url: rel.clone(),
        status: "ok".into(),
        http_status: None,
        bytes: Some(bytes),
        sha256: Some(sha),
        format: Some(format),
        width,
        height,
        attempts: 1,
        error: None,
    })
}
