//! Fault injection at named points of the stage chain, for the fault-matrix tests
//! (`tests/it/faults.rs`, `docs/reliability.md`).
//!
//! `RECDATA_FAULT=<action>@<stage>:<when>[,…]` with
//! - action `kill`: the process sends itself SIGKILL (no destructors, no flushes: exactly what a
//!   scheduler, the OOM killer or a power cut does to a build);
//! - action `enospc`: the stage fails with the error a full disk gives (`ENOSPC`), so the
//!   error path of every stage is exercised, not only the one a small filesystem happens to hit;
//! - action `stop`: the process stops itself (SIGSTOP) until something sends it SIGCONT, so a
//!   test can change the world at an exact point of the build (an input rewritten after it was
//!   parsed, a cache file damaged before it is reused) without racing the build;
//! - `when`: `start` (before the stage does anything), `mid` (for the per-item stages: half the
//!   items done; for the others: the output written to its temporary directory, not yet
//!   committed), `end` (the output committed, the next stage not started).
//!
//! Unset, every point is one relaxed atomic load. The points are part of the product, not
//! test-only code, so the binary the tests kill is the binary users run.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Start,
    Mid,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Kill,
    NoSpace,
    Stop,
}

#[derive(Debug, Clone)]
struct Fault {
    action: Action,
    stage: String,
    when: When,
}

static ARMED: AtomicBool = AtomicBool::new(true);
static FAULTS: OnceLock<Vec<Fault>> = OnceLock::new();

fn faults() -> &'static [Fault] {
    FAULTS.get_or_init(|| {
        let spec = std::env::var("RECDATA_FAULT").unwrap_or_default();
        let parsed = parse(&spec);
        if parsed.is_empty() {
            ARMED.store(false, Ordering::Relaxed);
        }
        parsed
    })
}

fn parse(spec: &str) -> Vec<Fault> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let s = s.trim();
            let (action, rest) = s.split_once('@').unwrap_or_else(|| bad(s));
            let (stage, when) = rest.split_once(':').unwrap_or_else(|| bad(s));
            let action = match action {
                "kill" => Action::Kill,
                "enospc" => Action::NoSpace,
                "stop" => Action::Stop,
                _ => bad(s),
            };
            let when = match when {
                "start" => When::Start,
                "mid" => When::Mid,
                "end" => When::End,
                _ => bad(s),
            };
            Fault {
                action,
                stage: stage.to_owned(),
                when,
            }
        })
        .collect()
}

fn bad(s: &str) -> ! {
    eprintln!(
        "error: RECDATA_FAULT: cannot read `{s}`: expected <kill|enospc|stop>@<stage>:<start|mid|end>"
    );
    std::process::exit(2)
}

/// A named point of `stage`: does what `RECDATA_FAULT` asks for here, if anything.
pub fn at(stage: &str, when: When) -> Result<()> {
    if !ARMED.load(Ordering::Relaxed) {
        return Ok(());
    }
    for f in faults() {
        if f.stage == stage && f.when == when {
            match f.action {
                Action::Kill => kill_self(),
                Action::Stop => {
                    // Once per point (a per-item stage passes its `mid` point repeatedly).
                    static STOPPED: std::sync::Mutex<Vec<(String, When)>> =
                        std::sync::Mutex::new(Vec::new());
                    let mut done = STOPPED.lock().unwrap_or_else(|e| e.into_inner());
                    if done.iter().any(|(s, w)| s == stage && *w == when) {
                        continue;
                    }
                    done.push((stage.to_owned(), when));
                    eprintln!("RECDATA_FAULT: stopped at {stage}:{when:?} (send SIGCONT to go on)");
                    // SAFETY: signalling our own pid; execution resumes on SIGCONT.
                    unsafe {
                        libc::raise(libc::SIGSTOP);
                    }
                }
                Action::NoSpace => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        format!(
                            "{stage}: writing its output: No space left on device (os error 28, injected by RECDATA_FAULT)"
                        ),
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Progress of a per-item stage: its `mid` point, once `done` reaches half of `total` (either
/// action ends the stage there, so it needs no firing-once bookkeeping).
pub fn progress(stage: &str, done: usize, total: usize) -> Result<()> {
    if ARMED.load(Ordering::Relaxed) && total > 0 && done * 2 >= total {
        return at(stage, When::Mid);
    }
    Ok(())
}

fn kill_self() -> ! {
    // SAFETY: signalling our own pid; SIGKILL cannot be caught, so this does not return.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let f = parse("kill@encode:mid, enospc@publish:start");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].action, Action::Kill);
        assert_eq!((f[1].stage.as_str(), f[1].when), ("publish", When::Start));
        assert!(parse("").is_empty());
    }
}
