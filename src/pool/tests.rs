use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::error::ArgError;

fn config(min: usize, max: usize) -> PoolConfig {
    PoolConfig {
        min_size: min,
        max_size: max,
        acquire_timeout_ms: 1000,
        idle_timeout_ms: 500,
        validate: true,
        grow_after_ms: 0,
    }
}

fn actions(core: &mut PoolCore) -> Vec<Action> {
    core.drain_actions().collect()
}

fn creates(actions: &[Action]) -> Vec<ResourceId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Create(id) => Some(*id),
            _ => None,
        })
        .collect()
}

const MS: u64 = 1000;

#[test]
fn creates_min_size_up_front_and_no_third_on_early_acquire() {
    let mut core = PoolCore::new(config(2, 10), 0).unwrap();
    let made = creates(&actions(&mut core));
    assert_eq!(made.len(), 2);
    // The original made a third resource here: the acquire must wait for the two in flight.
    let w = core.acquire(0);
    assert!(matches!(w, Acquire::Queued(_)));
    assert!(!core.has_actions());
    assert_eq!(core.created(made[0], 5 * MS), Created::Handoff(WaiterId(0)));
    assert_eq!(core.created(made[1], 5 * MS), Created::Idle);
    let s = core.stats();
    assert_eq!((s.total, s.active, s.idle, s.pending), (2, 1, 1, 0));
    assert_eq!(s.avg_wait_ms, 5.0);
    core.check_invariants().unwrap();
}

#[test]
fn bound_holds_under_contention() {
    let mut core = PoolCore::new(config(0, 8), 0).unwrap();
    let outcomes: Vec<_> = (0..64).map(|_| core.acquire(0)).collect();
    assert!(outcomes.iter().all(|o| matches!(o, Acquire::Queued(_))));
    let made = creates(&actions(&mut core));
    assert_eq!(made.len(), 8, "only max_size creations");
    for id in made {
        assert!(matches!(core.created(id, 0), Created::Handoff(_)));
    }
    let s = core.stats();
    assert_eq!((s.total, s.active, s.waiting), (8, 8, 56));
    core.check_invariants().unwrap();
}

#[test]
fn waiters_are_served_first_come_first_served() {
    let mut core = PoolCore::new(config(1, 1), 0).unwrap();
    let id = creates(&actions(&mut core))[0];
    core.created(id, 0);
    assert_eq!(core.acquire(0), Acquire::Ready(id));
    assert!(core.lent(id));
    let queued: Vec<_> = (0..5).map(|t| core.acquire(t)).collect();
    for q in queued {
        let Acquire::Queued(w) = q else { panic!() };
        assert_eq!(core.release(id, 10), Release::Handoff(w));
        assert!(core.lent(id));
    }
    assert_eq!(core.release(id, 10), Release::Idle);
}

#[test]
fn waiters_past_their_deadline_are_rejected_and_leave_the_queue() {
    let mut core = PoolCore::new(config(0, 1), 0).unwrap();
    core.acquire(0);
    actions(&mut core);
    let Acquire::Queued(late) = core.acquire(400 * MS) else {
        panic!()
    };
    assert_eq!(core.next_deadline(), Some(1000 * MS));
    core.expire(999 * MS);
    assert!(!core.has_actions());
    core.expire(1000 * MS);
    assert_eq!(
        actions(&mut core),
        vec![
            Action::Reject(WaiterId(0), RejectReason::Timeout),
            // Its creation, as old, is given up on; the slot is made again for the next waiter.
            Action::GiveUp(ResourceId(0)),
            Action::Create(ResourceId(0)),
        ]
    );
    assert_eq!(core.next_deadline(), Some(1400 * MS));
    assert!(core.cancel(late));
    assert!(!core.cancel(late));
    assert_eq!(core.stats().waiting, 0);
    core.check_invariants().unwrap();
}

#[test]
fn failed_validation_destroys_and_serves_the_same_caller_in_place() {
    let mut core = PoolCore::new(config(2, 2), 0).unwrap();
    let made = creates(&actions(&mut core));
    for &id in &made {
        core.created(id, 0);
    }
    let Acquire::Ready(a) = core.acquire(0) else {
        panic!()
    };
    let Acquire::Ready(b) = core.acquire(0) else {
        panic!()
    };
    let Acquire::Queued(w1) = core.acquire(1) else {
        panic!()
    };
    let Acquire::Queued(w2) = core.acquire(2) else {
        panic!()
    };
    assert!(core.lent(a) && core.lent(b));
    assert_eq!(core.release(a, 3), Release::Handoff(w1));
    // `a` fails validation: w1 must keep its place ahead of w2 and get the replacement.
    assert_eq!(core.reject_borrowed(a, 3), Some(Acquire::Queued(w1)));
    let acts = actions(&mut core);
    assert_eq!(acts[0], Action::Destroy(a));
    let fresh = creates(&acts);
    assert_eq!(fresh.len(), 1);
    assert_eq!(core.created(fresh[0], 4), Created::Handoff(w1));
    assert_eq!(core.release(b, 5), Release::Handoff(w2));
    assert!(core.reject_borrowed(b, 5).is_some());
    assert_eq!(core.reject_borrowed(b, 5), None, "twice changes nothing");
    core.check_invariants().unwrap();
}

