//! `recdata models check`: load each model the way a build would (pinned files, the same
//! session and pre/post-processing code), run it on probe inputs, and report what it takes,
//! what it gives and how fast, so a user's own export is known to work before a build spends
//! an hour on it.

use std::time::Instant;

use serde::Serialize;

use super::registry::{Frontend, Registry, Task};
use super::{Device, Model, Overrides, audio, image, runtime, tensor, text};
use crate::error::Result;

/// The probes: distinct inputs, so a model that ignores its input (a constant output, a
/// disconnected graph) is caught.
const PROBE_TEXTS: &[&str] = &[
    "Five-minute garlic butter shrimp for a lazy weeknight",
    "第一次一个人去成都：三天两晚行程攻略",
    "red running shoes, size 42, barely worn",
    "A walk through the old town at sunset",
];

/// What `check` found for one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCheck {
    pub id: String,
    pub task: &'static str,
    pub defined_in: String,
    pub space: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// The registry's `dim`, and what the model gave.
    pub dim: usize,
    pub dim_found: Option<usize>,
    /// Milliseconds per probe input, median of the timed runs (after one warm-up run).
    pub ms_per_item: Option<f64>,
    /// Smallest pairwise distance (1 - cosine) between the probes' vectors.
    pub min_probe_distance: Option<f64>,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// Checks `id` on `device`; problems are reported in the result, not as errors (only a
/// missing runtime stops the whole check).
pub fn check(reg: &Registry, id: &str, device: Device, runs: usize) -> Result<ModelCheck> {
    let spec = reg.get(id)?.clone();
    let mut c = ModelCheck {
        id: id.to_string(),
        task: spec.task.name(),
        defined_in: spec.defined_in.display().to_string(),
        space: spec.space.clone(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        dim: spec.dim,
        dim_found: None,
        ms_per_item: None,
        min_probe_distance: None,
        ok: false,
        problems: Vec::new(),
    };
    let rt = runtime::get(Some(&reg.dir), device)?;
    let model = match Model::load(reg, id, &Overrides::default()) {
        Ok(m) => m,
        Err(e) => {
            c.problems.push(e.to_string());
            return Ok(c);
        }
    };
    let session = match rt.session(&model.files.onnx, device, runtime::threads()) {
        Ok(s) => s,
        Err(e) => {
            c.problems.push(e.to_string());
            return Ok(c);
        }
    };
    (c.inputs, c.outputs) = tensor::signature(&session);
    let probe = match spec.task {
        Task::Text => probe_text(session, &model),
        Task::Image => probe_image(session, &model),
        Task::Audio => probe_audio(rt, session, &model, device),
    };
    let mut run = match probe {
        Ok(r) => r,
        Err(e) => {
            c.problems.push(e.to_string());
            return Ok(c);
        }
    };
    let first = match run() {
        Ok(v) => v,
        Err(e) => {
            c.problems.push(e.to_string());
            return Ok(c);
        }
    };
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        if let Err(e) = run() {
            c.problems.push(e.to_string());
            return Ok(c);
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0 / first.len().max(1) as f64);
    }
    times.sort_by(f64::total_cmp);
    c.ms_per_item = Some(times[times.len() / 2]);
    c.dim_found = first.first().map(Vec::len);
    if first.iter().any(|v| v.iter().any(|x| !x.is_finite())) {
        c.problems
            .push("the model gave NaN or infinite values for a probe".into());
    }
    let mut min_d = f64::INFINITY;
    for i in 0..first.len() {
        for j in i + 1..first.len() {
            min_d = min_d.min(1.0 - cosine(&first[i], &first[j]));
        }
    }
    if first.len() > 1 {
        c.min_probe_distance = Some(min_d);
        if min_d < 1e-6 {
            c.problems.push(
                "two different probe inputs gave the same vector: the output does not depend on the input (wrong `output`, or a graph cut in the wrong place?)"
                    .into(),
            );
        }
    }
    c.ok = c.problems.is_empty();
    Ok(c)
}

type Probe = Box<dyn FnMut() -> Result<Vec<Vec<f32>>>>;

fn probe_text(session: ort::session::Session, model: &Model) -> Result<Probe> {
    let tok = model.files.tokenizer.clone().ok_or_else(|| {
        crate::error::Error::Invalid(format!("text model `{}` has no tokenizer", model.id))
    })?;
    let mut tm = text::TextModel::new(session, &tok, model, model.max_length)?;
    let tokens = tm.tokenize(PROBE_TEXTS)?;
    Ok(Box::new(move || {
        // One text per run, as a build batches texts of one length.
        tokens.iter().map(|t| Ok(tm.run(&[t])?.remove(0))).collect()
    }))
}

fn probe_image(session: ort::session::Session, model: &Model) -> Result<Probe> {
    let mut im = image::ImageModel::new(session, model)?;
    // Four 64 x 48 pictures: a red, a green and a blue field, and a diagonal gradient.
    let pictures: Vec<Vec<f32>> = (0..4)
        .map(|k| {
            let img = ::image::RgbImage::from_fn(64, 48, |x, y| match k {
                0 => ::image::Rgb([220, 30, 30]),
                1 => ::image::Rgb([30, 200, 40]),
                2 => ::image::Rgb([20, 40, 210]),
                _ => ::image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8]),
            });
            image::preprocess(&img, &im.prep)
        })
        .collect();
    Ok(Box::new(move || {
        let refs: Vec<&[f32]> = pictures.iter().map(Vec::as_slice).collect();
        Ok(im
            .run_raw(&refs)?
            .into_iter()
            .map(|v| im.finish(v))
            .collect())
    }))
}

fn probe_audio(
    rt: &runtime::Runtime,
    session: ort::session::Session,
    model: &Model,
    device: Device,
) -> Result<Probe> {
    let mel = match (&model.spec.frontend, &model.files.frontend) {
        (Some(Frontend::Openwakeword), Some(fe)) => {
            Some(rt.session(fe, device, runtime::threads())?)
        }
        _ => None,
    };
    let mut am = audio::AudioModel::new(mel, session, model)?;
    // Two seconds each of a 440 Hz tone, a 2 kHz tone, a chirp and a two-tone chord at 16 kHz.
    let rate = 16_000u32;
    let clips: Vec<audio::Pcm> = (0..4)
        .map(|k| {
            let samples = (0..2 * rate as usize)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    let tau = std::f32::consts::TAU;
                    0.5 * match k {
                        0 => (tau * 440.0 * t).sin(),
                        1 => (tau * 2000.0 * t).sin(),
                        2 => (tau * (200.0 + 900.0 * t) * t).sin(),
                        _ => 0.5 * ((tau * 330.0 * t).sin() + (tau * 990.0 * t).sin()),
                    }
                })
                .collect();
            audio::Pcm { samples, rate }
        })
        .collect();
    Ok(Box::new(move || {
        clips
            .iter()
            .map(|c| {
                am.encode(c)?.map_err(|e| {
                    crate::error::Error::Invalid(format!("{}: {}", e.status, e.detail))
                })
            })
            .collect()
    }))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na * nb)
}
