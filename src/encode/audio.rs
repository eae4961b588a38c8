//! Audio: decode (WAV, MP3, FLAC, OGG/Vorbis through `symphonia`), mix to mono, resample with a
//! windowed-sinc filter, then the model's feature front end.
//!
//! Waveform models (`frontend = "waveform"`: wav2vec2, HuBERT, WavLM, CLAP audio towers) take
//! the resampled samples themselves, optionally standardised, one clip per run.
//!
//! The openWakeWord front end (the registry's `frontend = "openwakeword"`) is reproduced
//! exactly: the mel-spectrogram model takes 16 kHz samples as int16 values, its output becomes
//! `x / 10 + 2`, and windows of 76 frames every 8 frames go through the embedding model (Google's
//! speech_embedding); an item's vector is the mean over its windows.

use std::io::Cursor;

use ort::session::Session;
use ort::value::{Tensor, TensorElementType};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::registry::Frontend;
use super::text::ort_err;
use super::{EncodeError, Model, l2_normalize, tensor};
use crate::error::{Error, Result};

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

/// An audio model with its front end.
pub struct AudioModel {
    front: Front,
    emb: Session,
    emb_input: String,
    emb_output: String,
    pub rate: u32,
    dim: usize,
    normalize: bool,
}

enum Front {
    /// openWakeWord's mel-spectrogram model, then windows of mel frames.
    Openwakeword { mel: Session, mel_input: String },
    /// The samples go into the model itself.
    Waveform {
        input_type: TensorElementType,
        /// The graph's `attention_mask` input and its type, when it has one.
        mask: Option<(String, TensorElementType)>,
        standardize: bool,
    },
}

impl AudioModel {
    /// `mel` is the front-end session for `frontend = "openwakeword"`, None for waveform models.
    pub fn new(mel: Option<Session>, emb: Session, model: &Model) -> Result<AudioModel> {
        let spec = &model.spec;
        let emb_input = super::input_name(&emb, &spec.input, &model.id)?;
        let front = match (spec.frontend, mel) {
            (Some(Frontend::Openwakeword), Some(mel)) => Front::Openwakeword {
                mel_input: super::input_name(&mel, "", &model.id)?,
                mel,
            },
            (Some(Frontend::Waveform), None) => {
                let mut mask = None;
                for i in emb.inputs() {
                    let ty = i.dtype().tensor_type();
                    match (i.name(), ty) {
                        (n, _) if n == emb_input => {}
                        (
                            "attention_mask",
                            Some(t @ (TensorElementType::Int64 | TensorElementType::Int32)),
                        ) => mask = Some((i.name().to_string(), t)),
                        (n, t) => {
                            return Err(Error::Invalid(format!(
                                "audio model `{}` has an input `{n}` ({}); a waveform model takes its samples (`{emb_input}`) and optionally an int64 `attention_mask`",
                                model.id,
                                t.map_or("not a tensor", tensor::type_name)
                            )));
                        }
                    }
                }
                Front::Waveform {
                    input_type: tensor::input_type(&emb, &emb_input)
                        .unwrap_or(TensorElementType::Float32),
                    mask,
                    standardize: spec.standardize,
                }
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "audio model `{}`: its front end and its files do not match",
                    model.id
                )));
            }
        };
        Ok(AudioModel {
            emb_output: super::output_name(&emb, &spec.output, &model.id)?,
            emb_input,
            front,
            emb,
            rate: spec.sample_rate,
            dim: spec.dim,
            normalize: model.normalize,
        })
    }

    /// The vectors of a clip at the model's rate (samples in [-1, 1]): one per openWakeWord
    /// window, or one per frame of a waveform model's `[1, frames, dim]` output (one row when
    /// the model pools itself).
    pub fn windows(&mut self, samples: &[f32]) -> Result<Vec<Vec<f32>>> {
        match &mut self.front {
            Front::Openwakeword { mel, mel_input } => {
                let mel_input = mel_input.clone();
                let mel_frames = openwakeword_mel(mel, &mel_input, samples)?;
                self.openwakeword_windows(mel_frames)
            }
            Front::Waveform {
                input_type,
                mask,
                standardize,
            } => {
                let mut x = samples.to_vec();
                if *standardize {
                    // HF's zero_mean_unit_var_norm: (x - mean) / sqrt(var + 1e-7).
                    let n = x.len().max(1) as f64;
                    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                    let var = x
                        .iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    let sd = (var + 1e-7).sqrt();
                    x.iter_mut()
                        .for_each(|v| *v = ((f64::from(*v) - mean) / sd) as f32);
                }
                let n = x.len();
                let mut feeds: Vec<(
                    std::borrow::Cow<'static, str>,
                    ort::session::SessionInputValue<'_>,
                )> = vec![(
                    self.emb_input.clone().into(),
                    tensor::float(*input_type, vec![1, n], x)?.into(),
                )];
                if let Some((name, ty)) = mask {
                    feeds.push((
                        name.clone().into(),
                        tensor::int(*ty, vec![1, n], &vec![1i64; n])?.into(),
                    ));
                }
                let out = self.emb.run(feeds).map_err(ort_err)?;
                let (dims, v) = tensor::floats(&out[self.emb_output.as_str()], &self.emb_output)?;
                match dims.as_slice() {
                    [1, d] | [1, _, d] | [_, d] if *d == self.dim => {
                        Ok(v.chunks(self.dim).map(<[f32]>::to_vec).collect())
                    }
                    _ => Err(Error::Invalid(format!(
                        "audio model output `{}` has shape {dims:?}; recdata reads [1, dim] or [1, frames, dim] with dim = {}",
                        self.emb_output, self.dim
                    ))),
                }
            }
        }
    }

    fn openwakeword_windows(&mut self, mel: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let frames = mel.len() / 32;
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
        let (_, v) = tensor::floats(&out[self.emb_output.as_str()], &self.emb_output)?;
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

/// openWakeWord's mel features of a clip: int16-valued samples (a clip shorter than one window
/// padded with silence to exactly one), `x / 10 + 2`, 32 bins per frame.
fn openwakeword_mel(mel: &mut Session, input: &str, samples: &[f32]) -> Result<Vec<f32>> {
    let mut x: Vec<f32> = samples
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0))
        .collect();
    if x.len() < MIN_SAMPLES {
        x.resize(MIN_SAMPLES, 0.0);
    }
    let n = x.len();
    let t = Tensor::from_array(([1usize, n], x)).map_err(ort_err)?;
    let out = mel.run(ort::inputs![input => t]).map_err(ort_err)?;
    let (_, m) = out[0].try_extract_tensor::<f32>().map_err(ort_err)?;
    Ok(m.iter().map(|v| v / 10.0 + 2.0).collect())
}