#[test]
fn failed_creation_rejects_its_acquire_and_frees_the_slot() {
    let mut core = PoolCore::new(config(0, 1), 0).unwrap();
    let Acquire::Queued(w) = core.acquire(0) else {
        panic!()
    };
    let id = creates(&actions(&mut core))[0];
    assert_eq!(core.create_failed(id, 0), CreateFailed::Reject(w));
    assert_eq!(core.create_failed(id, 0), CreateFailed::Ignored);
    let s = core.stats();
    assert_eq!((s.total, s.pending, s.waiting), (0, 0, 0));
    // The slot is usable again.
    assert!(matches!(core.acquire(1), Acquire::Queued(_)));
    assert_eq!(creates(&actions(&mut core)).len(), 1);
    core.check_invariants().unwrap();
}

#[test]
fn min_size_creation_failure_is_retried_by_maintain_not_at_once() {
    let mut core = PoolCore::new(config(1, 4), 0).unwrap();
    let id = creates(&actions(&mut core))[0];
    assert_eq!(core.create_failed(id, 0), CreateFailed::Nobody);
    assert!(!core.has_actions());
    core.maintain(10);
    assert_eq!(creates(&actions(&mut core)).len(), 1);
}

#[test]
fn idle_resources_above_min_are_reaped_after_idle_timeout_only() {
    let mut core = PoolCore::new(config(1, 4), 0).unwrap();
    for id in creates(&actions(&mut core)) {
        core.created(id, 0);
    }
    let mut held: Vec<ResourceId> = (0..3)
        .filter_map(|_| match core.acquire(0) {
            Acquire::Ready(id) => Some(id),
            _ => None,
        })
        .collect();
    for id in creates(&actions(&mut core)) {
        assert!(matches!(core.created(id, 0), Created::Handoff(_)));
        held.push(id);
    }
    for id in held {
        assert!(core.lent(id));
        assert_eq!(core.release(id, 0), Release::Idle);
    }
    let s = core.stats();
    assert_eq!(s.total, 3, "nothing destroyed on release");
    core.maintain(499 * MS);
    assert!(!core.has_actions());
    core.maintain(500 * MS);
    let destroyed = actions(&mut core)
        .iter()
        .filter(|a| matches!(a, Action::Destroy(_)))
        .count();
    assert_eq!(destroyed, 2);
    assert_eq!(core.stats().total, 1, "min_size kept");
    core.check_invariants().unwrap();
}

#[test]
fn close_rejects_waiters_and_destroys_everything_once() {
    let mut core = PoolCore::new(config(1, 2), 0).unwrap();
    let first = creates(&actions(&mut core))[0];
    core.created(first, 0);
    let Acquire::Ready(a) = core.acquire(0) else {
        panic!()
    };
    assert!(core.lent(a));
    let Acquire::Queued(w1) = core.acquire(0) else {
        panic!()
    };
    let in_flight = creates(&actions(&mut core))[0];
    let Acquire::Queued(w2) = core.acquire(0) else {
        panic!()
    };
    core.close();
    let acts = actions(&mut core);
    assert!(acts.contains(&Action::Reject(w1, RejectReason::Closed)));
    assert!(acts.contains(&Action::Reject(w2, RejectReason::Closed)));
    assert!(acts.contains(&Action::Destroy(a)));
    assert_eq!(acts.len(), 3);
    assert_eq!(core.created(in_flight, 0), Created::Destroy);
    assert_eq!(core.release(a, 0), Release::Ignored);
    assert_eq!(core.acquire(0), Acquire::Closed);
    core.maintain(u64::MAX);
    assert!(!core.has_actions());
    let s = core.stats();
    assert_eq!((s.created, s.destroyed, s.total), (2, 2, 0));
    core.check_invariants().unwrap();
}

#[test]
fn release_of_foreign_or_idle_ids_changes_nothing() {
    let mut core = PoolCore::new(config(1, 1), 0).unwrap();
    let id = creates(&actions(&mut core))[0];
    core.created(id, 0);
    let before = core.stats();
    assert_eq!(core.release(id, 0), Release::Ignored);
    assert_eq!(core.release(ResourceId(77), 0), Release::Ignored);
    assert_eq!(core.stats(), before);
}

#[test]
fn bad_config_is_refused() {
    assert!(matches!(
        PoolCore::new(config(3, 2), 0),
        Err(PoolError::Arg(ArgError::OutOfRange { ref name, .. })) if name == "minSize"
    ));
    assert!(matches!(
        PoolCore::new(config(0, 0), 0),
        Err(PoolError::Arg(ArgError::OutOfRange { ref name, .. })) if name == "maxSize"
    ));
}

/// xorshift64*: a tiny deterministic generator so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A hand-over in progress: the resource in slot `id` (instance `instance`) is being lent to a
/// caller whose validation, if any, completes later, accepting or rejecting.
#[derive(Debug, Clone, Copy)]
struct Hand {
    id: ResourceId,
    instance: u64,
    /// The caller's waiter id when it had queued (callers served at once have none yet).
    waiter: Option<WaiterId>,
}

