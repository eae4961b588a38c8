//! Command-line interface: argument parsing (clap derive) and the four commands.
//! Data goes to stdout, logs and progress to stderr; `--json` makes stdout JSON lines.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::error::{Error, Result};
use crate::progress::Reporter;

#[derive(Parser, Debug)]
#[command(
    name = "recdata",
    version,
    about = "Turn raw recommender-system corpora into versioned, documented parquet datasets",
    after_help = "Exit codes: 0 ok, 1 checks failed (invalid manifest or input, version conflict), 2 could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Machine-readable JSON lines on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour: auto (default; honours NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build and publish the dataset a manifest describes.
    Build {
        manifest: PathBuf,
        /// Root of the dataset store.
        #[arg(long, env = "RECDATA_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// Check a manifest (and that its local inputs exist) without running anything.
    Validate { manifest: PathBuf },
    /// Summarize a published dataset version and verify its files' checksums.
    Inspect { dir: PathBuf },
    /// Write a small (or full-size) synthetic corpus in the exact upstream format.
    Synth {
        corpus: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20)]
        users: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Mean events per user (Last.fm-1K: 19305 reproduces the real size).
        #[arg(long, default_value_t = 60)]
        events_per_user: u32,
    },
}

fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

/// Runs the CLI; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    let color = color_enabled(cli.color);
    let reporter = Reporter::new(cli.json, cli.quiet, color);
    match dispatch(&cli, &reporter) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            if cli.json {
                let body = match &e {
                    Error::Manifest(m) => json!({
                        "message": "invalid manifest",
                        "diagnostics": m.diagnostics.iter().map(|d| d.to_json(&m.sources)).collect::<Vec<_>>(),
                    }),
                    other => json!({ "message": other.to_string() }),
                };
                let mut b = body;
                b["type"] = "error".into();
                b["exit_code"] = code.into();
                println!("{b}");
            } else {
                match &e {
                    Error::Manifest(m) => eprint!("{}", m.render(color)),
                    other => {
                        let (r, x) = if color {
                            ("\x1b[1;31m", "\x1b[0m")
                        } else {
                            ("", "")
                        };
                        eprintln!("{r}error{x}: {other}");
                    }
                }
            }
            code
        }
    }
}

fn dispatch(cli: &Cli, p: &Reporter) -> Result<u8> {
    match &cli.command {
        Command::Build { manifest, data_dir } => {
            let m = crate::manifest::load(manifest)?;
            for w in &m.warnings {
                p.warn(w.message.clone());
            }
            let out = crate::stages::build(
                &m,
                &crate::stages::BuildOptions {
                    data_dir: data_dir.clone(),
                    progress: p.clone(),
                },
            )?;
            if !cli.json {
                println!("{}", out.dir.display());
            }
            Ok(0)
        }
        Command::Validate { manifest } => {
            let m = crate::manifest::load(manifest)?;
            if let Some(dir) = &m.source.path {
                m.source.corpus.input_files(dir)?;
            }
            if cli.json {
                println!(
                    "{}",
                    json!({ "type": "valid", "manifest": manifest, "resolved": m.resolved })
                );
            } else {
                p.info(format!(
                    "Valid {} ({} {})",
                    manifest.display(),
                    m.dataset.name,
                    m.dataset.version
                ));
            }
            Ok(0)
        }
        Command::Inspect { dir } => inspect(dir, cli.json),
        Command::Synth {
            corpus,
            out,
            users,
            seed,
            events_per_user,
        } => {
            let s = match corpus.as_str() {
                "lastfm-1k" => crate::synth::lastfm_1k::write(
                    out,
                    &crate::synth::lastfm_1k::Options {
                        users: *users,
                        seed: *seed,
                        events_per_user: *events_per_user,
                    },
                )?,
                other => {
                    return Err(Error::Invalid(format!(
                        "no generator for corpus `{other}`; available: {}",
                        crate::synth::CORPORA.join(", ")
                    )));
                }
            };
            if cli.json {
                println!(
                    "{}",
                    json!({ "type": "synth", "corpus": corpus, "out": out, "summary": s })
                );
            } else {
                p.info(format!(
                    "Wrote {} lines ({} bytes, {} damaged) for {} users to {}",
                    s.lines,
                    s.bytes,
                    s.damaged_lines,
                    s.users,
                    out.display()
                ));
            }
            Ok(0)
        }
    }
}

/// Prints a dataset summary; exit 1 if any file's checksum does not match `dataset.json`.
fn inspect(dir: &Path, json_out: bool) -> Result<u8> {
    let path = dir.join("dataset.json");
    let bytes = fs_err::read(&path)?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadInput {
        path: path.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    let mut bad = Vec::new();
    for f in doc["files"].as_array().into_iter().flatten() {
        let rel = f["path"].as_str().unwrap_or_default();
        match crate::util::hash::sha256_file(&dir.join(rel)) {
            Ok((sha, _)) if Some(sha.as_str()) == f["sha256"].as_str() => {}
            Ok(_) => bad.push(format!("{rel}: checksum differs from dataset.json")),
            Err(e) => bad.push(format!("{rel}: {e}")),
        }
    }
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(
            out,
            "{}",
            json!({ "type": "inspect", "dataset": doc, "problems": bad })
        )?;
    } else {
        let ds = &doc["dataset"];
        let st = &doc["statistics"];
        writeln!(
            out,
            "{} {}  ({})",
            ds["name"].as_str().unwrap_or("?"),
            ds["version"].as_str().unwrap_or("?"),
            dir.display()
        )?;
        writeln!(
            out,
            "corpus      {}",
            doc["source"]["corpus"].as_str().unwrap_or("?")
        )?;
        writeln!(
            out,
            "built by    recdata {}",
            doc["tool"]["version"].as_str().unwrap_or("?")
        )?;
        writeln!(
            out,
            "interactions {}  users {}  items {}  density {}",
            st["rows"], st["users"], st["items"], st["density"]
        )?;
        writeln!(
            out,
            "time range  {} .. {}",
            st["first_event"].as_str().unwrap_or("?"),
            st["last_event"].as_str().unwrap_or("?")
        )?;
        if let Some(sp) = doc["split"].as_object() {
            writeln!(
                out,
                "split       {}",
                sp.get("method").and_then(|v| v.as_str()).unwrap_or("?")
            )?;
        }
        let rejected: u64 = doc["accounting"]["rejected"].as_object().map_or(0, |r| {
            r.values().filter_map(serde_json::Value::as_u64).sum()
        });
        writeln!(out, "rejected    {rejected} raw rows (see rejects.parquet)")?;
        writeln!(out, "\n{:<28} {:>12} {:>14}", "file", "rows", "bytes")?;
        for f in doc["files"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "{:<28} {:>12} {:>14}",
                f["path"].as_str().unwrap_or("?"),
                f["rows"],
                f["bytes"]
            )?;
        }
        for b in &bad {
            writeln!(out, "PROBLEM: {b}")?;
        }
    }
    Ok(if bad.is_empty() { 0 } else { 1 })
}
