//! Manifest diagnostics rendered like rustc/cargo: `file:line:col`, the source line, a caret
//! under the offending text, and help lines naming the valid alternatives.

use std::fmt::Write as _;

use super::tree::{Sources, Span};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    pub label: String,
    pub help: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Option<Span>, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: label.into(),
            help: vec![],
        }
    }

    pub fn warning(
        message: impl Into<String>,
        span: Option<Span>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(message, span, label)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// A machine-readable form for `--json`.
    pub fn to_json(&self, sources: &Sources) -> serde_json::Value {
        let mut v = serde_json::json!({
            "severity": match self.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "message": self.message,
            "help": self.help,
        });
        if let Some(sp) = self.span {
            let (line, col, _) = sources.locate(sp.file, sp.start);
            v["file"] = sources.path(sp.file).display().to_string().into();
            v["line"] = line.into();
            v["column"] = col.into();
        }
        v
    }

    /// Renders the diagnostic; `color` adds ANSI styles (callers decide from NO_COLOR / TTY).
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let (red, yellow, blue, bold, reset) = if color {
            (
                "\x1b[1;31m",
                "\x1b[1;33m",
                "\x1b[1;34m",
                "\x1b[1m",
                "\x1b[0m",
            )
        } else {
            ("", "", "", "", "")
        };
        let (word, col) = match self.severity {
            Severity::Error => ("error", red),
            Severity::Warning => ("warning", yellow),
        };
        let mut out = format!(
            "{col}{word}{reset}{bold}: {}{reset}\n",
            crate::util::clip(&self.message, 300)
        );
        if let Some(sp) = self.span {
            let text = sources.text(sp.file);
            let (line, column, line_text) = sources.locate(sp.file, sp.start);
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(
                out,
                "{pad}{blue}-->{reset} {}:{line}:{column}",
                sources.path(sp.file).display()
            );
            let start_chars = column - 1;
            let width = text
                .get(sp.start..sp.end.max(sp.start))
                .map_or(1, |s| s.lines().next().unwrap_or("").chars().count())
                .clamp(1, 200);
            // A line of source is shown whole up to a limit: a 400 KB line is not echoed.
            let (line_text, start_chars) = clip_line(line_text, start_chars, width);
            let _ = writeln!(out, "{pad} {blue}|{reset}");
            let _ = writeln!(out, "{blue}{line:>gutter$} |{reset} {line_text}");
            let _ = writeln!(
                out,
                "{pad} {blue}|{reset} {}{col}{} {}{reset}",
                " ".repeat(start_chars),
                "^".repeat(width),
                crate::util::clip(&self.label, 200)
            );
            if !self.help.is_empty() {
                let _ = writeln!(out, "{pad} {blue}|{reset}");
            }
            for h in &self.help {
                let h = crate::util::clip(h, 600);
                let _ = writeln!(out, "{pad} {blue}={reset} {bold}help{reset}: {h}");
            }
        } else {
            for h in &self.help {
                let _ = writeln!(out, "  = help: {}", crate::util::clip(h, 600));
            }
        }
        out
    }
}

/// At most 160 characters of `line` around the caret (`…` marks what was cut), and the caret's
/// column in the clipped text.
fn clip_line(line: &str, caret: usize, width: usize) -> (String, usize) {
    const MAX: usize = 160;
    let n = line.chars().count();
    if n <= MAX {
        return (line.to_owned(), caret);
    }
    let from = caret.saturating_sub(40).min(n.saturating_sub(MAX));
    let take = MAX.max(width.min(MAX));
    let mut s: String = line.chars().skip(from).take(take).collect();
    let mut col = caret - from;
    if from > 0 {
        s.insert(0, '…');
        col += 1;
    }
    if from + take < n {
        s.push('…');
    }
    (s, col)
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if it is close enough to be a plausible typo.
pub fn suggest<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(given, c), *c))
        .filter(|(d, c)| {
            *d <= (c.len().max(given.len()) / 3).max(1) || c.contains(given) && given.len() >= 3
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `a`, `a` or `b`, `a`, `b` or `c` with backticks.
pub fn one_of(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}