/// A driver that carries out the core's decisions with random timing and faults, settles
/// validations in any order long after they started, releases resources twice, and checks the
/// core against its own bookkeeping after every step: a resource is lent to at most one holder,
/// and a destroyed resource is never lent.
struct Sim {
    core: PoolCore,
    rng: Rng,
    now: u64,
    /// Slot → the instance living in it.
    live: HashMap<u32, u64>,
    /// Loans in their holders' hands: (slot, instance).
    borrowed: Vec<(ResourceId, u64)>,
    /// Hand-overs whose validation (or delivery) has not completed, by slot.
    hands: HashMap<u32, Hand>,
    pending: Vec<ResourceId>,
    waiting: BTreeSet<WaiterId>,
    /// Slots whose loan ended lately: a former holder may release them again.
    former: Vec<ResourceId>,
    next_instance: u64,
    destroyed: HashMap<u64, u32>,
    callers: u64,
    settled: u64,
    stale_releases: u64,
    revoked: u64,
    given_up: u64,
}

impl Sim {
    fn new(seed: u64, cfg: PoolConfig) -> Self {
        let mut sim = Self {
            core: PoolCore::new(cfg, 0).unwrap(),
            rng: Rng(seed | 1),
            now: 0,
            live: HashMap::new(),
            borrowed: Vec::new(),
            hands: HashMap::new(),
            pending: Vec::new(),
            waiting: BTreeSet::new(),
            former: Vec::new(),
            next_instance: 0,
            destroyed: HashMap::new(),
            callers: 0,
            settled: 0,
            stale_releases: 0,
            revoked: 0,
            given_up: 0,
        };
        sim.drain();
        sim
    }

    fn drain(&mut self) {
        let acts: Vec<_> = self.core.drain_actions().collect();
        for a in acts {
            match a {
                Action::Create(id) => {
                    assert!(!self.live.contains_key(&id.0) && !self.pending.contains(&id));
                    self.pending.push(id);
                }
                Action::Destroy(id) => {
                    let inst = self.live.remove(&id.0).expect("destroy of a live slot");
                    *self.destroyed.entry(inst).or_default() += 1;
                    assert!(
                        !self.hands.contains_key(&id.0),
                        "destroyed while being lent, its caller not turned away"
                    );
                    self.borrowed.retain(|b| b.0 != id);
                }
                Action::Reject(w, _) => {
                    assert!(self.waiting.remove(&w), "reject of a waiting caller");
                    self.settled += 1;
                }
                Action::Revoke(id, _) => {
                    self.hands.remove(&id.0).expect("revoke of a hand-over");
                    self.settled += 1;
                    self.revoked += 1;
                }
                Action::GiveUp(id) => {
                    let at = self.pending.iter().position(|&p| p == id);
                    self.pending
                        .swap_remove(at.expect("give up on a pending creation"));
                    self.given_up += 1;
                }
            }
        }
    }

    /// The core chose slot `id` for a caller: the hand-over starts (validation pending).
    fn hand(&mut self, id: ResourceId, waiter: Option<WaiterId>) {
        let instance = *self.live.get(&id.0).expect("a live resource is lent");
        if let Some(w) = waiter {
            assert!(self.waiting.remove(&w), "handed to a waiting caller");
        }
        let before = self.hands.insert(
            id.0,
            Hand {
                id,
                instance,
                waiter,
            },
        );
        assert!(before.is_none(), "slot lent to two callers at once");
        assert!(
            !self.borrowed.iter().any(|b| b.0 == id),
            "slot lent while held"
        );
    }

    /// The validation of a hand-over completes: accepted, the caller holds the resource;
    /// rejected, the core serves the same caller again.
    fn settle(&mut self, hand: Hand, accept: bool) {
        self.hands.remove(&hand.id.0);
        if accept {
            // A driver may report the verdict and the delivery apart: the deadline stops with
            // the verdict, the hand-over with the delivery.
            if self.rng.chance(50) {
                self.core.validated(hand.id);
                assert!(!self.core.validated(hand.id), "twice changes nothing");
            }
            assert!(self.core.lent(hand.id));
            assert_eq!(
                self.live.get(&hand.id.0),
                Some(&hand.instance),
                "a destroyed resource was lent"
            );
            assert!(
                !self.borrowed.iter().any(|b| b.1 == hand.instance),
                "a resource lent to two holders"
            );
            self.borrowed.push((hand.id, hand.instance));
            self.settled += 1;
            return;
        }
        let again = self
            .core
            .reject_borrowed(hand.id, self.now)
            .expect("was being lent");
        self.drain();
        match again {
            Acquire::Ready(next) => {
                // The same caller, served from the idle set: it keeps its identity.
                self.hand(next, None);
                self.hands.get_mut(&next.0).unwrap().waiter = hand.waiter;
            }
            Acquire::Queued(w) => {
                if let Some(orig) = hand.waiter {
                    assert_eq!(orig, w, "the same caller keeps its id");
                }
                assert!(self.waiting.insert(w));
            }
            Acquire::Closed => unreachable!("not closed during the run"),
        }
    }

    /// A release from someone who does not hold the resource must change nothing.
    fn stale_release(&mut self, id: ResourceId) {
        if self.borrowed.iter().any(|b| b.0 == id) {
            // Lent to a holder now: a release by value cannot tell a former holder from the
            // current one, so it is not a stale release the core could refuse.
            return;
        }
        let before = self.core.stats();
        assert_eq!(self.core.release(id, self.now), Release::Ignored);
        assert_eq!(self.core.stats(), before);
        assert!(!self.core.has_actions());
        self.stale_releases += 1;
    }

