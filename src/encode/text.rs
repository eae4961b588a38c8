//! Text encoders: `tokenizers` (truncation, the model's own special tokens), an optional
//! prefix (E5's `passage: `), batches of one token length, masked mean, CLS or last-token
//! pooling, L2 normalisation. Token inputs may be int64 or int32, outputs float32 or float16.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorElementType;
use tokenizers::Tokenizer;

use super::{EncodeError, Model, Pooling, l2_normalize, tensor};
use crate::error::{Error, Result};

pub struct TextModel {
    session: Session,
    tokenizer: Tokenizer,
    /// (name, element type) of the inputs the graph takes.
    inputs: Vec<(String, TensorElementType)>,
    output: String,
    pooling: Pooling,
    normalize: bool,
    dim: usize,
    pad_id: u32,
    prefix: String,
}

/// A tokenized text: ids, type ids, attention mask (all the same length).
pub struct Tokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl TextModel {
    pub fn new(
        session: Session,
        tokenizer_path: &Path,
        model: &Model,
        max_length: usize,
    ) -> Result<TextModel> {
        let mut tokenizer = Tokenizer::from_file(tokenizer_path).map_err(|e| Error::BadInput {
            path: tokenizer_path.to_path_buf(),
            message: format!("not a tokenizer.json the `tokenizers` crate can read: {e}"),
        })?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .or_else(|| tokenizer.token_to_id("<pad>"))
            .unwrap_or(0);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Invalid(format!("tokenizer truncation: {e}")))?;
        let mut inputs = Vec::new();
        for i in session.inputs() {
            let ty = i.dtype().tensor_type();
            match (i.name(), ty) {
                (
                    "input_ids" | "attention_mask" | "token_type_ids" | "position_ids",
                    Some(t @ (TensorElementType::Int64 | TensorElementType::Int32)),
                ) => inputs.push((i.name().to_string(), t)),
                (n, t) => {
                    return Err(Error::Invalid(format!(
                        "text model `{}` has an input `{n}` ({}); recdata feeds int64/int32 `input_ids`, `attention_mask`, `token_type_ids` and `position_ids`\n  hint: export the model without a KV cache (e.g. `optimum-cli export onnx --task feature-extraction`)",
                        model.id,
                        t.map_or("not a tensor", tensor::type_name)
                    )));
                }
            }
        }
        if !inputs.iter().any(|(n, _)| n == "input_ids") {
            return Err(Error::Invalid(format!(
                "text model `{}` has no `input_ids` input",
                model.id
            )));
        }
        let output = super::output_name(&session, &model.spec.output, &model.id)?;
        Ok(TextModel {
            session,
            tokenizer,
            inputs,
            output,
            pooling: model.pooling,
            normalize: model.normalize,
            dim: model.spec.dim,
            pad_id,
            prefix: model.spec.prefix.clone(),
        })
    }

    /// Tokenizes every text (in parallel), after the model's prefix; empty texts give no
    /// tokens.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Tokens>> {
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| {
                if t.trim().is_empty() {
                    String::new()
                } else {
                    format!("{}{t}", self.prefix)
                }
            })
            .collect();
        let enc = self
            .tokenizer
            .encode_batch(prefixed, true)
            .map_err(|e| Error::Invalid(format!("tokenizer: {e}")))?;
        Ok(enc
            .into_iter()
            .map(|e| Tokens {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
            })
            .collect())
    }

    /// Encodes one batch (any lengths; padded to the longest here).
    pub fn run(&mut self, batch: &[&Tokens]) -> Result<Vec<Vec<f32>>> {
        let b = batch.len();
        let t = batch.iter().map(|x| x.ids.len()).max().unwrap_or(1).max(1);
        let mut ids = vec![i64::from(self.pad_id); b * t];
        let mut mask = vec![0i64; b * t];
        let mut types = vec![0i64; b * t];
        for (r, x) in batch.iter().enumerate() {
            for (c, (&id, &ty)) in x.ids.iter().zip(&x.type_ids).enumerate() {
                ids[r * t + c] = i64::from(id);
                types[r * t + c] = i64::from(ty);
                mask[r * t + c] = 1;
            }
        }
        let positions: Vec<i64> = (0..b * t).map(|k| (k % t) as i64).collect();
        let mut feeds: Vec<(
            std::borrow::Cow<'static, str>,
            ort::session::SessionInputValue<'_>,
        )> = Vec::new();
        for (name, ty) in &self.inputs {
            let data = match name.as_str() {
                "input_ids" => &ids,
                "attention_mask" => &mask,
                "position_ids" => &positions,
                _ => &types,
            };
            feeds.push((
                name.clone().into(),
                tensor::int(*ty, vec![b, t], data)?.into(),
            ));
        }
        let out = self.session.run(feeds).map_err(ort_err)?;
        let (dims, values) = tensor::floats(&out[self.output.as_str()], &self.output)?;
        let mut rows = match (dims.as_slice(), self.pooling) {
            ([bb, d], _) if *bb == b => values.chunks(*d).map(<[f32]>::to_vec).collect(),
            ([bb, tt, d], Pooling::Mean) if *bb == b => (0..b)
                .map(|r| {
                    let mut acc = vec![0f32; *d];
                    let mut n = 0f32;
                    for c in 0..*tt {
                        if mask[r * t + c] == 1 {
                            let v = &values[(r * tt + c) * d..(r * tt + c + 1) * d];
                            acc.iter_mut().zip(v).for_each(|(a, x)| *a += x);
                            n += 1.0;
                        }
                    }
                    acc.iter_mut().for_each(|a| *a /= n.max(1e-9));
                    acc
                })
                .collect::<Vec<_>>(),
            ([bb, tt, d], Pooling::Cls) if *bb == b => (0..b)
                .map(|r| values[r * tt * d..r * tt * d + d].to_vec())
                .collect(),
            ([bb, tt, d], Pooling::Last) if *bb == b && *tt == t => (0..b)
                .map(|r| {
                    // Right padding: the last real token is the last 1 of the mask.
                    let c = (0..t).rev().find(|&c| mask[r * t + c] == 1).unwrap_or(0);
                    values[(r * tt + c) * d..(r * tt + c + 1) * d].to_vec()
                })
                .collect(),
            (s, p) => {
                return Err(Error::Invalid(format!(
                    "text model output `{}` has shape {s:?}, which pooling `{p:?}` cannot turn into one vector per text (batch {b})",
                    self.output
                )));
            }
        };
        for r in &mut rows {
            if r.len() != self.dim {
                return Err(Error::Invalid(format!(
                    "text model output `{}` has {} values per text, the registry says dim = {}",
                    self.output,
                    r.len(),
                    self.dim
                )));
            }
            if self.normalize {
                l2_normalize(r);
            }
        }
        Ok(rows)
    }
}

