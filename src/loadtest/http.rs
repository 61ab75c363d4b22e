//! A small HTTP/1.1 client on tokio for load generation: one keep-alive connection per virtual
//! user, the request bytes built once per test, responses parsed in place with `httparse` and
//! their bodies counted, not kept. Written by hand rather than on hyper because a load generator
//! needs none of hyper's generality (pools, upgrades, HTTP/2, body streams) and every
//! per-request allocation it avoids is throughput; plain `http://` only (no TLS).

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::LoadTestError;
use super::scheduler::{Executor, Failure, Reply};

/// Response heads larger than this are refused (servers' own limits are 8–16 KiB).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
const READ_CHUNK: usize = 16 * 1024;

/// Where and what to send, parsed and serialised once.
#[derive(Debug)]
pub struct HttpTarget {
    host: String,
    port: u16,
    request: Vec<u8>,
    head: bool,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The WHATWG URL standard's forbidden host code points (and `%`: a percent-encoded name would
/// have to be decoded first, and decodes to one of these or to something no resolver takes).
fn is_forbidden_in_host(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '#' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|' | '%'
        )
}

impl HttpTarget {
    pub fn new(
        url: &str,
        method: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<Self, LoadTestError> {
        let bad = |reason: &str| LoadTestError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err(bad("https is not supported by the native client; use http:// (e.g. a local model server) or a JS executor"));
        } else {
            return Err(bad("expected an http:// URL"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad(
                "the path contains spaces or control characters; percent-encode them",
            ));
        }
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; send an Authorization header",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6.find(']').ok_or_else(|| bad("unclosed [ in the host"))?;
            let port = &v6[close + 1..];
            (
                v6[..close].to_string(),
                port.strip_prefix(':').unwrap_or(""),
            )
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (authority.to_string(), ""),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if authority.starts_with('[') {
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("the host in [ ] is not an IPv6 address"));
            }
        } else if let Some(c) = host.chars().find(|c| is_forbidden_in_host(*c)) {
            return Err(bad(&format!(
                "the host contains {c:?}, which a host name cannot have"
            )));
        }
        let port = if port.is_empty() {
            80
        } else {
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?
        };
        let method = method.to_ascii_uppercase();
        if !is_token(&method) {
            return Err(LoadTestError::out_of_range(
                "method",
                "an HTTP method name such as 'GET' or 'POST'",
                format!("{method:?}"),
            ));
        }
        let mut request = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
        let mut has_host = false;
        for (name, value) in headers {
            if !is_token(name) {
                return Err(LoadTestError::out_of_range(
                    "headers",
                    "header names made of token characters",
                    format!("{name:?}"),
                ));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(LoadTestError::out_of_range(
                    "headers",
                    "header values without CR, LF or NUL",
                    format!("{name}: {value:?}"),
                ));
            }
            let lower = name.to_ascii_lowercase();
            // The client frames the body itself; a caller's framing headers would contradict it.
            if lower == "content-length" || lower == "transfer-encoding" {
                continue;
            }
            has_host |= lower == "host";
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !has_host {
            let shown = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let line = if port == 80 {
                format!("Host: {shown}\r\n")
            } else {
                format!("Host: {shown}:{port}\r\n")
            };
            request.extend_from_slice(line.as_bytes());
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        Ok(Self {
            host,
            port,
            request,
            head: method == "HEAD",
        })
    }

    /// The serialised request (for tests and diagnostics).
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }
}

/// One keep-alive connection and its read buffer (`buf[start..end]` is unread).
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

struct Head {
    status: u16,
    keep_alive: bool,
    length: Option<u64>,
    chunked: bool,
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed by the server",
    )
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Conn {
    async fn open(t: &HttpTarget) -> io::Result<Self> {
        let stream = TcpStream::connect((t.host.as_str(), t.port)).await?;
        // Requests are written in one piece; Nagle would only delay them.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        })
    }

    /// Reads more bytes after the unread ones; `limit` bounds how much may pile up unread.
    async fn fill(&mut self, limit: usize) -> io::Result<()> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= limit {
                return Err(invalid("response head too large"));
            }
            self.buf.resize((self.buf.len() * 2).min(limit), 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(eof());
        }
        self.end += n;
        Ok(())
    }

