use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_recdata"))
}

pub fn recdata(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run recdata")
}

/// Writes a manifest for a Last.fm-format corpus in `raw` (relative to `dir`).
pub fn manifest(dir: &Path, name: &str, version: &str, raw: &str, stages: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!("[dataset]\nname = \"{name}\"\nversion = \"{version}\"\n\n[source]\ncorpus = \"lastfm-1k\"\npath = \"{raw}\"\n\n{stages}"),
    )
    .unwrap();
    p
}

pub fn synth(out: &Path, users: u32, per_user: u32, seed: u64) {
    recdata::synth::lastfm_1k::write(
        out,
        &recdata::synth::lastfm_1k::Options {
            users,
            seed,
            events_per_user: per_user,
        },
    )
    .unwrap();
}

/// All files under `dir` (relative path → bytes), following no symlinks.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn python() -> String {
    std::env::var("RECDATA_PYTHON").unwrap_or_else(|_| "python3".into())
}
