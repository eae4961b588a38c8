//! Peak resident memory per stage, without disturbing the process's own peak (which
//! `/usr/bin/time` and `wait4` report, and which Linux's `clear_refs` reset would lower).
//!
//! A stage's peak is exact when the stage set a new high-water mark for the process (`VmHWM` in
//! `/proc/self/status` rose during it: the mark is the stage's peak). Otherwise it is the largest
//! resident size seen by a sampler thread that reads `/proc/self/statm` every 20 ms while a stage
//! runs. Elsewhere than Linux the peak is unknown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The largest resident size sampled since the window started.
static WINDOW_MAX: AtomicU64 = AtomicU64::new(0);
/// `VmHWM` when the window started.
static WINDOW_HWM: AtomicU64 = AtomicU64::new(0);
static SAMPLER: Mutex<bool> = Mutex::new(false);

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The process's resident bytes now.
pub fn current_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096))
}

/// The process's high-water mark of resident bytes.
pub fn high_water_bytes() -> Option<u64> {
    status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// Starts a new measurement window (and, once, the sampler thread).
pub fn reset_peak() {
    let Some(now) = current_bytes() else {
        return;
    };
    WINDOW_MAX.store(now, Ordering::Relaxed);
    WINDOW_HWM.store(high_water_bytes().unwrap_or(0), Ordering::Relaxed);
    let mut started = SAMPLER.lock().unwrap_or_else(|e| e.into_inner());
    if !*started {
        *started = true;
        let _ = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(20));
                    if let Some(b) = current_bytes() {
                        WINDOW_MAX.fetch_max(b, Ordering::Relaxed);
                    }
                }
            });
    }
}

/// The peak resident bytes since the window started.
pub fn peak_bytes() -> Option<u64> {
    let now = current_bytes()?;
    let sampled = WINDOW_MAX.load(Ordering::Relaxed).max(now);
    match high_water_bytes() {
        Some(hwm) if hwm > WINDOW_HWM.load(Ordering::Relaxed) => Some(hwm.max(sampled)),
        _ => Some(sampled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_window_sees_its_own_peak_and_the_process_peak_is_kept() {
        reset_peak();
        let before = peak_bytes().unwrap();
        let v = vec![1u8; 256 << 20];
        std::hint::black_box(&v);
        drop(v);
        let during = peak_bytes().unwrap();
        assert!(during >= before + (200 << 20), "{before} -> {during}");
        let hwm = high_water_bytes().unwrap();
        reset_peak();
        let after = peak_bytes().unwrap();
        assert!(
            after + (200 << 20) <= during,
            "{during} -> {after} in a new window"
        );
        assert!(
            high_water_bytes().unwrap() >= hwm,
            "the process's own peak is not lowered"
        );
    }
}
