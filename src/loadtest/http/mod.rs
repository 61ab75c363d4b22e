//! A small HTTP/1.1 client on tokio for load generation: one keep-alive connection per virtual
//! user, the request bytes built once per test, responses parsed in place with `httparse` and
//! their bodies counted, not kept. Written by hand rather than on hyper because a load generator
//! needs none of hyper's generality (pools, upgrades, HTTP/2, body streams) and every
//! per-request allocation it avoids is throughput; plain `http://` only (no TLS).

mod conn;
mod target;

use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::scheduler::{Executor, Failure, Reply};
use conn::{Conn, Head};
pub use target::HttpTarget;

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
    use crate::loadtest::{run_closed, spawn_run, ClosedPlan, OpenPlan, Plan, Record, RunState};
    use std::future::Future;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

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
                if !read_head(&mut s, &mut buf).await {
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

    /// Reads one request head (up to its blank line) into `buf`; false when the client went away.
    async fn read_head(s: &mut tokio::net::TcpStream, buf: &mut [u8]) -> bool {
        let mut got = 0;
        while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => return false,
                Ok(k) => got += k,
            }
        }
        true
    }

    /// Answers every request with `response`, written `step` bytes at a time with a pause
    /// between writes, so the client sees heads and chunk lines split across reads.
    async fn dribble(listener: TcpListener, response: Vec<u8>, step: usize) {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    if !read_head(&mut s, &mut buf).await {
                        return;
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
            let cfg = ClosedPlan {
                users: 2,
                requests_per_user: requests,
                ramp_up_ms: 0.0,
                test_duration_ms: 20000.0,
                think_time_ms: 0.0,
                timeout_ms: 10000.0,
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

    /// A keep-alive server answering `ok` at once, except that it holds the response to its
    /// `stall_at`-th request (0-based, over all connections) for `stall`.
    async fn stalling(listener: TcpListener, stall_at: u64, stall: Duration) {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    if !read_head(&mut s, &mut buf).await {
                        return;
                    }
                    if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == stall_at {
                        tokio::time::sleep(stall).await;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    /// A server on a runtime of its own (the load test runs on another), and its port.
    fn server_runtime<F: Future<Output = ()> + Send + 'static>(
        serve: impl FnOnce(TcpListener) -> F,
    ) -> (tokio::runtime::Runtime, u16) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(serve(listener));
        (rt, port)
    }

    #[test]
    fn spawn_run_sends_every_request_on_one_thread_or_several() {
        let (_server, port) = server_runtime(|l| stalling(l, u64::MAX, Duration::ZERO));
        let target = Arc::new(
            HttpTarget::new(&format!("http://127.0.0.1:{port}/"), "GET", &[], None).unwrap(),
        );
        for threads in [1, 3] {
            let state = RunState::new(10_000);
            let plan = Plan::Closed(ClosedPlan {
                users: 6,
                requests_per_user: 200,
                ramp_up_ms: 0.0,
                test_duration_ms: 60_000.0,
                think_time_ms: 0.0,
                timeout_ms: 10_000.0,
            });
            let exec = Arc::new(HttpExecutor::new(target.clone()));
            let rx = spawn_run(exec, plan, state.clone(), threads).unwrap();
            let elapsed = rx.blocking_recv().expect("the run reports its end");
            assert!(elapsed > 0.0);
            let m = state.metrics(elapsed, 6);
            assert_eq!(
                (m.total_requests, m.failed_requests),
                (1200, 0),
                "threads {threads}"
            );
            // 2 bytes a response over the run's time, back to bytes (within float rounding).
            let bytes = m.throughput * elapsed / 1000.0;
            assert!(
                (bytes - 2400.0).abs() < 1e-6,
                "threads {threads}: {bytes} bytes"
            );
            let records = state.take_records();
            for user in 1..=6 {
                let seqs = records.iter().filter(|r| r.user == user).count();
                assert_eq!(seqs, 200, "threads {threads}, user {user}");
            }
        }
    }

    #[test]
    fn open_model_latency_of_requests_due_during_a_stall_includes_the_wait() {
        // One connection at 500 arrivals/s; the server holds request 25 (due at 50 ms) for
        // 250 ms. Every arrival due while it is held can only be sent after it, so its latency
        // from its due time covers the rest of the stall; timed from the actual send it would
        // be a fraction of a millisecond.
        let stall = Duration::from_millis(250);
        let (_server, port) = server_runtime(move |l| stalling(l, 25, stall));
        let target = Arc::new(
            HttpTarget::new(&format!("http://127.0.0.1:{port}/"), "GET", &[], None).unwrap(),
        );
        let state = RunState::new(10_000);
        let plan = Plan::Open(OpenPlan {
            rate: 500.0,
            duration_ms: 800.0,
            slots: 1,
            timeout_ms: 10_000.0,
        });
        let rx = spawn_run(Arc::new(HttpExecutor::new(target)), plan, state.clone(), 1).unwrap();
        let elapsed = rx.blocking_recv().unwrap();
        let m = state.metrics(elapsed, 1);
        assert_eq!(m.failed_requests, 0, "{m:?}");
        let records = state.take_records();
        let held = records
            .iter()
            .find(|r| r.seq == 25)
            .expect("the held request ended");
        assert!(held.end_ms - held.start_ms >= 250.0, "{held:?}");
        let during: Vec<_> = records
            .iter()
            .filter(|r| r.start_ms > held.start_ms && r.start_ms < held.end_ms)
            .collect();
        assert!(
            during.len() >= 20,
            "{} arrivals due during the stall",
            during.len()
        );
        for r in &during {
            assert!(
                r.end_ms >= held.end_ms,
                "{r:?} ended before the stall was over"
            );
        }
        // Over 100 arrivals waited >= 100 ms (those due in its first 150 ms), > 10% of all.
        let waited = records
            .iter()
            .filter(|r| r.end_ms - r.start_ms >= 100.0)
            .count();
        assert!(waited >= 50, "{waited}");
        assert!(m.p95_response_time >= 100.0, "{m:?}");
        assert!(m.p999_response_time >= 225.0, "{m:?}");
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
            let cfg = ClosedPlan {
                users: 1,
                requests_per_user: 30,
                ramp_up_ms: 0.0,
                test_duration_ms: 10000.0,
                think_time_ms: 0.0,
                timeout_ms: 5000.0,
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