pub fn ort_err(e: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("ONNX Runtime: {e}"))
}

/// Batches of at most `batch` indices with the same token count (longest first). Empty inputs
/// are left out.
pub fn length_batches(tokens: &[Tokens], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..tokens.len())
        .filter(|&i| !tokens[i].ids.is_empty())
        .collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(tokens[i].ids.len()), i));
    // Only texts of one token length share a batch: nothing is padded, so a text's vector does
    // not depend on which other texts are encoded with it. (With padding, the attention
    // reductions change length with the batch and the last bits of a vector with it, and a
    // build resumed from a partly filled embedding cache would differ from an undisturbed one.)
    order
        .chunk_by(|&a, &b| tokens[a].ids.len() == tokens[b].ids.len())
        .flat_map(|run| run.chunks(batch.max(1)).map(<[usize]>::to_vec))
        .collect()
}

/// Renders an item's text from a template (`{column}` placeholders) or from `key: value`
/// fields (Recformer-style flattening, null fields left out).
pub fn render(
    template: Option<&str>,
    fields: &[String],
    value: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, EncodeError> {
    if let Some(t) = template {
        let mut out = String::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            let key = &after[..close];
            out.push_str(value(key).as_deref().unwrap_or(""));
            rest = after.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        return Ok(out.trim().to_string());
    }
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|f| {
            value(f)
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{f}: {}", v.trim()))
        })
        .collect();
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_one_token_length() {
        let t = |n: usize| Tokens {
            ids: vec![1; n],
            type_ids: vec![0; n],
        };
        let tokens = vec![t(3), t(5), t(3), t(0), t(3), t(5), t(4)];
        assert_eq!(
            length_batches(&tokens, 2),
            vec![vec![1, 5], vec![6], vec![0, 2], vec![4]]
        );
    }
}
