//! A real HTTP/1.1 server on 127.0.0.1 for download tests, with scripted faults and a request
//! log. Written on std's TcpListener (thread per connection, keep-alive) so every fault is
//! exact: close after N body bytes, 5xx, 429 with Retry-After, wrong bytes, slow bodies.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server does for one request to a path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Send the headers for the full answer, then this many body bytes, then close.
    CloseAfter(usize),
    /// Answer with this status and a short body.
    Status(u16),
    /// 429 (or 503) with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Serve these bytes instead of the resource (same headers otherwise).
    WrongBytes(Vec<u8>),
    /// Serve the body in `chunk`-byte pieces with `delay` between them.
    Slow { chunk: usize, delay: Duration },
    /// 200 with a chunked body that never ends (until the client hangs up).
    Endless,
}

#[derive(Clone, Debug)]
pub struct LogEntry {
    pub id: u64,
    pub path: String,
    pub range_from: Option<u64>,
    pub if_range: Option<String>,
    pub status: u16,
    pub body_bytes: u64,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    files: HashMap<String, (Vec<u8>, Option<String>)>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Faults applied to every request to the path, forever.
    sticky: HashMap<String, Fault>,
    log: Vec<LogEntry>,
    requests: u64,
    /// Slow bodies being sent right now, and the most at once.
    active: u64,
    max_active: u64,
}

#[derive(Clone)]
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
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
        Server { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn put(&self, path: &str, body: Vec<u8>, etag: Option<&str>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.into(), (body, etag.map(str::to_owned)));
    }

    /// Faults for the next requests to `path`, in order; then normal service.
    pub fn faults(&self, path: &str, f: Vec<Fault>) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(path.into(), f.into());
    }

    pub fn sticky(&self, path: &str, f: Fault) {
        self.state.lock().unwrap().sticky.insert(path.into(), f);
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn log_for(&self, path: &str) -> Vec<LogEntry> {
        self.log().into_iter().filter(|e| e.path == path).collect()
    }

    /// The most slow bodies that were being sent at the same time.
    pub fn max_concurrent(&self) -> u64 {
        self.state.lock().unwrap().max_active
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

/// Counts a slow body as finished however its sending ends.
struct Deactivate(Arc<Mutex<State>>);

impl Drop for Deactivate {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.active -= 1;
        }
    }
}

/// A port with nothing listening (a mirror that is down).
pub fn dead_url(path: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}{path}")
}

fn serve(c: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    c.set_nodelay(true)?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let range_from = headers
            .get("range")
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<u64>().ok());
        let if_range = headers.get("if-range").cloned();
        let (file, fault, id) = {
            let mut s = st.lock().unwrap();
            s.requests += 1;
            let id = s.requests;
            let fault = s
                .faults
                .get_mut(&path)
                .and_then(|q| q.pop_front())
                .or_else(|| s.sticky.get(&path).cloned());
            (s.files.get(&path).cloned(), fault, id)
        };
        let mut entry = LogEntry {
            id,
            path: path.clone(),
            range_from,
            if_range: if_range.clone(),
            status: 0,
            body_bytes: 0,
            at: Instant::now(),
        };
        match (&fault, file) {
            (Some(Fault::Endless), _) => {
                entry.status = 200;
                st.lock().unwrap().log.push(entry);
                w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                let chunk = vec![b'0'; 1 << 16];
                loop {
                    let head = format!("{:x}\r\n", chunk.len());
                    if w.write_all(head.as_bytes()).is_err()
                        || w.write_all(&chunk).is_err()
                        || w.write_all(b"\r\n").is_err()
                    {
                        return Ok(());
                    }
                }
            }
            (Some(Fault::Status(code)), _) => {
                entry.status = *code;
                st.lock().unwrap().log.push(entry);
                simple(&mut w, *code, &[])?;
                continue;
            }
            (Some(Fault::RetryAfter(code, secs)), _) => {
                entry.status = *code;
                st.lock().unwrap().log.push(entry);
                simple(&mut w, *code, &[("Retry-After", secs.to_string())])?;
                continue;
            }
            (_, None) => {
                entry.status = 404;
                st.lock().unwrap().log.push(entry);
                simple(&mut w, 404, &[])?;
                continue;
            }
            (f, Some((mut body, etag))) => {
                if let Some(Fault::WrongBytes(b)) = f {
                    body = b.clone();
                }
                let validator_ok = match (&if_range, &etag) {
                    (None, _) => true,
                    (Some(v), Some(e)) => v == e,
                    (Some(_), None) => false,
                };
                let start = match range_from {
                    Some(s) if validator_ok => s,
                    _ => 0,
                };
                if start > body.len() as u64 {
                    entry.status = 416;
                    simple(&mut w, 416, &[])?;
                    st.lock().unwrap().log.push(entry);
                    continue;
                }
                let part = &body[start as usize..];
                let mut head = if range_from.is_some() && validator_ok {
                    entry.status = 206;
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
                        body.len().saturating_sub(1),
                        body.len()
                    )
                } else {
                    entry.status = 200;
                    "HTTP/1.1 200 OK\r\n".to_string()
                };
                head.push_str(&format!(
                    "Content-Length: {}\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n",
                    part.len()
                ));
                if let Some(e) = &etag {
                    head.push_str(&format!("ETag: {e}\r\n"));
                }
                head.push_str("\r\n");
                w.write_all(head.as_bytes())?;
                match f {
                    Some(Fault::CloseAfter(n)) => {
                        let n = (*n).min(part.len());
                        w.write_all(&part[..n])?;
                        w.flush()?;
                        entry.body_bytes = n as u64;
                        st.lock().unwrap().log.push(entry);
                        let _ = w.shutdown(std::net::Shutdown::Both);
                        return Ok(());
                    }
                    Some(Fault::Slow { chunk, delay }) => {
                        // Logged up front and updated per chunk, so the log is current even
                        // while the client is still reading (or after it was killed).
                        let id = entry.id;
                        {
                            let mut s = st.lock().unwrap();
                            s.log.push(entry.clone());
                            s.active += 1;
                            s.max_active = s.max_active.max(s.active);
                        }
                        let _done = Deactivate(st.clone());
                        for c in part.chunks(*chunk) {
                            std::thread::sleep(*delay);
                            if w.write_all(c).is_err() {
                                return Ok(());
                            }
                            // By id: the test may have cleared the log meanwhile.
                            if let Some(e) =
                                st.lock().unwrap().log.iter_mut().rev().find(|e| e.id == id)
                            {
                                e.body_bytes += c.len() as u64;
                            }
                        }
                        continue;
                    }
                    _ => {
                        entry.body_bytes = part.len() as u64;
                        st.lock().unwrap().log.push(entry);
                        w.write_all(part)?;
                        continue;
                    }
                }
            }
        }
    }
}

fn simple(w: &mut TcpStream, code: u16, extra: &[(&str, String)]) -> std::io::Result<()> {
    let body = format!("status {code}\n");
    let mut h = format!(
        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n",
        body.len()
    );
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    w.write_all(h.as_bytes())?;
    w.write_all(body.as_bytes())
}
