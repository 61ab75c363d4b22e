//! The scenario table (`scenarios.json`) through the tokio scheduler; `__test__/loadtest.spec.mjs`
//! runs the same table through the JS loop, so the two schedulers give the same counts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::plan::{ClosedPlan, OpenPlan, Plan};
use super::scheduler::{run_closed, run_open, Executor, Failure, Reply, RunState};

#[derive(Deserialize)]
struct Table {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scenario {
    name: String,
    config: Config,
    arrival_rate: Option<ArrivalRate>,
    latency: Option<u64>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    concurrent_users: u32,
    requests_per_user: u64,
    ramp_up_time: f64,
    test_duration: f64,
    think_time: f64,
    timeout: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArrivalRate {
    rate: f64,
    duration: f64,
    max_in_flight: u32,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Expect {
    sent: u64,
    failed: u64,
    dropped: u64,
    users_started: u32,
    cut_off: f64,
}

impl Scenario {
    fn plan(&self) -> Plan {
        let c = &self.config;
        match &self.arrival_rate {
            None => Plan::Closed(ClosedPlan {
                users: c.concurrent_users,
                requests_per_user: c.requests_per_user,
                ramp_up_ms: c.ramp_up_time,
                test_duration_ms: c.test_duration,
                think_time_ms: c.think_time,
                timeout_ms: c.timeout,
            }),
            Some(a) => Plan::Open(OpenPlan {
                rate: a.rate,
                duration_ms: a.duration,
                slots: a.max_in_flight,
                timeout_ms: c.timeout,
            }),
        }
    }
}

/// Every request takes `latency` (or never answers); counts the users (slots) made.
struct Fixed {
    latency: Option<Duration>,
    made: AtomicU32,
}

impl Executor for Fixed {
    type State = ();
    fn state(&self, _user: u32) {
        self.made.fetch_add(1, Ordering::SeqCst);
    }
    async fn execute(&self, _: &mut ()) -> Result<Reply, Failure> {
        match self.latency {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
        Ok(Reply::default())
    }
}

#[test]
fn both_schedulers_give_the_table_s_counts() {
    let table: Table = serde_json::from_str(include_str!("scenarios.json")).unwrap();
    assert!(table.scenarios.len() >= 5);
    for s in table.scenarios {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let exec = Arc::new(Fixed {
            latency: s.latency.map(Duration::from_millis),
            made: AtomicU32::new(0),
        });
        let state = RunState::new(usize::MAX);
        let plan = s.plan();
        rt.block_on(async {
            match plan.clone() {
                Plan::Closed(c) => run_closed(exec.clone(), c, state.clone()).await,
                Plan::Open(o) => run_open(exec.clone(), o, state.clone()).await,
            }
        });
        let m = state.metrics(1.0, 1);
        let got = Expect {
            sent: m.total_requests,
            failed: m.failed_requests,
            dropped: state.dropped(),
            users_started: exec.made.load(Ordering::SeqCst),
            cut_off: plan.cut_off_ms(),
        };
        assert_eq!(got, s.expect, "{}", s.name);
        let records = state.take_records();
        assert!(
            records.iter().all(|r| r.start_ms < plan.cut_off_ms()),
            "{}: a request started after the cut-off",
            s.name
        );
    }
}
