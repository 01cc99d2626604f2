//! The smallest HTTP/1.1 a sign-in redirect needs, with hard limits: one request head read
//! within a byte budget and a deadline, one answer written within a deadline, then the
//! connection closes. The request line and headers are never buffered beyond the budget, so a
//! local process that sends hundreds of MB, sends them slowly, or pipelines thousands of
//! requests and never reads costs a few KiB and a few seconds, and never holds up the redirect.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Hard limits on what one connection may send or hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The request line (Entra's redirects are a few KiB).
    pub max_line: usize,
    /// The request line and all the headers, up to the blank line.
    pub max_head: usize,
    /// Number of header fields.
    pub max_headers: usize,
    /// From the connection's acceptance to the blank line.
    pub head_deadline: Duration,
    /// For writing the answer to a client that may never read it.
    pub write_deadline: Duration,
}

pub const LIMITS: Limits = Limits {
    max_line: 16 * 1024,
    max_head: 64 * 1024,
    max_headers: 100,
    head_deadline: Duration::from_secs(20),
    write_deadline: Duration::from_secs(5),
};

/// A parsed request head. The body (if any) is never read: every answer closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The request target as sent (origin form: path and query).
    pub target: String,
    /// Header fields in order; names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The value of the only field named `name` (case-insensitive); `Err` if it appears twice.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut found = None;
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(());
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }
}

/// Why no usable head was read; each maps to the answer the client gets (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 414: the request line is over the limit.
    LineTooLong,
    /// 431: the head is over the byte or field limit.
    HeadTooLarge,
    /// 400: not an HTTP/1.x request head.
    Malformed(&'static str),
    /// 505: HTTP/2 or later (or 0.9).
    Version,
    /// 408: the head did not arrive before the deadline.
    TimedOut,
    /// No answer: the client closed, or the socket failed.
    Gone,
}

impl Refusal {
    /// The status to answer with, or None to just close.
    pub fn status(&self) -> Option<u16> {
        match self {
            Refusal::LineTooLong => Some(414),
            Refusal::HeadTooLarge => Some(431),
            Refusal::Malformed(_) => Some(400),
            Refusal::Version => Some(505),
            Refusal::TimedOut => Some(408),
            Refusal::Gone => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Refusal::LineTooLong => "the request line is too long for a sign-in response".into(),
            Refusal::HeadTooLarge => {
                "the request headers are too large for a sign-in response".into()
            }
            Refusal::Malformed(why) => format!("not an HTTP/1.1 request ({why})"),
            Refusal::Version => "only HTTP/1.0 and HTTP/1.1 are spoken here".into(),
            Refusal::TimedOut => "the request did not arrive in time".into(),
            Refusal::Gone => "the client went away".into(),
        }
    }
}

/// Something a head can be read from with a deadline: a socket, or a byte slice in tests.
pub trait Source: Read {
    /// Bounds the next read to `left`.
    fn read_within(&mut self, left: Duration) -> std::io::Result<()>;
}

impl Source for TcpStream {
    fn read_within(&mut self, left: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(left.max(Duration::from_millis(1))))
    }
}

impl Source for &[u8] {
    fn read_within(&mut self, _: Duration) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads one request head: at most `limits.max_head` bytes (plus one read's worth, at most
/// 4 KiB, that is looked at and dropped), before `deadline`.
pub fn read_head<S: Source>(
    s: &mut S,
    limits: &Limits,
    deadline: Instant,
) -> Result<Head, Refusal> {
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(Refusal::TimedOut)?;
        s.read_within(left).map_err(|_| Refusal::Gone)?;
        let n = match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(Refusal::Gone),
            Ok(0) => return Err(Refusal::Malformed("the connection closed inside the head")),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Refusal::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Err(Refusal::Gone),
        };
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[searched_from..]).map(|e| e + searched_from) {
            if end > limits.max_head {
                return Err(oversized(&buf, limits));
            }
            buf.truncate(end);
            return parse(&buf, limits);
        }
        if buf.len() > limits.max_head {
            return Err(oversized(&buf, limits));
        }
        if !buf.contains(&b'\n') && buf.len() > limits.max_line {
            return Err(Refusal::LineTooLong);
        }
    }
}

