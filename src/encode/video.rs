//! Video frames: N frames sampled uniformly (at the centres of N equal slices of the clip)
//! by ffmpeg, Debian's package, run as a subprocess that writes PPM images to a pipe.

use std::path::Path;
use std::process::{Command, Stdio};

use image::RgbImage;

use super::EncodeError;
use crate::error::{Error, Result};

/// Checks that ffmpeg and ffprobe can run; the error says how to install them.
pub fn check_ffmpeg() -> Result<String> {
    let out = Command::new(ffmpeg())
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::Unsupported(format!(
                "video encoding needs ffmpeg, which could not be run ({e})\n  hint: `apt-get install ffmpeg` (Debian/Ubuntu), or set RECDATA_FFMPEG to its path"
            ))
        })?;
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Ok(first)
}

fn ffmpeg() -> String {
    std::env::var("RECDATA_FFMPEG").unwrap_or_else(|_| "ffmpeg".into())
}

fn ffprobe() -> String {
    std::env::var("RECDATA_FFMPEG")
        .ok()
        .map(|f| f.replace("ffmpeg", "ffprobe"))
        .unwrap_or_else(|| "ffprobe".into())
}

/// The clip's duration in seconds, from its container.
fn duration(path: &Path) -> std::result::Result<f64, EncodeError> {
    let out = Command::new(ffprobe())
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EncodeError::new("no_frames", format!("ffprobe: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            EncodeError::new(
                "no_frames",
                format!(
                    "not a readable video (ffprobe: {})",
                    String::from_utf8_lossy(&out.stderr)
                        .trim()
                        .lines()
                        .last()
                        .unwrap_or("no duration")
                ),
            )
        })
}

/// Up to `n` frames at times `(i + 0.5) * duration / n`.
pub fn sample_frames(path: &Path, n: u32) -> std::result::Result<Vec<RgbImage>, EncodeError> {
    let d = duration(path)?;
    let step = d / f64::from(n);
    let out = Command::new(ffmpeg())
        .args(["-nostdin", "-v", "error", "-ss"])
        .arg(format!("{:.6}", step / 2.0))
        .arg("-i")
        .arg(path)
        .args(["-vf"])
        .arg(format!("fps={}/{:.6}", n, d))
        .args(["-frames:v"])
        .arg(n.to_string())
        .args(["-f", "image2pipe", "-vcodec", "ppm", "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EncodeError::new("no_frames", format!("ffmpeg: {e}")))?;
    let frames = parse_ppms(&out.stdout);
    if frames.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(EncodeError::new(
            "no_frames",
            format!(
                "ffmpeg decoded no frames{}",
                err.trim()
                    .lines()
                    .last()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(frames)
}

/// Splits concatenated binary PPM (P6, maxval 255) images.
fn parse_ppms(mut b: &[u8]) -> Vec<RgbImage> {
    let mut out = Vec::new();
    loop {
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 && i < b.len() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let s = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&b[s..i]).to_string());
        }
        if fields.len() < 4 || fields[0] != "P6" || fields[3] != "255" {
            break;
        }
        let (Ok(w), Ok(h)) = (fields[1].parse::<u32>(), fields[2].parse::<u32>()) else {
            break;
        };
        i += 1; // the single whitespace after maxval
        let len = (w * h * 3) as usize;
        if b.len() < i + len {
            break;
        }
        if let Some(img) = RgbImage::from_raw(w, h, b[i..i + len].to_vec()) {
            out.push(img);
        }
        b = &b[i + len..];
    }
    out
}