    fn random_hand(&mut self) -> Option<Hand> {
        if self.hands.is_empty() {
            return None;
        }
        let mut keys: Vec<_> = self.hands.keys().copied().collect();
        keys.sort_unstable();
        Some(self.hands[&keys[self.rng.below(keys.len())]])
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=24 => {
                let a = self.core.acquire(self.now);
                self.callers += 1;
                match a {
                    Acquire::Ready(id) => {
                        self.drain();
                        self.hand(id, None)
                    }
                    Acquire::Queued(w) => {
                        assert!(self.waiting.insert(w));
                        self.drain();
                    }
                    Acquire::Closed => unreachable!(),
                }
            }
            25..=44 if !self.borrowed.is_empty() => {
                let i = self.rng.below(self.borrowed.len());
                let (id, _) = self.borrowed.swap_remove(i);
                match self.core.release(id, self.now) {
                    Release::Handoff(w) => {
                        assert_eq!(self.waiting.first(), Some(&w), "FIFO");
                        self.hand(id, Some(w));
                    }
                    Release::Idle => assert!(self.waiting.is_empty()),
                    Release::Ignored => panic!("release of a borrowed resource ignored"),
                }
                self.drain();
                self.former.push(id);
                if self.former.len() > 8 {
                    self.former.remove(0);
                }
                // Released again at once: the resource is idle or being handed over.
                if self.rng.chance(25) {
                    self.stale_release(id);
                }
            }
            45..=59 => {
                // A validation (or delivery) completes, long after it started, in any order.
                if let Some(hand) = self.random_hand() {
                    let accept = !self.core.config().validate || !self.rng.chance(20);
                    self.settle(hand, accept);
                }
            }
            60..=61 => {
                // The caller of a hand-over gives up (its signal aborted).
                if let Some(hand) = self.random_hand() {
                    assert!(self.core.abandon(hand.id, self.now));
                    self.hands.remove(&hand.id.0);
                    self.settled += 1;
                    self.drain();
                    assert!(
                        !self.core.abandon(hand.id, self.now),
                        "twice changes nothing"
                    );
                }
            }
            62..=65 if !self.former.is_empty() => {
                let id = self.former[self.rng.below(self.former.len())];
                self.stale_release(id);
            }
            66..=79 if !self.pending.is_empty() => {
                let i = self.rng.below(self.pending.len());
                let id = self.pending.swap_remove(i);
                if self.rng.chance(25) {
                    match self.core.create_failed(id, self.now) {
                        CreateFailed::Reject(w) => {
                            assert!(self.waiting.remove(&w));
                            self.settled += 1;
                        }
                        CreateFailed::Nobody => {}
                        CreateFailed::Ignored => panic!("pending creation ignored"),
                    }
                } else {
                    self.next_instance += 1;
                    self.live.insert(id.0, self.next_instance);
                    match self.core.created(id, self.now) {
                        Created::Handoff(w) => {
                            assert_eq!(self.waiting.first(), Some(&w), "FIFO");
                            self.hand(id, Some(w));
                        }
                        Created::Idle => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                self.drain();
            }
            80..=82 if !self.waiting.is_empty() => {
                let pick = *self
                    .waiting
                    .iter()
                    .nth(self.rng.below(self.waiting.len()))
                    .unwrap();
                assert!(self.core.cancel(pick));
                self.waiting.remove(&pick);
                self.settled += 1;
                self.drain();
            }
            83..=91 => {
                self.now += self.rng.below(300) as u64 * MS;
                self.core.expire(self.now);
                self.drain();
                if let Some(d) = self.core.next_deadline() {
                    assert!(d > self.now, "expire leaves no deadline behind");
                }
            }
            92..=95 => {
                self.core.maintain(self.now);
                self.drain();
            }
            _ => {}
        }
        self.check();
    }

    fn check(&self) {
        self.core.check_invariants().unwrap();
        let s = self.core.stats();
        assert_eq!(s.total, s.idle + s.active);
        assert!(s.total + s.pending <= self.core.config().max_size);
        assert_eq!(s.total, self.live.len());
        assert_eq!(s.active, self.borrowed.len() + self.hands.len());
        assert_eq!(s.waiting, self.waiting.len());
        assert_eq!(s.pending, self.pending.len());
        let mut held: Vec<u64> = self.borrowed.iter().map(|b| b.1).collect();
        held.extend(self.hands.values().map(|h| h.instance));
        held.sort_unstable();
        assert!(
            held.windows(2).all(|w| w[0] != w[1]),
            "a resource lent twice"
        );
        assert!(
            held.iter().all(|i| self.live.values().any(|l| l == i)),
            "a destroyed resource lent"
        );
        assert_eq!(
            self.callers,
            self.settled + self.waiting.len() as u64 + self.hands.len() as u64,
            "every caller waits, is being served, or was settled once"
        );
    }

    fn finish(mut self) {
        self.core.close();
        self.drain();
        assert!(self.waiting.is_empty(), "no waiter left hanging");
        assert!(self.hands.is_empty(), "no hand-over left hanging");
        assert_eq!(
            self.settled, self.callers,
            "every caller settled exactly once"
        );
        assert!(self.live.is_empty());
        for id in std::mem::take(&mut self.pending) {
            if self.rng.chance(50) {
                self.next_instance += 1;
                assert_eq!(self.core.created(id, self.now), Created::Destroy);
                *self.destroyed.entry(self.next_instance).or_default() += 1;
            } else {
                assert_eq!(self.core.create_failed(id, self.now), CreateFailed::Nobody);
            }
        }
        self.check();
        assert_eq!(self.destroyed.len() as u64, self.next_instance);
        assert!(
            self.destroyed.values().all(|&n| n == 1),
            "destroyed exactly once"
        );
        let s = self.core.stats();
        assert_eq!(s.created, s.destroyed);
        assert_eq!(s.created, self.next_instance);
    }
}

#[test]
fn randomized_stress_keeps_every_invariant() {
    let (mut stale, mut revoked, mut given_up) = (0, 0, 0);
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let max = 1 + rng.below(10);
        let cfg = PoolConfig {
            min_size: rng.below(max + 1),
            max_size: max,
            acquire_timeout_ms: if rng.chance(20) { 0 } else { 1000 },
            idle_timeout_ms: rng.below(2000) as u64,
            validate: !rng.chance(20),
            grow_after_ms: if rng.chance(30) {
                rng.below(300) as u64
            } else {
                0
            },
        };
        let mut sim = Sim::new(seed, cfg);
        for _ in 0..2000 {
            sim.step();
        }
        stale += sim.stale_releases;
        revoked += sim.revoked;
        given_up += sim.given_up;
        sim.finish();
    }
    assert!(
        stale > 1000 && revoked > 100 && given_up > 10,
        "the faults happened: {stale} stale releases, {revoked} revoked hand-overs, \
         {given_up} creations given up"
    );
}

