//! A client for OpenAI-compatible `/v1/chat/completions` endpoints (vLLM, SGLang, Ollama,
//! llama.cpp's server, TGI): images as base64 data URLs next to the prompt, a concurrency limit,
//! per-request timeouts, retries with exponential backoff that honour `Retry-After` on 429 and
//! 5xx, and the token usage of every answer.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::error::{Error, Result};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatOptions {
    /// The base URL (`http://host:8000/v1`) or the full `.../chat/completions` URL.
    pub endpoint: String,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub concurrency: usize,
    #[serde(skip)]
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff_base: Duration,
    pub retry_after_max: Duration,
}

impl ChatOptions {
    pub fn url(&self) -> String {
        let e = self.endpoint.trim_end_matches('/');
        if e.ends_with("/chat/completions") {
            e.to_string()
        } else {
            format!("{e}/chat/completions")
        }
    }
}

/// One question: a prompt and images (MIME type, bytes).
pub struct ChatRequest {
    pub prompt: String,
    pub images: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Default)]
pub struct ChatAnswer {
    pub text: Option<String>,
    /// `ok`, `http_error`, `rate_limited`, `timeout`, `server_error`, `connection_error`,
    /// `bad_response`, `empty`.
    pub status: String,
    pub detail: String,
    pub model: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub attempts: u32,
}

fn body(o: &ChatOptions, r: &ChatRequest) -> serde_json::Value {
    let mut content = vec![json!({ "type": "text", "text": r.prompt })];
    for (mime, bytes) in &r.images {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        content.push(json!({ "type": "image_url", "image_url": { "url": format!("data:{mime};base64,{b64}") } }));
    }
    json!({
        "model": o.model,
        "messages": [{ "role": "user", "content": content }],
        "max_tokens": o.max_tokens,
        "temperature": o.temperature,
        "stream": false,
    })
}

/// Reads an answer; `Err` is (status, detail) of a response that is not a usable answer.
pub(crate) fn parse(v: &serde_json::Value) -> std::result::Result<ChatAnswer, (String, String)> {
    let msg = &v["choices"][0]["message"]["content"];
    let text = match msg {
        serde_json::Value::String(s) => s.clone(),
        // Some servers answer with content parts.
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => {
            return Err((
                "bad_response".into(),
                format!(
                    "no choices[0].message.content in the answer: {}",
                    v.to_string().chars().take(200).collect::<String>()
                ),
            ));
        }
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err((
            "empty".into(),
            "the model answered with an empty text".into(),
        ));
    }
    let tok = |k: &str| {
        v["usage"][k]
            .as_u64()
            .map(|n| n.min(u64::from(u32::MAX)) as u32)
    };
    Ok(ChatAnswer {
        text: Some(text),
        status: "ok".into(),
        detail: String::new(),
        model: v["model"].as_str().map(str::to_string),
        prompt_tokens: tok("prompt_tokens"),
        completion_tokens: tok("completion_tokens"),
        attempts: 0,
    })
}

async fn ask(client: &reqwest::Client, o: &ChatOptions, r: &ChatRequest) -> ChatAnswer {
    let payload = body(o, r).to_string();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut req = client
            .post(o.url())
            .header("content-type", "application/json")
            .timeout(o.timeout)
            .body(payload.clone());
        if let Some(k) = &o.api_key {
            req = req.bearer_auth(k);
        }
        let (status, detail, wait) = match req.send().await {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|h| h.to_str().ok())
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.max(0.0)).min(o.retry_after_max));
                match resp.bytes().await {
                    Ok(b) if code == 200 => match serde_json::from_slice::<serde_json::Value>(&b) {
                        Ok(v) => match parse(&v) {
                            Ok(mut a) => {
                                a.attempts = attempt;
                                return a;
                            }
                            // A well-formed answer without text is not retried.
                            Err((s, d)) => {
                                return ChatAnswer {
                                    status: s,
                                    detail: d,
                                    attempts: attempt,
                                    ..Default::default()
                                };
                            }
                        },
                        Err(e) => (
                            "bad_response".to_string(),
                            format!("the answer is not JSON: {e}"),
                            None,
                        ),
                    },
                    Ok(b) => {
                        let text: String = String::from_utf8_lossy(&b).chars().take(200).collect();
                        let st = match code {
                            429 => "rate_limited",
                            500..=599 => "server_error",
                            _ => "http_error",
                        };
                        (
                            st.to_string(),
                            format!("HTTP {code}: {}", text.trim()),
                            retry_after,
                        )
                    }
                    Err(e) if e.is_timeout() => (
                        "timeout".into(),
                        format!("no complete answer within {:?}", o.timeout),
                        None,
                    ),
                    Err(e) => ("connection_error".into(), e.to_string(), None),
                }
            }
            Err(e) if e.is_timeout() => (
                "timeout".into(),
                format!("no answer within {:?}", o.timeout),
                None,
            ),
            Err(e) => ("connection_error".into(), error_chain(&e), None),
        };
        let retryable = matches!(
            status.as_str(),
            "rate_limited" | "server_error" | "timeout" | "connection_error" | "bad_response"
        );
        if !retryable || attempt > o.retries {
            return ChatAnswer {
                status,
                detail: if attempt > 1 {
                    format!("{detail} (after {attempt} attempts)")
                } else {
                    detail
                },
                attempts: attempt,
                ..Default::default()
            };
        }
        let backoff = o.backoff_base * 2u32.saturating_pow(attempt - 1);
        tokio::time::sleep(wait.unwrap_or(backoff).min(Duration::from_secs(60))).await;
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Asks every request with at most `concurrency` in flight (requests are built lazily, so at
/// most that many images are in memory); `on_answer(index, answer)` is
/// called as answers arrive (in completion order).
pub fn ask_all(
    o: &ChatOptions,
    requests: impl Iterator<Item = (usize, ChatRequest)>,
    mut on_answer: impl FnMut(usize, ChatAnswer) -> Result<()>,
) -> Result<()> {
    let rt = super::runtime()?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("recdata/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Unsupported(format!("HTTP client: {e}")))?;
    let o = Arc::new(o.clone());
    rt.block_on(async move {
        let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency.max(1)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (idx, req) in requests {
            let permit = sem
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::Internal("semaphore closed".into()))?;
            let (client, o, tx) = (client.clone(), o.clone(), tx.clone());
            tokio::spawn(async move {
                let a = ask(&client, &o, &req).await;
                drop(permit);
                let _ = tx.send((idx, a));
            });
            // Hand finished answers over while requests are still being started.
            while let Ok((i, a)) = rx.try_recv() {
                on_answer(i, a)?;
            }
        }
        drop(tx);
        while let Some((i, a)) = rx.recv().await {
            on_answer(i, a)?;
        }
        Ok(())
    })
}