    async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut head = Head {
                        status,
                        keep_alive: resp.version == Some(1),
                        length: None,
                        chunked: false,
                    };
                    for h in resp.headers.iter() {
                        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            head.length =
                                Some(v.parse().map_err(|_| invalid("bad Content-Length"))?);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            head.chunked = v.to_ascii_lowercase().ends_with("chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = v.to_ascii_lowercase();
                            if v.contains("close") {
                                head.keep_alive = false;
                            } else if v.contains("keep-alive") {
                                head.keep_alive = true;
                            }
                        }
                    }
                    self.start += len;
                    if (100..200).contains(&status) {
                        continue; // 100 Continue and friends: the real response follows
                    }
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => self.fill(MAX_HEAD).await?,
                Err(e) => return Err(invalid(&format!("malformed response: {e}"))),
            }
        }
    }

    /// Consumes `n` body bytes without keeping them.
    async fn skip(&mut self, mut n: u64) -> io::Result<()> {
        loop {
            let avail = (self.end - self.start) as u64;
            let take = avail.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.start = 0;
            self.end = 0;
            self.fill(usize::MAX).await?;
        }
    }

    /// Reads one CRLF-terminated line and returns it without the CRLF.
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let s = String::from_utf8_lossy(&self.buf[self.start..self.start + i]).into_owned();
                self.start += i + 2;
                return Ok(s);
            }
            self.fill(MAX_HEAD).await?;
        }
    }

    /// Reads a whole response; returns the head and the body size.
    async fn read_response(&mut self, head_request: bool) -> io::Result<(Head, u64)> {
        let mut head = self.read_head().await?;
        let no_body = head_request || head.status == 204 || head.status == 304;
        let size = if no_body {
            0
        } else if head.chunked {
            let mut total = 0u64;
            loop {
                let line = self.line().await?;
                let hex = line.split(';').next().unwrap_or("").trim();
                let n = u64::from_str_radix(hex, 16).map_err(|_| invalid("bad chunk size"))?;
                if n == 0 {
                    while !self.line().await?.is_empty() {} // trailers
                    break;
                }
                self.skip(n).await?;
                if !self.line().await?.is_empty() {
                    return Err(invalid("missing CRLF after a chunk"));
                }
                total += n;
            }
            total
        } else if let Some(n) = head.length {
            self.skip(n).await?;
            n
        } else {
            // No framing: the body runs to the end of the connection.
            head.keep_alive = false;
            let mut total = (self.end - self.start) as u64;
            loop {
                self.start = 0;
                self.end = 0;
                match self.fill(usize::MAX).await {
                    Ok(()) => total += self.end as u64,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            total
        };
        Ok((head, size))
    }
}

/// The native HTTP executor: each virtual user owns one keep-alive connection.
pub struct HttpExecutor {
    target: Arc<HttpTarget>,
}

impl HttpExecutor {
    pub fn new(target: Arc<HttpTarget>) -> Self {
        Self { target }
    }

    async fn exchange(&self, conn: &mut Conn) -> Result<(Head, u64), (io::Error, bool)> {
        conn.stream
            .write_all(&self.target.request)
            .await
            .map_err(|e| (e, false))?;
        let before = (conn.start, conn.end);
        conn.read_response(self.target.head).await.map_err(|e| {
            let nothing_read = (conn.start, conn.end) == before;
            (e, nothing_read)
        })
    }
}

impl Executor for HttpExecutor {
    /// The user's idle keep-alive connection, if any. It is taken out while a request is in
    /// flight, so a request dropped by its timeout drops its half-used connection with it.
    type State = Option<Conn>;

    fn state(&self, _user: u32) -> Option<Conn> {
        None
    }

    async fn execute(&self, state: &mut Option<Conn>) -> Result<Reply, Failure> {
        let t = &*self.target;
        let connect_failed =
            |e: io::Error| Failure::new(format!("connect {}:{}: {e}", t.host, t.port));
        let (reused, mut conn) = match state.take() {
            Some(c) => (true, c),
            None => (false, Conn::open(t).await.map_err(connect_failed)?),
        };
        let (head, size) = match self.exchange(&mut conn).await {
            Ok(r) => r,
            // A kept-alive connection the server closed while idle: retry once on a fresh one,
            // as every HTTP client does, since the server never saw the request.
            Err((_, true)) if reused => {
                conn = Conn::open(t).await.map_err(connect_failed)?;
                self.exchange(&mut conn)
                    .await
                    .map_err(|(e, _)| Failure::new(e.to_string()))?
            }
            Err((e, _)) => return Err(Failure::new(e.to_string())),
        };
        if head.keep_alive {
            *state = Some(conn);
        }
        if head.status >= 400 {
            return Err(Failure {
                message: format!("HTTP {}", head.status),
                status: Some(head.status),
            });
        }
        Ok(Reply {
            size,
            status: Some(head.status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::{run_closed, ClosedConfig, Record, RunState};
    use std::time::Duration;
    use tokio::net::TcpListener;

    #[test]
    fn parses_urls_and_builds_the_request_once() {
        let t = HttpTarget::new(
            "http://127.0.0.1:8080/v1/generate?x=1#frag",
            "post",
            &[
                ("X-Key".into(), "abc".into()),
                ("Content-Length".into(), "99".into()),
            ],
            Some(b"{\"a\":1}"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(t.request_bytes()),
            "POST /v1/generate?x=1 HTTP/1.1\r\nX-Key: abc\r\nHost: 127.0.0.1:8080\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
        let t = HttpTarget::new("http://[::1]", "GET", &[], None).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert!(String::from_utf8_lossy(t.request_bytes()).contains("Host: [::1]\r\n"));
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        for url in [
            "https://x/",
            "ftp://x",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://a b/",
            "http://a%20b/",
            "http://a<b/",
            "http://a\tb:80/",
            "http://[::1/",
            "http://[nope]/",
        ] {
            assert!(
                matches!(
                    HttpTarget::new(url, "GET", &[], None),
                    Err(LoadTestError::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
        assert!(HttpTarget::new("http://h/", "GE T", &[], None).is_err());
        assert!(HttpTarget::new("http://h/", "GET", &[("a b".into(), "v".into())], None).is_err());
        assert!(HttpTarget::new(
            "http://h/",
            "GET",
            &[("a".into(), "v\r\nX: y".into())],
            None
        )
        .is_err());
    }

    /// A tiny server answering in turn: content-length, chunked, 500, then closing the
    /// connection after every 7th response, to exercise framing and reconnects.
    async fn serve(listener: TcpListener) {
        let mut n = 0u64;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            loop {
                let mut buf = vec![0u8; 4096];
                let mut got = 0;
                let ok = loop {
                    match s.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => break false,
                        Ok(k) => got += k,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break true;
                    }
                };
                if !ok {
                    break;
                }
                n += 1;
                let close = n.is_multiple_of(7);
                let conn = if close { "Connection: close\r\n" } else { "" };
                let resp = match n % 3 {
                    0 => format!("HTTP/1.1 200 OK\r\n{conn}Content-Length: 5\r\n\r\nhello"),
                    1 => format!("HTTP/1.1 200 OK\r\n{conn}Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n4\r\ndefg\r\n0\r\nT: 1\r\n\r\n"),
                    _ => format!("HTTP/1.1 500 Oops\r\n{conn}Content-Length: 2\r\n\r\nno"),
                };
                if s.write_all(resp.as_bytes()).await.is_err() || close {
                    break;
                }
            }
        }
    }

    /// Answers every request with `response`, written `step` bytes at a time with a pause
    /// between writes, so the client sees heads and chunk lines split across reads.
    async fn dribble(listener: TcpListener, response: Vec<u8>, step: usize) {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let mut got = 0;
                    while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf[got..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => got += k,
                        }
                    }
                    for piece in response.chunks(step) {
                        if s.write_all(piece).await.is_err() {
                            return;
                        }
                        s.flush().await.ok();
                        if step < 64 {
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                    }
                }
            });
        }
    }

    fn run_against(
        response: Vec<u8>,
        step: usize,
        requests: u64,
    ) -> (crate::loadtest::Metrics, Vec<Record>) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(dribble(listener, response, step));
            let target =
                HttpTarget::new(&format!("http://127.0.0.1:{port}/"), "GET", &[], None).unwrap();
            let state = RunState::new(1000);
            let cfg = ClosedConfig {
                users: 2,
                requests_per_user: requests,
                ramp_up: Duration::ZERO,
                test_duration: Duration::from_secs(20),
                think_time: Duration::ZERO,
                timeout: Duration::from_secs(10),
            };
            run_closed(
                Arc::new(HttpExecutor::new(Arc::new(target))),
                cfg,
                state.clone(),
            )
            .await;
            server.abort();
            (state.metrics(1000.0, 2), state.take_records())
        })
    }

    #[test]
    fn responses_split_across_many_reads_are_framed_exactly() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Pad: aaaaaaaaaaaaaaaa\r\n\r\n5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n".to_vec();
        let (m, records) = run_against(chunked, 3, 5);
        assert_eq!(
            (m.total_requests, m.failed_requests),
            (10, 0),
            "{records:?}"
        );
        assert!(records.iter().all(|r| r.size == 31));
    }

    #[test]
    fn large_bodies_are_counted_not_kept() {
        let body = vec![b'x'; 3 * 1024 * 1024 + 17];
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        let (m, records) = run_against(response, 256 * 1024, 3);
        assert_eq!((m.total_requests, m.failed_requests), (6, 0), "{records:?}");
        assert!(records.iter().all(|r| r.size == body.len() as u64));
    }

    #[test]
    fn talks_to_a_real_socket_with_keep_alive_framing_and_reconnects() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(serve(listener));
            let target =
                HttpTarget::new(&format!("http://127.0.0.1:{port}/"), "GET", &[], None).unwrap();
            let state = RunState::new(100);
            let cfg = ClosedConfig {
                users: 1,
                requests_per_user: 30,
                ramp_up: Duration::ZERO,
                test_duration: Duration::from_secs(10),
                think_time: Duration::ZERO,
                timeout: Duration::from_secs(5),
            };
            run_closed(
                Arc::new(HttpExecutor::new(Arc::new(target))),
                cfg,
                state.clone(),
            )
            .await;
            let m = state.metrics(1000.0, 1);
            assert_eq!(m.total_requests, 30);
            assert_eq!(m.failed_requests, 10, "every third response is a 500");
            let records = state.take_records();
            let sizes: Vec<u64> = records.iter().filter(|r| r.ok).map(|r| r.size).collect();
            assert!(sizes.iter().all(|s| *s == 5 || *s == 7), "{sizes:?}");
            let failed = records.iter().find(|r| !r.ok).unwrap();
            assert_eq!(failed.error.as_deref(), Some("HTTP 500"));
            assert_eq!(failed.status, Some(500));
            server.abort();
        });
    }
}
