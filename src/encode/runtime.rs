//! ONNX Runtime, loaded at run time from a `libonnxruntime.so` (PyPI's `onnxruntime` wheel for
//! CPU, `onnxruntime-gpu` for CUDA; `make runtime` / `make runtime-gpu` put them under
//! `models/runtime/`). One library and one environment per process, as ONNX Runtime requires.
//!
//! CUDA is never a silent fall-back: asking for `--device cuda` on a machine or a library
//! without it is an error that says what is missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::{Error, Result};

/// The ONNX Runtime minor version this build needs at least (`ort`'s `api-31`).
pub const MIN_ORT: &str = "1.31";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Device {
    Cpu,
    Cuda(i32),
}

impl Device {
    pub fn parse(s: &str) -> std::result::Result<Device, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<i32>().ok())
                .filter(|n| *n >= 0)
                .map(Device::Cuda)
                .ok_or_else(|| format!("`{s}` is not a device: use cpu, cuda or cuda:N")),
        }
    }

    pub fn name(self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Cuda(n) => format!("cuda:{n}"),
        }
    }

    /// The kind of device, without its index: what a vector records as where it was computed
    /// (two GPUs of one sharded build compute the same vectors).
    pub fn kind(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The loaded runtime.
pub struct Runtime {
    pub library: PathBuf,
    pub version: String,
    pub build_info: String,
    pub env: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime libraries to try, best first, for `device`.
pub fn candidates(models_dir: Option<&Path>, device: Device) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(p));
        return out;
    }
    // The registry's own runtime first, then the default registry's (an explicit `--models`
    // directory of extra models need not carry a runtime).
    let default = super::registry::locate(None, None);
    for d in models_dir.into_iter().chain(default.as_deref()) {
        let gpu = d.join("runtime/gpu/libonnxruntime.so");
        let cpu = d.join("runtime/cpu/libonnxruntime.so");
        let these: Vec<PathBuf> = match device {
            Device::Cuda(_) => vec![gpu],
            // The GPU build's core library also runs on CPU.
            Device::Cpu => vec![cpu, gpu],
        };
        for p in these {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The version in a library's file name (`libonnxruntime.so.1.31.1`, through symlinks).
fn version_from_name(lib: &Path) -> Option<String> {
    let real = fs_err::canonicalize(lib).ok()?;
    let name = real.file_name()?.to_str()?;
    let v = name.strip_prefix("libonnxruntime.so.")?;
    (!v.is_empty()).then(|| v.to_string())
}

/// Loads ONNX Runtime once per process. A second call must want the same library.
pub fn get(models_dir: Option<&Path>, device: Device) -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let cands = candidates(models_dir, device);
    let Some(lib) = cands.iter().find(|p| p.exists()).cloned() else {
        let looked = if cands.is_empty() {
            "no models directory was found".to_string()
        } else {
            cands
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fix = match device {
            Device::Cpu => {
                "run `make runtime` (it takes libonnxruntime.so from the `onnxruntime` wheel on PyPI) or set ORT_DYLIB_PATH"
            }
            Device::Cuda(_) => {
                "run `make runtime-gpu` (the `onnxruntime-gpu` wheel on PyPI) or set ORT_DYLIB_PATH to a GPU build"
            }
        };
        return Err(Error::Unsupported(format!(
            "ONNX Runtime was not found for --device {device} (looked at: {looked})\n  hint: {fix}; `recdata doctor` shows what is missing"
        )));
    };
    let rt = load(&lib)?;
    Ok(RUNTIME.get_or_init(|| rt))
}

pub(crate) fn load(lib: &Path) -> Result<Runtime> {
    let builder = ort::init_from(lib).map_err(|e| {
        Error::Unsupported(format!(
            "cannot load ONNX Runtime from {}: {e}\n  hint: recdata needs ONNX Runtime >= {MIN_ORT}; run `make runtime` to get the pinned 1.31.1",
            lib.display()
        ))
    })?;
    let env = builder
        .with_name("recdata")
        .build()
        .map_err(|e| Error::Unsupported(format!("ONNX Runtime environment: {e}")))?;
    let build_info = ort::info().to_string();
    let version = version_from_name(lib)
        .or_else(|| {
            build_info
                .split(|c: char| c == ',' || c.is_whitespace())
                .find_map(|p| p.strip_prefix("git-branch=rel-"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    Ok(Runtime {
        library: lib.to_path_buf(),
        version,
        build_info,
        env,
    })
}

impl Runtime {
    /// Whether the library was built with the CUDA execution provider.
    pub fn cuda_built(&self) -> bool {
        <ort::ep::CUDA as ort::ep::ExecutionProvider>::is_available().unwrap_or(false)
    }

    /// A session for `model` on `device`; CUDA failures are errors, never a CPU fall-back.
    pub fn session(&self, model: &Path, device: Device, threads: usize) -> Result<Session> {
        if let Device::Cuda(_) = device
            && !self.cuda_built()
        {
            return Err(Error::Unsupported(format!(
                "--device {device} was asked for, but the ONNX Runtime at {} has no CUDA execution provider (it is a CPU build)\n  hint: run `make runtime-gpu` and use models/runtime/gpu, or set ORT_DYLIB_PATH to libonnxruntime.so from the `onnxruntime-gpu` wheel",
                self.library.display()
            )));
        }
        self.session_inner(SessionSource::File(model), device, threads)
            .map_err(|e| {
                let what = match device {
                    Device::Cpu => String::new(),
                    Device::Cuda(_) => "\n  hint: the CUDA provider needs the CUDA 13 and cuDNN 9 libraries (libcublasLt.so.13, libcudart.so.13, libcurand.so.10, libcufft.so.12, libcudnn*.so.9) on LD_LIBRARY_PATH, and a visible GPU; `recdata doctor --device cuda` checks them".to_string(),
                };
                Error::Unsupported(format!(
                    "cannot create an ONNX Runtime session for {} on {device}: {e}{what}",
                    model.display()
                ))
            })
    }

    /// A session from model bytes (used by `recdata doctor`'s probe).
    pub fn session_from_bytes(&self, bytes: &[u8], device: Device) -> Result<Session> {
        self.session_inner(SessionSource::Bytes(bytes), device, 1)
            .map_err(|e| Error::Unsupported(format!("{device}: {e}")))
    }

    fn session_inner(
        &self,
        src: SessionSource<'_>,
        device: Device,
        threads: usize,
    ) -> ort::Result<Session> {
        let mut b = Session::builder(&self.env)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_intra_threads(threads.max(1))?;
        if let Device::Cuda(n) = device {
            b = b.with_execution_providers([ort::ep::CUDA::default()
                .with_device_id(n)
                .build()
                .error_on_failure()])?;
        }
        match src {
            SessionSource::File(p) => b.commit_from_file(p),
            SessionSource::Bytes(m) => b.commit_from_memory(m),
        }
    }
}

enum SessionSource<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Threads for ONNX Runtime's intra-op pool: `RECDATA_THREADS`, else the machine's cores.
pub fn threads() -> usize {
    std::env::var("RECDATA_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A minimal ONNX model (`y = Identity(x)`, x float[1]) encoded by hand, so `recdata doctor`
/// can prove an execution provider really runs without any model file.
pub fn identity_model() -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn bytes_field(out: &mut Vec<u8>, field: u32, body: &[u8]) {
        varint(out, u64::from(field << 3 | 2));
        varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }
    fn int_field(out: &mut Vec<u8>, field: u32, v: u64) {
        varint(out, u64::from(field << 3));
        varint(out, v);
    }
    let value_info = |name: &str| {
        let mut dim = Vec::new();
        int_field(&mut dim, 1, 1); // dim_value = 1
        let mut shape = Vec::new();
        bytes_field(&mut shape, 1, &dim);
        let mut tensor = Vec::new();
        int_field(&mut tensor, 1, 1); // elem_type FLOAT
        bytes_field(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        bytes_field(&mut ty, 1, &tensor);
        let mut vi = Vec::new();
        bytes_field(&mut vi, 1, name.as_bytes());
        bytes_field(&mut vi, 2, &ty);
        vi
    };
    let mut node = Vec::new();
    bytes_field(&mut node, 1, b"x");
    bytes_field(&mut node, 2, b"y");
    bytes_field(&mut node, 4, b"Identity");
    let mut graph = Vec::new();
    bytes_field(&mut graph, 1, &node);
    bytes_field(&mut graph, 2, b"probe");
    bytes_field(&mut graph, 11, &value_info("x"));
    bytes_field(&mut graph, 12, &value_info("y"));
    let mut opset = Vec::new();
    int_field(&mut opset, 2, 17);
    let mut model = Vec::new();
    int_field(&mut model, 1, 8); // ir_version
    bytes_field(&mut model, 7, &graph);
    bytes_field(&mut model, 8, &opset);
    model
}

/// Runs the identity probe on `device`: Ok when the provider really computes.
pub fn probe(rt: &Runtime, device: Device) -> Result<()> {
    let mut s = rt.session_from_bytes(&identity_model(), device)?;
    let x = ort::value::Tensor::from_array(([1usize], vec![42.0f32]))
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    let out = s
        .run(ort::inputs!["x" => x])
        .map_err(|e| Error::Unsupported(format!("{device}: run failed: {e}")))?;
    let (_, y) = out["y"]
        .try_extract_tensor::<f32>()
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    if y != [42.0] {
        return Err(Error::Unsupported(format!(
            "{device}: the probe model computed {y:?} instead of [42.0]"
        )));
    }
    Ok(())
}
