//! `recdata doctor`: what the encoders need and whether it works here, with the command that
//! fixes each missing piece. Each ONNX Runtime library is probed in a child process (one
//! runtime per process), by really running a one-node model on every execution provider.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::registry::{self, Registry};
use super::runtime::{self, Device};
use crate::error::Result;

/// The child's side: load `lib`, run the probe on CPU and CUDA, print JSON.
pub fn probe_main(lib: &Path) -> Result<u8> {
    let v = match runtime::load(lib) {
        Err(e) => json!({ "library": lib, "loaded": false, "error": e.to_string() }),
        Ok(rt) => {
            let cpu = runtime::probe(&rt, Device::Cpu);
            let dev = std::env::var("RECDATA_PROBE_CUDA_DEVICE")
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let cuda_built = rt.cuda_built();
            let cuda = if cuda_built {
                runtime::probe(&rt, Device::Cuda(dev)).map_err(|e| e.to_string())
            } else {
                Err("this ONNX Runtime build has no CUDA execution provider".to_string())
            };
            json!({
                "library": lib,
                "loaded": true,
                "version": rt.version,
                "build_info": rt.build_info,
                "cpu": { "ok": cpu.is_ok(), "error": cpu.err().map(|e| e.to_string()) },
                "cuda": { "built": cuda_built, "device": dev, "ok": cuda.is_ok(), "error": cuda.err() },
            })
        }
    };
    println!("{v}");
    Ok(0)
}

fn probe(lib: &Path, device: Device) -> Value {
    let dev = match device {
        Device::Cuda(n) => n,
        Device::Cpu => 0,
    };
    let out = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(["doctor", "--probe"])
            .arg(lib)
            .env("RECDATA_PROBE_CUDA_DEVICE", dev.to_string())
            .output()
    });
    match out {
        Ok(o) => serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
            json!({ "library": lib, "loaded": false, "error": format!("the probe crashed: {}", String::from_utf8_lossy(&o.stderr).trim().lines().last().unwrap_or("no output")) })
        }),
        Err(e) => json!({ "library": lib, "loaded": false, "error": e.to_string() }),
    }
}

pub fn run(device: Device, models: Option<&Path>, as_json: bool) -> Result<u8> {
    let models_dir = registry::locate(models, None);
    let mut problems: Vec<(String, String)> = Vec::new();

    // Runtimes: the CPU and GPU libraries recdata would use (or ORT_DYLIB_PATH).
    let mut libs: Vec<std::path::PathBuf> = runtime::candidates(models_dir.as_deref(), Device::Cpu);
    for l in runtime::candidates(models_dir.as_deref(), Device::Cuda(0)) {
        if !libs.contains(&l) {
            libs.push(l);
        }
    }
    let mut runtimes = Vec::new();
    for lib in &libs {
        if lib.exists() {
            runtimes.push(probe(lib, device));
        } else {
            runtimes.push(json!({ "library": lib, "loaded": false, "error": "not installed" }));
        }
    }
    let cpu_ok = runtimes.iter().any(|r| r["cpu"]["ok"] == true);
    let cuda_ok = runtimes.iter().any(|r| r["cuda"]["ok"] == true);
    if !cpu_ok {
        problems.push((
            "no working ONNX Runtime (needs >= 1.31)".into(),
            "make runtime   # libonnxruntime.so from the onnxruntime wheel on PyPI".into(),
        ));
    }
    if let Device::Cuda(_) = device
        && !cuda_ok
    {
        // The GPU build's error (a missing CUDA library, no device) says more than the CPU
        // build's "no CUDA provider".
        let why = runtimes
            .iter()
            .filter(|r| r["cuda"]["built"] == true)
            .chain(runtimes.iter())
            .filter_map(|r| r["cuda"]["error"].as_str())
            .next()
            .unwrap_or("no GPU build of ONNX Runtime is installed")
            .trim()
            .to_string();
        problems.push((
            format!("--device {device}: CUDA does not work: {why}"),
            "make runtime-gpu   # then put the CUDA 13 + cuDNN 9 libraries on LD_LIBRARY_PATH"
                .into(),
        ));
    }

    // Models.
    let mut model_rows = Vec::new();
    match &models_dir {
        None => problems.push((
            "no model registry (models/models.toml) found".into(),
            "run recdata from the checkout, pass --models DIR or set RECDATA_MODELS".into(),
        )),
        Some(dir) => match Registry::load(dir) {
            Err(e) => problems.push((e.to_string(), "fix models/models.toml".into())),
            Ok(reg) => {
                for (id, spec) in &reg.models {
                    let files = reg.files(id);
                    if let Err(e) = &files {
                        problems.push((e.to_string(), "make models".into()));
                    }
                    model_rows.push(json!({
                        "id": id,
                        "task": spec.task.name(),
                        "dim": spec.dim,
                        "sha256": spec.sha256,
                        "license": spec.license,
                        "ok": files.is_ok(),
                        "error": files.err().map(|e| e.to_string()),
                    }));
                }
            }
        },
    }
    let ffmpeg = super::video::check_ffmpeg();
    let doc = json!({
        "device": device.name(),
        "models_dir": models_dir,
        "runtimes": runtimes,
        "execution_providers": { "cpu": cpu_ok, "cuda": cuda_ok },
        "models": model_rows,
        "ffmpeg": { "ok": ffmpeg.is_ok(), "version": ffmpeg.as_ref().ok(), "fix": ffmpeg.as_ref().err().map(|_| "apt-get install ffmpeg   # only for video encoders and video captions") },
        "problems": problems.iter().map(|(p, f)| json!({ "problem": p, "fix": f })).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{doc}");
    } else {
        let mark = |ok: bool| if ok { "ok  " } else { "--  " };
        println!("ONNX Runtime");
        for r in doc["runtimes"].as_array().into_iter().flatten() {
            let lib = r["library"].as_str().unwrap_or("");
            if r["loaded"] == true {
                println!(
                    "  {}{} {}",
                    mark(r["cpu"]["ok"] == true),
                    r["version"].as_str().unwrap_or("?"),
                    lib
                );
                println!(
                    "      providers: CPU {}, CUDA {}",
                    if r["cpu"]["ok"] == true {
                        "works"
                    } else {
                        "fails"
                    },
                    if r["cuda"]["ok"] == true {
                        "works".to_string()
                    } else {
                        format!("no ({})", r["cuda"]["error"].as_str().unwrap_or("?").trim())
                    }
                );
            } else {
                println!("  --  {lib}: {}", r["error"].as_str().unwrap_or("?"));
            }
        }
        println!(
            "Models ({})",
            models_dir.as_ref().map_or("no registry".into(), |d| d
                .join(registry::REGISTRY_FILE)
                .display()
                .to_string())
        );
        for m in &model_rows {
            println!(
                "  {}{:<30} {:<6} {:>5}-d  {}",
                mark(m["ok"] == true),
                m["id"].as_str().unwrap_or(""),
                m["task"].as_str().unwrap_or(""),
                m["dim"],
                m["license"].as_str().unwrap_or("")
            );
        }
        println!("ffmpeg (video)");
        match &ffmpeg {
            Ok(v) => println!("  ok  {v}"),
            Err(_) => println!("  --  not installed (apt-get install ffmpeg)"),
        }
        if problems.is_empty() {
            println!("\nEverything recdata's encoders need is here (device {device}).");
        } else {
            println!("\nMissing:");
            for (p, f) in &problems {
                println!("  - {p}\n    fix: {f}");
            }
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