/// The core driven the way a Rust driver (a pool of worker processes) drives it: callers on many
/// threads, creations finishing on their own threads in any order, one lock around the core that
/// is never held while waiting for a resource.
mod threaded {
    use std::collections::HashMap;
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::super::*;

    struct State {
        core: PoolCore,
        granted: HashMap<WaiterId, Option<ResourceId>>,
        destroyed: u64,
        creators: Vec<thread::JoinHandle<()>>,
    }

    struct Driver {
        state: Mutex<State>,
        served: Condvar,
        origin: Instant,
    }

    impl Driver {
        fn now(&self) -> u64 {
            self.origin.elapsed().as_micros() as u64
        }

        /// Carries out the core's side effects; called with the lock held, never blocks.
        fn run_actions(self: &Arc<Self>, st: &mut State) {
            let actions: Vec<_> = st.core.drain_actions().collect();
            for a in actions {
                match a {
                    Action::Create(id) => {
                        let me = Arc::clone(self);
                        st.creators.push(thread::spawn(move || {
                            thread::sleep(Duration::from_micros(200 + (id.0 as u64 * 37) % 500));
                            let mut st = me.state.lock().unwrap();
                            // One creation in seven fails.
                            if (id.0 + st.destroyed as u32) % 7 == 3 {
                                if let CreateFailed::Reject(w) = st.core.create_failed(id, me.now())
                                {
                                    st.granted.insert(w, None);
                                }
                            } else if let Created::Handoff(w) = st.core.created(id, me.now()) {
                                st.granted.insert(w, Some(id));
                            } else if st.core.is_closed() {
                                st.destroyed += 1;
                            }
                            me.run_actions(&mut st);
                            me.served.notify_all();
                        }));
                    }
                    Action::Destroy(_) => st.destroyed += 1,
                    // Only `close` revokes here (no validation, no deadline), after every caller
                    // has its answer.
                    Action::Revoke(..) | Action::GiveUp(_) => {}
                    Action::Reject(w, _) => {
                        st.granted.insert(w, None);
                    }
                }
            }
        }

        fn acquire(self: &Arc<Self>) -> Option<ResourceId> {
            let mut st = self.state.lock().unwrap();
            let outcome = st.core.acquire(self.now());
            self.run_actions(&mut st);
            let w = match outcome {
                Acquire::Ready(id) => {
                    assert!(st.core.lent(id));
                    return Some(id);
                }
                Acquire::Closed => return None,
                Acquire::Queued(w) => w,
            };
            loop {
                if let Some(got) = st.granted.remove(&w) {
                    if let Some(id) = got {
                        assert!(st.core.lent(id), "a granted resource is being lent to us");
                    }
                    return got;
                }
                // Waiting releases the lock: creators and releasers can get in.
                st = self.served.wait(st).unwrap();
            }
        }

        fn release(self: &Arc<Self>, id: ResourceId) {
            let mut st = self.state.lock().unwrap();
            if let Release::Handoff(w) = st.core.release(id, self.now()) {
                st.granted.insert(w, Some(id));
            }
            self.run_actions(&mut st);
            self.served.notify_all();
        }
    }

