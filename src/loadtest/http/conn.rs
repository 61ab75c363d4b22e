//! One keep-alive HTTP/1.1 connection and the framing of its responses (Content-Length,
//! chunked, read-to-close, `1xx` interim heads, bodiless statuses), parsed in place with
//! `httparse` in one reused buffer; bodies are counted, not kept.

use std::io;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::target::HttpTarget;

/// Response heads larger than this are refused (servers' own limits are 8–16 KiB).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
const READ_CHUNK: usize = 16 * 1024;

/// One keep-alive connection and its read buffer (`buf[start..end]` is unread).
pub struct Conn {
    pub(super) stream: TcpStream,
    buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Head {
    pub(super) status: u16,
    pub(super) keep_alive: bool,
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

fn ends_with_ignore_case(v: &[u8], suffix: &[u8]) -> bool {
    v.len() >= suffix.len() && v[v.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn contains_ignore_case(v: &[u8], word: &[u8]) -> bool {
    v.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word))
}

impl Conn {
    pub(super) async fn open(t: &HttpTarget) -> io::Result<Self> {
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
                    // Compared in place, without lower-cased copies: this runs for every
                    // response, and a load generator's own allocations are its overhead.
                    for h in resp.headers.iter() {
                        let v = h.value.trim_ascii();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            head.length = Some(
                                std::str::from_utf8(v)
                                    .ok()
                                    .and_then(|v| v.parse().ok())
                                    .ok_or_else(|| invalid("bad Content-Length"))?,
                            );
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            head.chunked = ends_with_ignore_case(v, b"chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            if contains_ignore_case(v, b"close") {
                                head.keep_alive = false;
                            } else if contains_ignore_case(v, b"keep-alive") {
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
    pub(super) async fn read_response(&mut self, head_request: bool) -> io::Result<(Head, u64)> {
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
