//! A protocol-faithful OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 for the
//! caption tests: it parses the JSON request, checks the image data URLs, and answers with a
//! deterministic caption (derived from the image bytes) and token usage. Faults are scripted
//! per image: 429 with `Retry-After`, a stall longer than the client's timeout, 500s, a 400.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

#[derive(Clone, Debug)]
pub enum Fault {
    RateLimited { retry_after: u64 },
    Stall(Duration),
    Status(u16),
}

#[derive(Default)]
struct State {
    /// Faults by the sha256 (hex, first 12) of the first image, consumed in order.
    faults: HashMap<String, Vec<Fault>>,
    /// Requests received: (image key, answered status).
    log: Vec<(String, u16)>,
    active: usize,
    max_active: usize,
}

#[derive(Clone)]
pub struct MllmServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

/// The caption the server gives an image.
pub fn caption_for(image: &[u8]) -> String {
    let h = hex::encode(sha2::Sha256::digest(image));
    format!("a picture with fingerprint {} shown in close up", &h[..12])
}

pub fn image_key(image: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(image))[..12].to_string()
}

impl MllmServer {
    pub fn start() -> MllmServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let s2 = state.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let st = s2.clone();
                std::thread::spawn(move || {
                    let _ = serve(c, st);
                });
            }
        });
        MllmServer { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn fault(&self, image: &[u8], faults: Vec<Fault>) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(image_key(image), faults);
    }

    pub fn log(&self) -> Vec<(String, u16)> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn max_concurrent(&self) -> usize {
        self.state.lock().unwrap().max_active
    }
}

fn respond(w: &mut TcpStream, code: u16, extra: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        _ => "Error",
    };
    write!(
        w,
        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )?;
    w.flush()
}

fn serve(c: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        let mut auth = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        if path != "/v1/chat/completions" {
            respond(&mut w, 404, "", r#"{"error":{"message":"not found"}}"#)?;
            continue;
        }
        let req: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                respond(&mut w, 400, "", r#"{"error":{"message":"bad json"}}"#)?;
                continue;
            }
        };
        // The request must look like what vLLM / Ollama accept.
        let content = &req["messages"][0]["content"];
        let prompt = content[0]["text"].as_str().unwrap_or("");
        let url = content[1]["image_url"]["url"].as_str().unwrap_or("");
        let image = url
            .split_once(";base64,")
            .and_then(|(_, b)| base64::engine::general_purpose::STANDARD.decode(b).ok());
        let (Some(image), false, Some(_)) = (image, prompt.is_empty(), req["model"].as_str())
        else {
            respond(
                &mut w,
                400,
                "",
                r#"{"error":{"message":"expected a text prompt and an image_url data URL"}}"#,
            )?;
            continue;
        };
        if let Some(a) = &auth
            && a != "Bearer sekret"
        {
            respond(&mut w, 401, "", r#"{"error":{"message":"bad key"}}"#)?;
            continue;
        }
        let key = image_key(&image);
        let fault = {
            let mut s = st.lock().unwrap();
            s.active += 1;
            s.max_active = s.max_active.max(s.active);
            s.faults
                .get_mut(&key)
                .and_then(|f| (!f.is_empty()).then(|| f.remove(0)))
        };
        // A short, constant think time so concurrency is observable.
        std::thread::sleep(Duration::from_millis(30));
        let status = match fault {
            Some(Fault::RateLimited { retry_after }) => {
                respond(
                    &mut w,
                    429,
                    &format!("retry-after: {retry_after}\r\n"),
                    r#"{"error":{"message":"slow down"}}"#,
                )?;
                429
            }
            Some(Fault::Status(code)) => {
                respond(
                    &mut w,
                    code,
                    "",
                    r#"{"error":{"message":"scripted failure"}}"#,
                )?;
                code
            }
            Some(Fault::Stall(d)) => {
                std::thread::sleep(d);
                let _ = respond(&mut w, 200, "", "{}");
                0
            }
            None => {
                let text = caption_for(&image);
                let answer = serde_json::json!({
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": req["model"],
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 100 + prompt.len() / 4, "completion_tokens": text.split(' ').count(), "total_tokens": 0 }
                });
                respond(&mut w, 200, "", &answer.to_string())?;
                200
            }
        };
        let mut s = st.lock().unwrap();
        s.active -= 1;
        s.log.push((key, status));
    }
}
