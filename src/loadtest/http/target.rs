//! Where and what a load test sends: the URL parsed, checked and the request serialised once
//! per test, so every request is one write of the same bytes.

use super::super::error::LoadTestError;

/// Where and what to send, parsed and serialised once.
#[derive(Debug)]
pub struct HttpTarget {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) request: Vec<u8>,
    /// A HEAD request: its responses have no body, whatever their headers say.
    pub(super) head: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
