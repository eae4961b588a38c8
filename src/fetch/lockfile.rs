//! `<manifest>.lock`: the sha256 and size of every remote file the manifest does not pin.
//!
//! The first fetch of an unpinned file hashes it, writes the hash here and warns; every later
//! fetch verifies against it, so an upstream file that silently changes is caught the same way
//! a pinned one is. Commit the lock file next to the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LockFile {
    pub path: PathBuf,
    /// By primary URL.
    pub files: BTreeMap<String, (String, Locked)>,
}

impl LockFile {
    pub fn path_for(manifest: &Path) -> PathBuf {
        let mut s = manifest.as_os_str().to_os_string();
        s.push(".lock");
        PathBuf::from(s)
    }

    pub fn load(manifest: &Path) -> Result<Self> {
        let path = Self::path_for(manifest);
        let mut lf = LockFile {
            path: path.clone(),
            files: BTreeMap::new(),
        };
        let Ok(text) = fs_err::read_to_string(&path) else {
            return Ok(lf);
        };
        let bad = |m: String| Error::BadInput {
            path: path.clone(),
            message: m,
        };
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e| bad(format!("not a valid lock file: {e}")))?;
        if let Some(arr) = doc.get("file").and_then(|f| f.as_array_of_tables()) {
            for (i, t) in arr.iter().enumerate() {
                let get = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let (Some(url), Some(sha)) = (get("url"), get("sha256")) else {
                    return Err(bad(format!(
                        "[[file]] #{}: needs `url` and `sha256`",
                        i + 1
                    )));
                };
                let size = t.get("size").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
                let name = get("name").unwrap_or_default();
                lf.files.insert(url, (name, Locked { sha256: sha, size }));
            }
        }
        Ok(lf)
    }

    pub fn get(&self, url: &str) -> Option<&Locked> {
        self.files.get(url).map(|(_, l)| l)
    }

    /// Writes the file atomically, entries sorted by URL (a stable diff).
    pub fn save(&self) -> Result<()> {
        let mut out = String::from(
            "# Written by `recdata fetch`: sha256 of the remote files the manifest does not pin.\n\
             # Later fetches verify against these. Commit this file next to the manifest.\n\
             version = 1\n",
        );
        for (url, (name, l)) in &self.files {
            out.push_str(&format!(
                "\n[[file]]\nname = {}\nurl = {}\nsha256 = \"{}\"\nsize = {}\n",
                // JSON string escapes are valid TOML basic-string escapes.
                serde_json::to_string(name)?,
                serde_json::to_string(url)?,
                l.sha256,
                l.size
            ));
        }
        let tmp = self
            .path
            .with_extension(format!("lock.tmp-{}", std::process::id()));
        fs_err::write(&tmp, out)?;
        fs_err::rename(&tmp, &self.path)?;
        Ok(())
    }
}
