//! Where a run talks: progress bars and log lines on stderr, JSON events on stdout with
//! `--json`. Bars hide themselves with `--quiet`, `--json`, or when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Debug)]
pub struct Reporter {
    /// Emit JSON lines on stdout instead of human logs.
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
    bars: bool,
}

impl Reporter {
    pub fn new(json: bool, quiet: bool, color: bool) -> Self {
        let bars = !json && !quiet && std::io::stderr().is_terminal();
        Reporter {
            json,
            quiet,
            color,
            bars,
        }
    }

    /// A reporter that says nothing (library use, tests).
    pub fn silent() -> Self {
        Reporter {
            json: false,
            quiet: true,
            color: false,
            bars: false,
        }
    }

    /// A human log line on stderr (suppressed by `--quiet` and `--json`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            let (b, r) = if self.color {
                ("\x1b[1;32m", "\x1b[0m")
            } else {
                ("", "")
            };
            let msg = msg.as_ref();
            match msg.split_once(' ') {
                Some((verb, rest)) => eprintln!("{b}{verb:>12}{r} {rest}"),
                None => eprintln!("{b}{msg:>12}{r}"),
            }
        }
    }

    /// A warning on stderr; kept with `--quiet`; an event with `--json`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        if self.json {
            self.event("warning", serde_json::json!({ "message": msg.as_ref() }));
        } else {
            let (y, r) = if self.color {
                ("\x1b[1;33m", "\x1b[0m")
            } else {
                ("", "")
            };
            eprintln!("{y}warning{r}: {}", msg.as_ref());
        }
    }

    /// A machine event (`--json` only): one JSON object per line on stdout with a `type` field.
    pub fn event(&self, kind: &str, mut body: serde_json::Value) {
        if !self.json {
            return;
        }
        if let Some(o) = body.as_object_mut() {
            o.insert("type".into(), kind.into());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{body}");
        let _ = out.flush();
    }

    fn bar(&self, len: u64, template: &str, msg: &str) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.to_owned());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    /// A byte-count progress bar (reading a file).
    pub fn bytes_bar(&self, total: u64, msg: &str) -> ProgressBar {
        self.bar(
            total,
            "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            msg,
        )
    }

    /// An item-count progress bar.
    pub fn count_bar(&self, total: u64, msg: &str) -> ProgressBar {
        self.bar(
            total,
            "{msg:>24} [{bar:30}] {human_pos}/{human_len} eta {eta}",
            msg,
        )
    }

    /// A container for several bars drawn together (downloads).
    pub fn multi(&self) -> indicatif::MultiProgress {
        if self.bars {
            indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    }

    /// A byte bar inside `multi`: bytes, rate and ETA.
    pub fn add_bytes_bar(
        &self,
        multi: &indicatif::MultiProgress,
        total: u64,
        msg: &str,
    ) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let pb = multi.add(ProgressBar::new(total));
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.to_owned());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }
}