    #[test]
    fn threaded_driver_serves_every_caller_within_the_bound() {
        let driver = Arc::new(Driver {
            state: Mutex::new(State {
                core: PoolCore::new(
                    PoolConfig {
                        min_size: 1,
                        max_size: 4,
                        acquire_timeout_ms: 0,
                        idle_timeout_ms: 1,
                        validate: false,
                        grow_after_ms: 0,
                    },
                    0,
                )
                .unwrap(),
                granted: HashMap::new(),
                destroyed: 0,
                creators: Vec::new(),
            }),
            served: Condvar::new(),
            origin: Instant::now(),
        });
        {
            let mut st = driver.state.lock().unwrap();
            driver.run_actions(&mut st);
        }
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let d = Arc::clone(&driver);
                thread::spawn(move || {
                    let (mut ok, mut failed) = (0, 0);
                    for i in 0..100 {
                        match d.acquire() {
                            Some(id) => {
                                if i % 10 == 0 {
                                    thread::sleep(Duration::from_micros(100));
                                }
                                d.release(id);
                                ok += 1;
                            }
                            None => failed += 1,
                        }
                        if i % 25 == 0 {
                            let mut st = d.state.lock().unwrap();
                            let now = d.now();
                            st.core.maintain(now);
                            d.run_actions(&mut st);
                        }
                        let st = d.state.lock().unwrap();
                        st.core.check_invariants().unwrap();
                    }
                    (ok, failed)
                })
            })
            .collect();
        let (ok, failed) = callers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        assert_eq!(ok + failed, 1600, "every caller got an answer");
        assert!(ok > failed);
        {
            let mut st = driver.state.lock().unwrap();
            st.core.close();
            driver.run_actions(&mut st);
        }
        loop {
            let creators = std::mem::take(&mut driver.state.lock().unwrap().creators);
            if creators.is_empty() {
                break;
            }
            for c in creators {
                c.join().unwrap();
            }
        }
        let st = driver.state.lock().unwrap();
        let s = st.core.stats();
        st.core.check_invariants().unwrap();
        assert_eq!((s.total, s.pending, s.waiting), (0, 0, 0));
        assert_eq!(s.created, s.destroyed);
        assert_eq!(
            st.destroyed, s.destroyed,
            "every created resource destroyed once"
        );
        assert!(s.max_used <= 4);
    }
}

#[test]
fn a_borrowed_resource_that_broke_is_destroyed_and_replaced_for_waiters() {
    let mut core = PoolCore::new(config(1, 1), 0).unwrap();
    let made = creates(&actions(&mut core));
    core.created(made[0], 0);
    let Acquire::Ready(id) = core.acquire(0) else {
        panic!("idle resource expected")
    };
    assert!(core.lent(id));
    let Acquire::Queued(w) = core.acquire(0) else {
        panic!("second caller waits")
    };
    assert!(core.discard_borrowed(id, 0));
    let acts = actions(&mut core);
    assert!(acts.contains(&Action::Destroy(id)));
    // The waiter gets a fresh creation, tagged for it.
    let fresh = creates(&acts);
    assert_eq!(fresh.len(), 1);
    assert_eq!(core.created(fresh[0], 1), Created::Handoff(w));
    core.check_invariants().unwrap();
    let s = core.stats();
    assert_eq!((s.total, s.active, s.destroyed), (1, 1, 1));
}

/// One resource, lent at once and then passed on through two waiters.
fn one_lent_two_waiting() -> (PoolCore, ResourceId, WaiterId, WaiterId) {
    let mut core = PoolCore::new(config(1, 1), 0).unwrap();
    let id = creates(&actions(&mut core))[0];
    core.created(id, 0);
    assert_eq!(core.acquire(0), Acquire::Ready(id));
    assert!(core.lent(id));
    let Acquire::Queued(w1) = core.acquire(MS) else {
        panic!()
    };
    let Acquire::Queued(w2) = core.acquire(2 * MS) else {
        panic!()
    };
    (core, id, w1, w2)
}

#[test]
fn regression_a_release_during_a_hand_over_changes_nothing() {
    let (mut core, id, w1, w2) = one_lent_two_waiting();
    assert_eq!(core.release(id, 3 * MS), Release::Handoff(w1));
    // Being validated for w1, held by nobody: the former holder's second release is refused
    // instead of passing the resource on to w2 as well.
    let before = core.stats();
    assert_eq!(core.release(id, 3 * MS), Release::Ignored);
    assert_eq!(core.stats(), before);
    assert!(!core.has_actions());
    // The validation fails later: w1 is served again, in its place ahead of w2.
    assert_eq!(core.reject_borrowed(id, 4 * MS), Some(Acquire::Queued(w1)));
    let acts = actions(&mut core);
    assert_eq!(acts[0], Action::Destroy(id));
    let fresh = creates(&acts)[0];
    assert_eq!(core.created(fresh, 5 * MS), Created::Handoff(w1));
    assert_eq!(
        core.release(fresh, 5 * MS),
        Release::Ignored,
        "not lent yet"
    );
    assert!(core.lent(fresh));
    assert!(!core.lent(fresh), "twice changes nothing");
    assert_eq!(core.release(fresh, 6 * MS), Release::Handoff(w2));
    core.check_invariants().unwrap();
    let s = core.stats();
    assert_eq!((s.total, s.active, s.waiting, s.max_used), (1, 1, 0, 1));
}

#[test]
fn regression_a_validation_still_running_at_the_deadline_frees_its_slot() {
    let (mut core, id, w1, w2) = one_lent_two_waiting();
    assert_eq!(core.release(id, 3 * MS), Release::Handoff(w1));
    core.expire(1000 * MS);
    assert!(!core.has_actions());
    core.expire(1001 * MS);
    assert_eq!(
        actions(&mut core),
        vec![
            Action::Revoke(id, RejectReason::Timeout),
            Action::Destroy(id),
            // The freed slot is made again for w2.
            Action::Create(id),
        ],
        "w1's deadline passed while its resource was being validated"
    );
    assert!(!core.lent(id), "a late verdict changes nothing");
    assert_eq!(core.reject_borrowed(id, 1001 * MS), None);
    let s = core.stats();
    assert_eq!(
        (s.total, s.active, s.idle, s.waiting, s.pending),
        (0, 0, 0, 1, 1)
    );
    assert_eq!(core.next_deadline(), Some(1002 * MS), "w2's own deadline");
    core.expire(1002 * MS);
    assert!(actions(&mut core).contains(&Action::Reject(w2, RejectReason::Timeout)));
    assert_eq!(
        core.next_deadline(),
        Some(2001 * MS),
        "the creation started for w2 keeps its own deadline"
    );
    core.check_invariants().unwrap();
}