/// Where the head ends (just after the blank line), if it does in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if buf[i..].starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

fn oversized(buf: &[u8], limits: &Limits) -> Refusal {
    let line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line > limits.max_line {
        Refusal::LineTooLong
    } else {
        Refusal::HeadTooLarge
    }
}

/// Parses a complete head (ending with its blank line).
fn parse(head: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::Malformed("not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    if request_line.len() > limits.max_line {
        return Err(Refusal::LineTooLong);
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed(
            "the request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(Refusal::Malformed("bad method"));
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(Refusal::Malformed("bad request target"));
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Refusal::Version),
        _ => return Err(Refusal::Malformed("bad HTTP version")),
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            return Err(Refusal::Malformed("folded header line"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::Malformed("header line without ':'"));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(Refusal::Malformed("bad header name"));
        }
        if headers.len() >= limits.max_headers {
            return Err(Refusal::HeadTooLarge);
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    })
}

/// RFC 9110 token characters (method and field names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes one answer (`Connection: close`) within `limits.write_deadline`: a client that never
/// reads costs at most the deadline, never a stuck thread. Then [`close`] the connection.
pub fn answer(s: &mut TcpStream, status: u16, extra_headers: &[&str], body: &str, limits: &Limits) {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for h in extra_headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    if s.set_write_timeout(Some(limits.write_deadline)).is_ok() {
        let _ = s.write_all(out.as_bytes()).and_then(|()| s.flush());
    }
}

/// Closes the connection after a short, bounded wait for the client to read what was written.
pub fn close(mut s: TcpStream) {
    linger(&mut s);
}

/// Half-closes, then reads (and drops) what the client still sends for a moment: closing a
/// socket with unread bytes resets it, and the client could lose the answer written just before.
fn linger(s: &mut TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_millis(500);
    let mut budget: usize = 256 * 1024;
    let mut sink = [0u8; 4096];
    while budget > 0 {
        let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        if s.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Head, Refusal> {
        let mut s: &[u8] = bytes;
        read_head(&mut s, &LIMITS, Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn a_redirect_head_is_read() {
        let h = read(b"GET /cb?code=x&state=y HTTP/1.1\r\nHost: localhost:1234\r\nUser-Agent: t\r\n\r\nGET /next HTTP/1.1\r\n").unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/cb?code=x&state=y");
        assert_eq!(h.single("host"), Ok(Some("localhost:1234")));
        assert_eq!(h.headers.len(), 2);
        // Bare LF line ends are tolerated.
        let h = read(b"GET / HTTP/1.0\nHost: x\n\n").unwrap();
        assert_eq!(h.single("Host"), Ok(Some("x")));
    }

    #[test]
    fn limits_are_enforced_without_buffering_everything() {
        let mut line = b"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 20 * 1024));
        assert_eq!(read(&line), Err(Refusal::LineTooLong));
        line.extend(b" HTTP/1.1\r\n\r\n");
        assert_eq!(read(&line), Err(Refusal::LineTooLong));
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.extend(std::iter::repeat_n(b'b', 300 * 1024));
        assert_eq!(read(&head), Err(Refusal::HeadTooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..200 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(read(many.as_bytes()), Err(Refusal::HeadTooLarge));
    }

    #[test]
    fn malformed_heads_are_refused() {
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"G@T / HTTP/1.1\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: b\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(read(bad), Err(Refusal::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(Refusal::Version)
        );
        assert_eq!(read(b""), Err(Refusal::Gone));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nHost"),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn a_duplicate_field_is_detected() {
        let h = read(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").unwrap();
        assert_eq!(h.single("Host"), Err(()));
    }

    #[test]
    fn a_slow_client_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let (mut s, _) = l.accept().unwrap();
        let r = read_head(&mut s, &LIMITS, Instant::now() + Duration::from_millis(200));
        assert_eq!(r, Err(Refusal::TimedOut));
    }
}
