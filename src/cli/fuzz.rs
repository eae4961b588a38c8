//! `recdata fuzz`: run a fuzz target on files, write the seeds.

use std::path::PathBuf;

use super::*;
use crate::error::{Error, Result};
use crate::progress::Reporter;

pub(super) fn fuzz_cmd(action: FuzzAction, p: &Reporter) -> Result<u8> {
    use crate::fuzzing;
    match action {
        FuzzAction::Seeds { dir } => {
            for t in fuzzing::TARGETS {
                let n = fuzzing::write_seeds_to(&dir, t.name)?;
                p.info(format!(
                    "{}: {n} seed(s) in {}",
                    t.name,
                    dir.join(t.name).display()
                ));
            }
            Ok(0)
        }
        FuzzAction::Run { target, inputs } => {
            let t = fuzzing::target(&target).ok_or_else(|| {
                Error::Unsupported(format!(
                    "no fuzz target `{target}`; the targets: {}",
                    fuzzing::TARGETS
                        .iter()
                        .map(|t| t.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let mut files = Vec::new();
            for i in inputs {
                if i.is_dir() {
                    let mut v: Vec<PathBuf> = fs_err::read_dir(&i)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file())
                        .collect();
                    v.sort();
                    files.extend(v);
                } else {
                    files.push(i);
                }
            }
            for f in &files {
                (t.run)(&fs_err::read(f)?);
            }
            p.info(format!("{target}: {} input(s), no failure", files.len()));
            Ok(0)
        }
    }
}