#[test]
fn a_caller_that_gives_up_during_validation_frees_its_slot_for_the_next() {
    let (mut core, id, w1, w2) = one_lent_two_waiting();
    assert_eq!(core.release(id, 3 * MS), Release::Handoff(w1));
    assert!(core.abandon(id, 0));
    assert!(!core.abandon(id, 0));
    let acts = actions(&mut core);
    assert_eq!(acts[0], Action::Destroy(id));
    // The freed slot goes to a creation for w2.
    let fresh = creates(&acts)[0];
    assert_eq!(core.created(fresh, 4 * MS), Created::Handoff(w2));
    core.check_invariants().unwrap();
}

#[test]
fn close_turns_away_callers_whose_resource_is_being_lent() {
    let (mut core, id, w1, w2) = one_lent_two_waiting();
    assert_eq!(core.release(id, 3 * MS), Release::Handoff(w1));
    core.close();
    let acts = actions(&mut core);
    assert!(acts.contains(&Action::Revoke(id, RejectReason::Closed)));
    assert!(acts.contains(&Action::Reject(w2, RejectReason::Closed)));
    assert!(acts.contains(&Action::Destroy(id)));
    assert!(!core.lent(id));
    core.check_invariants().unwrap();
}

#[test]
fn a_creation_older_than_acquire_timeout_is_given_up_and_its_waiter_rejected() {
    let mut core = PoolCore::new(config(0, 2), 0).unwrap();
    let Acquire::Queued(w) = core.acquire(0) else {
        panic!()
    };
    let slow = creates(&actions(&mut core))[0];
    // A creation for min_size has a deadline of its own, from when it started.
    core.maintain(400 * MS);
    assert!(!core.has_actions());
    assert_eq!(core.next_deadline(), Some(1000 * MS));
    // The waiter's deadline and its creation's fall together: the waiter times out first.
    core.expire(1000 * MS);
    assert_eq!(
        actions(&mut core),
        vec![
            Action::Reject(w, RejectReason::Timeout),
            Action::GiveUp(slow)
        ]
    );
    assert_eq!(core.stats().pending, 0);
    assert_eq!(core.next_deadline(), None);
    // The late value is reported against a slot that is not creating any more.
    assert_eq!(core.created(slow, 1200 * MS), Created::Ignored);
    core.check_invariants().unwrap();
}

#[test]
fn a_creation_given_up_frees_its_slot_for_the_waiters_still_queued() {
    let mut core = PoolCore::new(config(0, 1), 0).unwrap();
    let Acquire::Queued(w) = core.acquire(0) else {
        panic!()
    };
    let slow = creates(&actions(&mut core))[0];
    let Acquire::Queued(late) = core.acquire(500 * MS) else {
        panic!()
    };
    assert!(!core.has_actions(), "max_size 1: one creation at a time");
    core.expire(1000 * MS);
    assert_eq!(
        actions(&mut core),
        vec![
            Action::Reject(w, RejectReason::Timeout),
            Action::GiveUp(slow),
            // The freed slot is made again, for `late`, which still has 500 ms.
            Action::Create(slow),
        ]
    );
    assert_eq!(core.next_deadline(), Some(1500 * MS));
    assert_eq!(core.created(slow, 1200 * MS), Created::Handoff(late));
    assert_eq!(core.next_deadline(), None);
    core.check_invariants().unwrap();
}

#[test]
fn without_acquire_timeout_creations_have_no_deadline() {
    let mut core = PoolCore::new(
        PoolConfig {
            acquire_timeout_ms: 0,
            ..config(0, 1)
        },
        0,
    )
    .unwrap();
    core.acquire(0);
    let id = creates(&actions(&mut core))[0];
    assert_eq!(core.next_deadline(), None);
    core.expire(u64::MAX);
    assert!(!core.has_actions());
    assert!(matches!(core.created(id, 5), Created::Handoff(_)));
}

#[test]
fn a_validation_that_passed_no_longer_runs_under_the_deadline() {
    let mut core = PoolCore::new(config(1, 1), 0).unwrap();
    let id = creates(&actions(&mut core))[0];
    core.created(id, 0);
    assert_eq!(core.acquire(0), Acquire::Ready(id));
    assert_eq!(core.next_deadline(), Some(1000 * MS));
    assert!(core.validated(id));
    assert!(!core.validated(id));
    assert_eq!(core.next_deadline(), None);
    core.expire(5000 * MS);
    assert!(!core.has_actions(), "nothing is revoked after the verdict");
    // Still on its way: a release is a former holder's.
    assert_eq!(core.release(id, 5000 * MS), Release::Ignored);
    assert!(core.lent(id));
    assert_eq!(core.release(id, 5000 * MS), Release::Idle);
    core.check_invariants().unwrap();
}

