//! Audio: decode (WAV, MP3, FLAC, OGG/Vorbis through `symphonia`), mix to mono, resample with a
//! windowed-sinc filter, then the model's feature front end.
//!
//! The openWakeWord front end (the registry's `frontend = "openwakeword"`) is reproduced
//! exactly: the mel-spectrogram model takes 16 kHz samples as int16 values, its output becomes
//! `x / 10 + 2`, and windows of 76 frames every 8 frames go through the embedding model (Google's
//! speech_embedding); an item's vector is the mean over its windows.

use std::io::Cursor;

use ort::session::Session;
use ort::value::Tensor;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::text::ort_err;
use super::{EncodeError, Model, l2_normalize};
use crate::error::Result;

/// Decoded audio: mono samples in [-1, 1] and their rate.
pub struct Pcm {
    pub samples: Vec<f32>,
    pub rate: u32,
}

/// Decodes the first audio track of `bytes`, at most `max_seconds` of it.
pub fn decode(bytes: Vec<u8>, max_seconds: f64) -> std::result::Result<Pcm, EncodeError> {
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(_) => EncodeError::new(
                "unsupported_format",
                "not a WAV, MP3, FLAC or OGG/Vorbis file",
            ),
            other => EncodeError::new("decode_error", other.to_string()),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| EncodeError::new("decode_error", "the file has no audio track"))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| EncodeError::new("unsupported_format", e.to_string()))?;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut samples = Vec::new();
    let mut limit = usize::MAX;
    let mut errors = 0usize;
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                errors += 1;
                last_error = e.to_string();
                if errors > 16 {
                    break;
                }
                continue;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = *buf.spec();
                rate = spec.rate;
                if limit == usize::MAX {
                    limit = (max_seconds * f64::from(rate)) as usize;
                }
                let ch = spec.channels.count().max(1);
                let mut sb = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
                sb.copy_interleaved_ref(buf);
                for frame in sb.samples().chunks(ch) {
                    samples.push(frame.iter().sum::<f32>() / ch as f32);
                }
                if samples.len() >= limit {
                    samples.truncate(limit);
                    break;
                }
            }
            Err(SymError::DecodeError(e)) => {
                errors += 1;
                last_error = e.to_string();
            }
            Err(e) => {
                last_error = e.to_string();
                break;
            }
        }
    }
    if samples.is_empty() {
        return Err(EncodeError::new(
            "decode_error",
            if last_error.is_empty() {
                "no audio samples could be decoded".to_string()
            } else {
                format!("no audio samples could be decoded: {last_error}")
            },
        ));
    }
    if rate == 0 {
        return Err(EncodeError::new("decode_error", "unknown sample rate"));
    }
    Ok(Pcm { samples, rate })
}

/// Resamples with a Hann-windowed sinc (16 zero crossings, cut-off at the lower Nyquist).
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = ratio.min(1.0);
    let half = 16.0 / cutoff; // taps on each side, in input samples
    let n_out = ((x.len() as f64) * ratio).round() as usize;
    (0..n_out)
        .map(|j| {
            let t = j as f64 / ratio;
            let lo = ((t - half).ceil().max(0.0)) as usize;
            let hi = ((t + half).floor() as usize).min(x.len() - 1);
            let mut acc = 0f64;
            for (i, &xi) in x.iter().enumerate().take(hi + 1).skip(lo) {
                let d = i as f64 - t;
                let s = d * cutoff;
                let sinc = if s.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * s).sin() / (std::f64::consts::PI * s)
                };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * d / half).cos();
                acc += f64::from(xi) * sinc * w * cutoff;
            }
            acc as f32
        })
        .collect()
}

/// Below this peak (about -80 dBFS) a clip is treated as silence.
pub const SILENCE_PEAK: f32 = 1e-4;

/// openWakeWord's window geometry.
const WINDOW: usize = 76;
const STEP: usize = 8;
/// Samples for one window of mel frames (n_fft 512, hop 160).
pub const MIN_SAMPLES: usize = 512 + (WINDOW - 1) * 160;

pub struct AudioModel {
    mel: Session,
    emb: Session,
    mel_input: String,
    emb_input: String,
    emb_output: String,
    pub rate: u32,
    dim: usize,
    normalize: bool,
}

impl AudioModel {
    pub fn new(mel: Session, emb: Session, model: &Model) -> Result<AudioModel> {
        Ok(AudioModel {
            mel_input: super::input_name(&mel, "", &model.id)?,
            emb_input: super::input_name(&emb, &model.spec.input, &model.id)?,
            emb_output: super::output_name(&emb, &model.spec.output, &model.id)?,
            mel,
            emb,
            rate: model.spec.sample_rate,
            dim: model.spec.dim,
            normalize: model.normalize,
        })
    }

    /// The embedding of every window of a clip at the model's rate (samples in [-1, 1]).
    pub fn windows(&mut self, samples: &[f32]) -> Result<Vec<Vec<f32>>> {
        let mut x: Vec<f32> = samples
            .iter()
            .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0))
            .collect();
        // A clip shorter than one window is padded with silence to exactly one window.
        if x.len() < MIN_SAMPLES {
            x.resize(MIN_SAMPLES, 0.0);
        }
        let n = x.len();
        let t = Tensor::from_array(([1usize, n], x)).map_err(ort_err)?;
        let out = self
            .mel
            .run(ort::inputs![self.mel_input.as_str() => t])
            .map_err(ort_err)?;
        let (_, mel) = out[0].try_extract_tensor::<f32>().map_err(ort_err)?;
        let frames = mel.len() / 32;
        let mel: Vec<f32> = mel.iter().map(|v| v / 10.0 + 2.0).collect();
        let starts: Vec<usize> = (0..frames)
            .step_by(STEP)
            .filter(|s| s + WINDOW <= frames)
            .collect();
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = Vec::with_capacity(starts.len() * WINDOW * 32);
        for s in &starts {
            batch.extend_from_slice(&mel[s * 32..(s + WINDOW) * 32]);
        }
        let t = Tensor::from_array(([starts.len(), WINDOW, 32, 1], batch)).map_err(ort_err)?;
        let out = self
            .emb
            .run(ort::inputs![self.emb_input.as_str() => t])
            .map_err(ort_err)?;
        let (_, v) = out[self.emb_output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ort_err)?;
        Ok(v.chunks(self.dim).map(<[f32]>::to_vec).collect())
    }

    /// One vector for a decoded clip.
    pub fn encode(&mut self, pcm: &Pcm) -> Result<std::result::Result<Vec<f32>, EncodeError>> {
        let peak = pcm.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak < SILENCE_PEAK {
            return Ok(Err(EncodeError::new(
                "silent",
                format!("the clip is silent (peak {peak:.1e})"),
            )));
        }
        let x = resample(&pcm.samples, pcm.rate, self.rate);
        let w = self.windows(&x)?;
        let mut v = super::mean_pool(&w, self.dim);
        if self.normalize {
            l2_normalize(&mut v);
        }
        Ok(Ok(v))
    }
}
