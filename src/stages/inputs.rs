//! The raw inputs of a build: their stamps taken before any byte is read, and their sha256,
//! memoized in `.cache/inputs.json` while a file's stamp is unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::InputFile;
use crate::error::Result;
use crate::io::input::Stamp;
use crate::io::store;
use crate::progress::Reporter;
use crate::sources::Normalized;
use crate::util::hash::sha256_file;

/// `.cache/inputs.json`: each input's sha256 by canonical path, valid while its stamp (inode,
/// size, mtime, ctime) is unchanged, so an unchanged 2 GB file is not re-read on every build and
/// a file rewritten to the same size with its mtime set back is still re-hashed.
#[derive(Default)]
struct InputMemo {
    entries: BTreeMap<String, MemoEntry>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct MemoEntry {
    stamp: Stamp,
    sha256: String,
}

/// An input as it is now: its memo key (canonical path) and stamp. Refuses what is not a
/// regular file (a FIFO or a link to `/dev/zero` would hang the hashing).
fn stamp(f: &Path) -> Result<(String, Stamp)> {
    let s = Stamp::read(f)?;
    let key = fs_err::canonicalize(f)?.display().to_string();
    Ok((key, s))
}

impl InputMemo {
    fn load(cache: &Path) -> Self {
        InputMemo {
            entries: fs_err::read(cache.join("inputs.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
        }
    }

    fn get(&self, (key, stamp): &(String, Stamp)) -> Option<&str> {
        self.entries
            .get(key)
            .filter(|m| m.stamp == *stamp)
            .map(|m| m.sha256.as_str())
    }

    fn save(&self, cache: &Path) -> Result<()> {
        fs_err::create_dir_all(cache)?;
        let tmp = store::temp_path_for(&cache.join("inputs.json"));
        fs_err::write(&tmp, serde_json::to_vec_pretty(&self.entries)?)?;
        fs_err::rename(&tmp, cache.join("inputs.json"))?;
        Ok(())
    }
}

/// The inputs as they were before hashing and parsing began: after both, each must be unchanged
/// ([`crate::io::input::check_unchanged`]), so the recorded sha256 describes the parsed bytes.
pub(super) struct InputStamps(Vec<(PathBuf, String, Stamp)>);

impl InputStamps {
    pub(super) fn take(src: &Path, files: &[PathBuf]) -> Result<Self> {
        files
            .iter()
            .map(|f| {
                let shown = f.strip_prefix(src).unwrap_or(f).display().to_string();
                Ok((f.clone(), shown, Stamp::read(f)?))
            })
            .collect::<Result<_>>()
            .map(InputStamps)
    }

    /// The input files' paths.
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.0.iter().map(|(f, _, _)| f.clone()).collect()
    }

    pub(super) fn check_unchanged(&self) -> Result<()> {
        for (f, shown, s) in &self.0 {
            crate::io::input::check_unchanged(f, shown, s)?;
        }
        Ok(())
    }
}

/// sha256 of each input, from the memo where the file is unchanged. Each file is hashed only if
/// its stamp still equals the one in `stamps` afterwards.
pub(super) fn hash_inputs(
    cache: &Path,
    src: &Path,
    stamps: &InputStamps,
    progress: &Reporter,
) -> Result<Vec<InputFile>> {
    let mut memo = InputMemo::load(cache);
    let mut out = Vec::new();
    for (f, shown, before) in &stamps.0 {
        let st = stamp(f)?;
        let sha = match memo.get(&st) {
            Some(sha) => sha.to_owned(),
            None => {
                progress.info(format!("Hashing {}", f.display()));
                let (sha, _) = sha256_file(f)?;
                crate::io::input::check_unchanged(f, shown, before)?;
                let (key, stamp) = st.clone();
                memo.entries.insert(
                    key,
                    MemoEntry {
                        stamp,
                        sha256: sha.clone(),
                    },
                );
                sha
            }
        };
        out.push(InputFile {
            file: f.strip_prefix(src).unwrap_or(f).display().to_string(),
            bytes: st.1.bytes,
            sha256: sha,
        });
    }
    memo.save(cache)?;
    Ok(out)
}

/// Whether every input's sha256 is memoized for its current stamp — a warm build.
fn inputs_memoized(cache: &Path, files: &[PathBuf]) -> bool {
    let memo = InputMemo::load(cache);
    files
        .iter()
        .all(|f| stamp(f).is_ok_and(|st| memo.get(&st).is_some()))
}

/// The inputs' sha256 and, for cold inputs (not hashed before), a parse made while they were
/// hashed: the fingerprint decides afterwards whether this parse is used or a cached one is.
pub(super) fn hash_or_parse(
    corpus: &crate::sources::CorpusConfig,
    cache: &Path,
    src: &Path,
    stamps: &InputStamps,
    p: &Reporter,
) -> Result<(Vec<InputFile>, Option<Normalized>)> {
    if inputs_memoized(cache, &stamps.paths()) {
        return Ok((hash_inputs(cache, src, stamps, p)?, None));
    }
    p.info(format!(
        "Normalizing {} from {} (hashing the inputs alongside)",
        corpus.name(),
        src.display()
    ));
    std::thread::scope(|sc| -> Result<_> {
        let h = sc.spawn(|| hash_inputs(cache, src, stamps, p));
        let n = corpus.normalize(src, p);
        let inputs = h
            .join()
            .map_err(|_| crate::error::Error::Internal("input hashing thread panicked".into()))??;
        Ok((inputs, Some(n?)))
    })
}
