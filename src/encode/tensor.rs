//! Tensors in and out of a session whatever the graph's element types: recdata computes in
//! float32 and int64, and converts at the boundary, so fp16 exports (half the memory, tensor
//! cores on a GPU) and int32-token graphs run through the same code as everything else.

use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};

use crate::error::{Error, Result};

/// The element type of a session's input (None when the input is not a tensor).
pub fn input_type(s: &Session, name: &str) -> Option<TensorElementType> {
    s.inputs()
        .iter()
        .find(|i| i.name() == name)
        .and_then(|i| i.dtype().tensor_type())
}

/// The element type of a session's output.
pub fn output_type(s: &Session, name: &str) -> Option<TensorElementType> {
    s.outputs()
        .iter()
        .find(|o| o.name() == name)
        .and_then(|o| o.dtype().tensor_type())
}

/// A float input of the graph's type (float32 or float16).
pub fn float(ty: TensorElementType, shape: Vec<usize>, data: Vec<f32>) -> Result<DynValue> {
    Ok(match ty {
        TensorElementType::Float32 => Tensor::from_array((shape, data)).map_err(err)?.into_dyn(),
        TensorElementType::Float16 => {
            let h: Vec<half::f16> = data.into_iter().map(half::f16::from_f32).collect();
            Tensor::from_array((shape, h)).map_err(err)?.into_dyn()
        }
        other => {
            return Err(Error::Invalid(format!(
                "recdata feeds float32 or float16 here, the graph wants {other:?}"
            )));
        }
    })
}

/// An integer input of the graph's type (int64 or int32).
pub fn int(ty: TensorElementType, shape: Vec<usize>, data: &[i64]) -> Result<DynValue> {
    Ok(match ty {
        TensorElementType::Int64 => Tensor::from_array((shape, data.to_vec()))
            .map_err(err)?
            .into_dyn(),
        TensorElementType::Int32 => {
            let v: Vec<i32> = data.iter().map(|&x| x as i32).collect();
            Tensor::from_array((shape, v)).map_err(err)?.into_dyn()
        }
        other => {
            return Err(Error::Invalid(format!(
                "recdata feeds int64 or int32 here, the graph wants {other:?}"
            )));
        }
    })
}

/// A float output as float32 values and its shape (float16 outputs are widened exactly).
pub fn floats(v: &DynValue, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let ty = match v.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        other => {
            return Err(Error::Invalid(format!(
                "output `{name}` is a {other:?}, not a tensor"
            )));
        }
    };
    match ty {
        TensorElementType::Float32 => {
            let (shape, x) = v.try_extract_tensor::<f32>().map_err(err)?;
            Ok((shape.iter().map(|&d| d as usize).collect(), x.to_vec()))
        }
        TensorElementType::Float16 => {
            let (shape, x) = v.try_extract_tensor::<half::f16>().map_err(err)?;
            Ok((
                shape.iter().map(|&d| d as usize).collect(),
                x.iter().map(|h| h.to_f32()).collect(),
            ))
        }
        other => Err(Error::Invalid(format!(
            "output `{name}` holds {other:?}; recdata reads float32 or float16 embeddings"
        ))),
    }
}

/// A readable signature (`name: float16[batch, 3, 224, 224]`) of a session's inputs and
/// outputs, for `recdata models check` and error messages.
pub fn signature(s: &Session) -> (Vec<String>, Vec<String>) {
    let show = |name: &str, t: &ValueType| match t {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims: Vec<String> = shape
                .iter()
                .zip(dimension_symbols.iter())
                .map(|(d, sym)| {
                    if *d >= 0 {
                        d.to_string()
                    } else if sym.is_empty() {
                        "?".into()
                    } else {
                        sym.to_string()
                    }
                })
                .collect();
            format!("{name}: {}[{}]", type_name(*ty), dims.join(", "))
        }
        other => format!("{name}: {other:?}"),
    };
    (
        s.inputs()
            .iter()
            .map(|i| show(i.name(), i.dtype()))
            .collect(),
        s.outputs()
            .iter()
            .map(|o| show(o.name(), o.dtype()))
            .collect(),
    )
}

pub fn type_name(t: TensorElementType) -> &'static str {
    match t {
        TensorElementType::Float32 => "float32",
        TensorElementType::Float16 => "float16",
        TensorElementType::Float64 => "float64",
        TensorElementType::Bfloat16 => "bfloat16",
        TensorElementType::Int64 => "int64",
        TensorElementType::Int32 => "int32",
        TensorElementType::Int8 => "int8",
        TensorElementType::Uint8 => "uint8",
        TensorElementType::Bool => "bool",
        TensorElementType::String => "string",
        _ => "other",
    }
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("ONNX Runtime: {e}"))
}
