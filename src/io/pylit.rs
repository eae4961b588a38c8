//! Python and JSON literals as text: the one parser for numpy `.npy` headers
//! (`{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }`) and for the nested values
//! pandas and numpy write into CSV cells (JSON with `NaN`, Python reprs with `None`, tuples,
//! single quotes, numpy's `array([...])`, `np.float64(1.5)` and space-separated arrays).
//! A tuple is a list here (`(5,)` and `[5]` read alike).

/// A cell's value, whatever its physical form.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Val>),
    Map(Vec<(String, Val)>),
}

impl Val {
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a number",
            Val::Str(_) => "text",
            Val::List(_) => "a list",
            Val::Map(_) => "an object",
        }
    }

    /// A whole number: ints, floats holding one, booleans; null and NaN → `None`.
    pub fn int(&self) -> std::result::Result<Option<i64>, String> {
        match self {
            Val::Null => Ok(None),
            Val::Bool(b) => Ok(Some(i64::from(*b))),
            Val::Int(i) => Ok(Some(*i)),
            Val::Float(f) if f.is_nan() => Ok(None),
            Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Ok(Some(*f as i64))
            }
            Val::Float(f) => Err(format!("{f} is not a whole number")),
            other => Err(format!("expected a number, found {}", other.kind())),
        }
    }

    /// Any number (NaN kept); null → `None`.
    pub fn num(&self) -> std::result::Result<Option<f64>, String> {
        match self {
            Val::Null => Ok(None),
            Val::Bool(b) => Ok(Some(f64::from(u8::from(*b)))),
            Val::Int(i) => Ok(Some(*i as f64)),
            Val::Float(f) => Ok(Some(*f)),
            other => Err(format!("expected a number, found {}", other.kind())),
        }
    }

    /// A list (a tuple in the text form is a list); null → `None`.
    pub fn list(&self) -> std::result::Result<Option<&[Val]>, String> {
        match self {
            Val::Null => Ok(None),
            Val::List(v) => Ok(Some(v)),
            other => Err(format!("expected a list, found {}", other.kind())),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// JSON text (NaN and infinities written as Python's `json.dumps` does).
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) if f.is_nan() => out.push_str("NaN"),
            Val::Float(f) if f.is_infinite() => {
                out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Val::Float(f) => {
                let _ = write!(out, "{f:?}");
            }
            Val::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
            Val::List(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write_json(out);
                }
                out.push(']');
            }
            Val::Map(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    x.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// Parses the text form of a nested value: JSON (with `NaN`/`Infinity`), or a Python literal
/// (`None`, `True`, `False`, `nan`, single-quoted strings, tuples). Empty text is null.
pub fn parse_text(s: &str) -> std::result::Result<Val, String> {
    let mut p = TextParser {
        s: s.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.i == p.s.len() {
        return Ok(Val::Null);
    }
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text at byte {}", p.i));
    }
    Ok(v)
}

struct TextParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl TextParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            let end = self.i + word.len();
            // A keyword must not run on into an identifier (`nanny`).
            if end < self.s.len() && (self.s[end].is_ascii_alphanumeric() || self.s[end] == b'_') {
                return false;
            }
            self.i = end;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Val, String> {
        if depth > 64 {
            return Err("nested too deeply".into());
        }
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end of text".into());
        };
        match c {
            b'[' | b'(' => {
                let close = if c == b'[' { b']' } else { b')' };
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&close) {
                        self.i += 1;
                        return Ok(Val::List(v));
                    }
                    if self.s[self.i..].starts_with(b"...") {
                        return Err("numpy shortened this array with `...` when it was written \
                                    as text: the values in between are not in the file"
                            .into());
                    }
                    v.push(self.value(depth + 1)?);
                    let before = self.i;
                    self.ws();
                    let spaced = self.i > before;
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(x) if *x == close => {}
                        // numpy's text form of an array: elements separated by spaces and
                        // line breaks, no commas (`[1151720  927325\n 1158042]`).
                        Some(_) if spaced && close == b']' => {}
                        _ => {
                            return Err(format!(
                                "expected `,` or `{}` at byte {}",
                                close as char, self.i
                            ));
                        }
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Val::Map(m));
                    }
                    let k = match self.value(depth + 1)? {
                        Val::Str(k) => k,
                        other => return Err(format!("object key is {}, not text", other.kind())),
                    };
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(format!("expected `:` at byte {}", self.i));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
                    }
                }
            }
            b'"' | b'\'' => self.string(c).map(Val::Str),
            // numpy reprs: `array([1., 2.])`, `array([...], dtype=object)`, and numpy 2's
            // scalars `np.float64(1.5)`, `np.str_('x')`: the value inside the call.
            _ if self.call_start() => {
                let v = self.value(depth + 1)?;
                self.ws();
                if self.s.get(self.i) == Some(&b',') {
                    // `, dtype=...`: skipped to the closing parenthesis.
                    while self.i < self.s.len() && self.s[self.i] != b')' {
                        self.i += 1;
                    }
                }
                if self.s.get(self.i) != Some(&b')') {
                    return Err(format!("expected `)` at byte {}", self.i));
                }
                self.i += 1;
                Ok(v)
            }
            _ => {
                for (w, v) in [
                    ("null", Val::Null),
                    ("None", Val::Null),
                    ("true", Val::Bool(true)),
                    ("True", Val::Bool(true)),
                    ("false", Val::Bool(false)),
                    ("False", Val::Bool(false)),
                    ("NaN", Val::Float(f64::NAN)),
                    ("nan", Val::Float(f64::NAN)),
                    ("Infinity", Val::Float(f64::INFINITY)),
                    ("inf", Val::Float(f64::INFINITY)),
                    ("-Infinity", Val::Float(f64::NEG_INFINITY)),
                    ("-inf", Val::Float(f64::NEG_INFINITY)),
                ] {
                    if self.eat(w) {
                        return Ok(v);
                    }
                }
                self.number()
            }
        }
    }

    /// Consumes `array(` or `np.<name>(` / `numpy.<name>(` if the text is at one.
    fn call_start(&mut self) -> bool {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"array(") {
            self.i += 6;
            return true;
        }
        for prefix in [&b"np."[..], b"numpy."] {
            if let Some(after) = rest.strip_prefix(prefix) {
                let name = after
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                if name > 0 && after.get(name) == Some(&b'(') {
                    self.i += prefix.len() + name + 1;
                    return true;
                }
            }
        }
        false
    }

    fn number(&mut self) -> std::result::Result<Val, String> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            self.i += 1;
        }
        let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if t.is_empty() {
            return Err(format!("unexpected character at byte {start}"));
        }
        // Python 2 wrote longs as `20L` (old .npy headers).
        if matches!(self.s.get(self.i), Some(b'L' | b'l')) && t.parse::<i64>().is_ok() {
            self.i += 1;
        }
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Val::Int(i));
        }
        t.parse::<f64>()
            .map(Val::Float)
            .map_err(|_| format!("`{t}` is not a number"))
    }

    fn string(&mut self, quote: u8) -> std::result::Result<String, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            if c == quote {
                return String::from_utf8(out).map_err(|_| "string is not UTF-8".into());
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = self.s.get(self.i) else {
                return Err("unterminated escape".into());
            };
            self.i += 1;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'0' => out.push(0),
                b'u' => {
                    let mut cp = self.hex4()?;
                    if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                        self.i += 2;
                        let lo = self.hex4()?;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                    }
                    let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                    out.extend_from_slice(ch.to_string().as_bytes());
                }
                other => out.push(other),
            }
        }
    }

    fn hex4(&mut self) -> std::result::Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("bad \\u escape")?;
        self.i += 4;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_and_pandas_cells_parse_with_one_parser() {
        let h =
            parse_text("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 20L), }").unwrap();
        assert_eq!(h.get("descr"), Some(&Val::Str("<i4".into())));
        assert_eq!(h.get("fortran_order"), Some(&Val::Bool(false)));
        assert_eq!(
            h.get("shape"),
            Some(&Val::List(vec![Val::Int(3), Val::Int(20)]))
        );
        assert_eq!(parse_text("(5,)").unwrap(), Val::List(vec![Val::Int(5)]));
        assert_eq!(parse_text("()").unwrap(), Val::List(vec![]));
        // pandas / numpy text forms of nested cells.
        assert_eq!(
            parse_text("[1151720  927325\n 1158042]").unwrap(),
            Val::List(vec![Val::Int(1151720), Val::Int(927325), Val::Int(1158042)])
        );
        assert_eq!(
            parse_text("array([1., 2.5], dtype=float32)").unwrap(),
            Val::List(vec![Val::Float(1.0), Val::Float(2.5)])
        );
        assert_eq!(parse_text("np.float64(1.5)").unwrap(), Val::Float(1.5));
        assert_eq!(parse_text("None").unwrap(), Val::Null);
        assert!(parse_text("{'a': 1} trailing").is_err());
        assert!(parse_text("[1, ...]").unwrap_err().contains("shortened"));
    }
}
