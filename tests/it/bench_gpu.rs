//! `make bench-gpu`'s script (bench/gpu.py) run as a dry run on the CPU, so it works on the day a
//! GPU machine is at hand: doctor, the fixed inputs, recdata encode on both "devices", the Python
//! onnxruntime baseline, the fp16 variants and the agreement checks, with small sets.

use crate::util::{bin, python};
use std::path::Path;
use std::process::Command;

#[test]
fn bench_gpu_script_dry_run_passes_its_checks_on_cpu() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let o = Command::new(python())
        .arg(repo.join("bench/gpu.py"))
        .args([
            "--dry-run",
            "--images",
            "12",
            "--titles",
            "24",
            "--batch",
            "8",
        ])
        .arg("--bin")
        .arg(bin())
        .arg("--work")
        .arg(dir.path().join("work"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "bench/gpu.py --dry-run failed:\n{stderr}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["dry_run"], true);
    let results = doc["results"].as_array().unwrap();
    let models: Vec<&str> = results
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        [
            "efficientnet-lite0",
            "efficientnet-lite0-fp16",
            "all-minilm-l6-v2",
            "all-minilm-l6-v2-fp16",
            "multilingual-e5-small",
            "multilingual-e5-small-fp16"
        ]
    );
    for r in results {
        let m = r["model"].as_str().unwrap();
        let n = if r["kind"] == "image" { 12 } else { 24 };
        assert_eq!(r["device"]["rows"], n, "{m}");
        assert!(r["device"]["items_per_s"].as_f64().unwrap() > 0.0, "{m}");
        assert!(r["python"]["items_per_s"].as_f64().unwrap() > 0.0, "{m}");
        // fp16 vs fp32 on the CPU: comparable vectors, not bit-identical ones.
        let min = r["cos_vs_cpu_fp32"]["min"].as_f64().unwrap();
        assert!(
            min >= if m.ends_with("-fp16") { 0.995 } else { 0.999 },
            "{m}: {min}"
        );
        assert!(r["cos_vs_python"]["mean"].as_f64().unwrap() >= 0.998, "{m}");
    }
    assert!(doc["problems"].as_array().unwrap().is_empty());
    // The table a GPU run pastes into bench/README.md.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("| multilingual-e5-small-fp16 | 24 |"),
        "{stdout}"
    );
}