#[test]
fn alerts_follow_the_contract_thresholds() {
    let stats = |total, active, waiting, avg_wait_ms| PoolStats {
        total,
        active,
        idle: total - active,
        waiting,
        pending: 0,
        max_used: active,
        avg_wait_ms,
        created: 0,
        destroyed: 0,
    };
    assert!(
        stats(10, 8, 0, 5000.0).alerts("p").is_empty(),
        "0.8 is not above 0.8"
    );
    let a = stats(1, 1, 2, 6000.4).alerts("busy");
    let kinds: Vec<_> = a.iter().map(|a| (a.kind, a.severity)).collect();
    assert_eq!(
        kinds,
        vec![
            (AlertKind::HighUtilization, Severity::Warning),
            (AlertKind::LongWaitTime, Severity::Warning),
            (AlertKind::PoolExhausted, Severity::Critical),
        ]
    );
    assert_eq!((a[0].value, a[0].threshold), (1.0, HIGH_UTILIZATION));
    assert_eq!(a[0].message, "pool 'busy' is 100% utilized (1 of 1 in use)");
    assert_eq!((a[1].value, a[1].threshold), (6000.4, LONG_WAIT_MS));
    assert_eq!(
        a[1].message,
        "pool 'busy' callers wait 6000 ms on average for a resource"
    );
    assert_eq!((a[2].value, a[2].threshold), (2.0, 0.0));
    assert_eq!(
        a[2].message,
        "pool 'busy' is exhausted: all 1 resources busy and 2 callers waiting"
    );
    assert!(stats(0, 0, 0, 0.0).alerts("empty").is_empty());
}

fn growing(min: usize, max: usize, grow_after_ms: u64) -> PoolConfig {
    PoolConfig {
        grow_after_ms,
        idle_timeout_ms: 30_000,
        acquire_timeout_ms: 10_000,
        ..config(min, max)
    }
}

#[test]
fn a_grow_delay_serves_a_short_queue_with_the_resources_there_are() {
    let mut core = PoolCore::new(growing(1, 4, 1000), 0).unwrap();
    let first = creates(&actions(&mut core));
    assert_eq!(core.created(first[0], 0), Created::Idle);
    assert_eq!(core.acquire(0), Acquire::Ready(first[0]));
    assert!(core.lent(first[0]));
    // Three more callers queue: nothing is made before they have waited a second.
    for _ in 0..3 {
        assert!(matches!(core.acquire(10 * MS), Acquire::Queued(_)));
    }
    assert!(!core.has_actions());
    assert_eq!(core.next_deadline(), Some(1010 * MS));
    core.check_invariants().unwrap();
    // The one worker comes back in time: it serves the head, and no creation was started.
    assert_eq!(
        core.release(first[0], 500 * MS),
        Release::Handoff(WaiterId(1))
    );
    core.expire(999 * MS);
    assert!(!core.has_actions());
    // The other two have now waited long enough: one creation each, up to max_size.
    core.expire(1010 * MS);
    assert_eq!(creates(&actions(&mut core)).len(), 2);
    assert_eq!(core.stats().pending, 2);
    assert_eq!(
        core.next_deadline(),
        Some(10_010 * MS),
        "the waiters' own deadlines"
    );
    core.check_invariants().unwrap();
}

#[test]
fn an_empty_pool_creates_at_once_whatever_the_grow_delay() {
    let mut core = PoolCore::new(growing(0, 2, 60_000), 0).unwrap();
    assert!(matches!(core.acquire(0), Acquire::Queued(_)));
    assert_eq!(
        creates(&actions(&mut core)).len(),
        1,
        "nothing live: made at once"
    );
    assert!(matches!(core.acquire(0), Acquire::Queued(_)));
    assert!(!core.has_actions(), "the second waits for its delay");
    core.check_invariants().unwrap();
}

#[test]
fn the_growth_stops_at_max_size() {
    let mut core = PoolCore::new(growing(1, 2, 100), 0).unwrap();
    let first = creates(&actions(&mut core));
    core.created(first[0], 0);
    core.acquire(0);
    core.lent(first[0]);
    for _ in 0..10 {
        core.acquire(0);
    }
    core.expire(100 * MS);
    assert_eq!(
        creates(&actions(&mut core)).len(),
        1,
        "one more, to max_size 2"
    );
    core.expire(10_000 * MS);
    assert!(creates(&actions(&mut core)).is_empty());
    core.check_invariants().unwrap();
}

#[test]
fn next_reap_names_when_the_oldest_idle_resource_above_min_times_out() {
    let mut core = PoolCore::new(growing(1, 3, 0), 0).unwrap();
    let first = creates(&actions(&mut core));
    core.created(first[0], 0);
    assert_eq!(core.next_reap(), None, "only min_size live");
    core.acquire(0);
    core.lent(first[0]);
    core.acquire(0);
    let second = creates(&actions(&mut core));
    assert!(matches!(
        core.created(second[0], 5 * MS),
        Created::Handoff(_)
    ));
    core.lent(second[0]);
    core.release(second[0], 100 * MS);
    core.release(first[0], 200 * MS);
    // Two idle above a min of one: the older (released at 100 ms) goes 30 s later.
    assert_eq!(core.next_reap(), Some(100 * MS + 30_000 * MS));
    core.maintain(100 * MS + 30_000 * MS);
    assert_eq!(actions(&mut core), vec![Action::Destroy(second[0])]);
    assert_eq!(core.next_reap(), None);
    assert_eq!(core.stats().total, 1);
    core.check_invariants().unwrap();
}
