use std::collections::{BTreeMap, VecDeque};

use super::{PoolConfig, PoolError};

/// A resource slot. Ids are reused after a resource is destroyed, so a driver must forget an
/// id when it destroys the resource (the JS layer drops the value; a Rust driver drops its lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub u32);

/// A caller of `acquire`. Ids grow with every `acquire`, so queue order is id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(pub u64);

/// The answer to `acquire` (and to `reject_borrowed`, which serves the same caller again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// This idle resource is now being lent to the caller: validate it if validating, hand it
    /// over, then report `lent` (or `reject_borrowed`).
    Ready(ResourceId),
    /// Nothing is free: the caller waits under this id until a `Handoff`, a `Reject` action,
    /// or `cancel`.
    Queued(WaiterId),
    /// The pool was closed.
    Closed,
}

/// The answer to `release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The resource went back to the idle set.
    Idle,
    /// The resource is now being lent to the longest-waiting caller (validate it first if
    /// validating, hand it over, then report `lent`).
    Handoff(WaiterId),
    /// The resource was not lent to a holder (released twice, still being handed over,
    /// destroyed meanwhile, or never ours): nothing changed.
    Ignored,
}

/// The answer to `created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Idle,
    /// Give the fresh resource to this waiter (fresh resources need no validation), then report
    /// `lent`.
    Handoff(WaiterId),
    /// The pool closed while the resource was being made: destroy it now.
    Destroy,
    /// The id was not being created (a driver bug): nothing changed.
    Ignored,
}

/// Why a waiter is rejected by a [`Action::Reject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The caller's `acquire_timeout` passed.
    Timeout,
    Closed,
}

/// A side effect the driver must carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Make a resource for this slot, then report `created` or `create_failed`.
    Create(ResourceId),
    /// Destroy the resource in this slot and forget the id (the slot is already free).
    Destroy(ResourceId),
    /// Settle this waiter with an error.
    Reject(WaiterId, RejectReason),
    /// The caller this resource was being lent to is turned away (settle it with an error and
    /// forget the hand-over); a `Destroy` of the resource follows.
    Revoke(ResourceId, RejectReason),
    /// The creation in this slot took longer than `acquire_timeout`: it is given up on and the
    /// slot is free again (the id may be reused at once). Forget the creation and destroy its
    /// value if it ever arrives.
    GiveUp(ResourceId),
}

/// The answer to `create_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFailed {
    /// This waiter asked for the creation and is still waiting: reject it with the create error.
    Reject(WaiterId),
    /// Nobody is owed the failure (the creation kept `min_size`, or its waiter was served).
    Nobody,
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    /// Live resources: `idle + active`.
    pub total: usize,
    pub active: usize,
    pub idle: usize,
    pub waiting: usize,
    /// Creations in flight (they count against `max_size` but are not live yet).
    pub pending: usize,
    /// The most resources ever borrowed at once.
    pub max_used: usize,
    /// Mean time from `acquire` to getting a resource, over every successful acquire, in ms.
    pub avg_wait_ms: f64,
    pub created: u64,
    pub destroyed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    id: WaiterId,
    enqueued: u64,
    deadline: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Free,
    /// `tag`: the waiter whose acquire this creation is for, rejected if it fails. `attempt`
    /// tells this creation from an earlier one in the same slot (see `creations`).
    Creating {
        tag: Option<WaiterId>,
        attempt: u64,
    },
    Idle {
        since: u64,
    },
    /// Being lent to `by`, who does not hold it yet: the driver is validating it (`vetting`,
    /// until `validated`) or handing it over. Nobody holds it, so no `release` can end this stage; `lent`,
    /// `reject_borrowed`, `abandon`, `unlend`, the caller's deadline (while vetting) and `close`
    /// do. `waited` lets a failed validation take the caller's wait out of the statistics.
    Lending {
        by: Waiter,
        waited: u64,
        vetting: bool,
    },
    /// In its holder's hands: `release` (or `discard_borrowed`) ends the loan.
    Lent,
}

/// The pool's state machine. See the module docs for how to drive it.
#[derive(Debug)]
pub struct PoolCore {
    config: PoolConfig,
    acquire_timeout_us: Option<u64>,
    idle_timeout_us: u64,
    grow_after_us: u64,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Idle resources, oldest first: borrowed from the back (the warmest), reaped from the front.
    idle: VecDeque<u32>,
    /// Waiters in arrival order; ids strictly increase front to back.
    waiters: VecDeque<Waiter>,
    /// Loans being validated under a deadline, by caller: ids grow with arrival and every caller
    /// has the same timeout, so the first entry has the earliest deadline.
    vetting: BTreeMap<WaiterId, u32>,
    /// Creations under a deadline as `(deadline, slot, attempt)`, oldest first: every creation
    /// has the same timeout and time only grows, so deadlines grow front to back. Entries of
    /// creations that ended are skipped when they reach the front.
    creations: VecDeque<(u64, u32, u64)>,
    next_attempt: u64,
    active: usize,
    creating: usize,
    next_waiter: u64,
    actions: Vec<Action>,
    closed: bool,
    max_used: usize,
    served: u64,
    wait_total_us: u64,
    created_count: u64,
    destroyed_count: u64,
}

impl PoolCore {
    /// A pool that starts creating `min_size` resources at once (drain the actions).
    pub fn new(config: PoolConfig, now: u64) -> Result<Self, PoolError> {
        config.check()?;
        let mut core = Self {
            acquire_timeout_us: (config.acquire_timeout_ms > 0)
                .then(|| config.acquire_timeout_ms.saturating_mul(1000)),
            idle_timeout_us: config.idle_timeout_ms.saturating_mul(1000),
            grow_after_us: config.grow_after_ms.saturating_mul(1000),
            slots: Vec::with_capacity(config.max_size.min(1024)),
            free: Vec::new(),
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            vetting: BTreeMap::new(),
            creations: VecDeque::new(),
            next_attempt: 0,
            active: 0,
            creating: 0,
            next_waiter: 0,
            actions: Vec::new(),
            closed: false,
            max_used: 0,
            served: 0,
            wait_total_us: 0,
            created_count: 0,
            destroyed_count: 0,
            config,
        };
        core.top_up(now);
        Ok(core)
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn live(&self) -> usize {
        self.idle.len() + self.active
    }

    /// Borrow a resource, or queue the caller.
    pub fn acquire(&mut self, now: u64) -> Acquire {
        if self.closed {
            return Acquire::Closed;
        }
        let me = Waiter {
            id: WaiterId(self.next_waiter),
            enqueued: now,
            deadline: self.acquire_timeout_us.map(|t| now.saturating_add(t)),
        };
        self.next_waiter += 1;
        if let Some(index) = self.idle.pop_back() {
            self.lend(index, me, now, true);
            return Acquire::Ready(ResourceId(index));
        }
        self.waiters.push_back(me);
        self.fill(now);
        Acquire::Queued(me.id)
    }

    /// The holder gives a resource back. Only a loan that reached its holder (`lent`) can be
    /// released: a resource still being handed over is held by nobody, so a release of it comes
    /// from a former holder and is `Ignored`, like one of an idle, freed or unknown id.
    pub fn release(&mut self, id: ResourceId, now: u64) -> Release {
        match self.slots.get(id.0 as usize) {
            Some(Slot::Lent) => self.reuse(id.0, now),
            _ => Release::Ignored,
        }
    }

    /// A hand-over that could not be delivered (its caller is gone): the resource goes to the
    /// next waiter, or back to idle, as a release would. `Ignored` if `id` was not being lent.
    pub fn unlend(&mut self, id: ResourceId, now: u64) -> Release {
        match self.slots.get(id.0 as usize) {
            Some(Slot::Lending { .. }) => {
                self.end_lending(id.0);
                self.reuse(id.0, now)
            }
            _ => Release::Ignored,
        }
    }

    /// The resource being lent reached its caller (it passed validation, if validating): from
    /// now on the holder can `release` it. False if `id` was not being lent.
    ///
    /// A driver may report this late, as long as it does so before the holder's `release` (the
    /// JS driver reports it in the same crossing as the release): until then a release of the
    /// resource is `Ignored`, which is right only while the caller has not received it.
    pub fn lent(&mut self, id: ResourceId) -> bool {
        let index = id.0;
        if !matches!(self.slots.get(index as usize), Some(Slot::Lending { .. })) {
            return false;
        }
        self.end_lending(index);
        self.slots[index as usize] = Slot::Lent;
        true
    }

    /// The resource being lent passed validation: its caller's deadline no longer applies, and
    /// the driver hands it over (then reports `lent`). False if `id` was not being validated.
    pub fn validated(&mut self, id: ResourceId) -> bool {
        let index = id.0;
        match self.slots.get_mut(index as usize) {
            Some(Slot::Lending { by, vetting, .. }) if *vetting => {
                *vetting = false;
                let by = by.id;
                self.vetting.remove(&by);
                true
            }
            _ => false,
        }
    }

    /// The caller gave up while its resource was being validated (its signal aborted): the
    /// resource, whose validation is still running, is destroyed (a `Destroy` action) and its
    /// slot freed. False if `id` was not being lent.
    pub fn abandon(&mut self, id: ResourceId, now: u64) -> bool {
        let index = id.0;
        if !matches!(self.slots.get(index as usize), Some(Slot::Lending { .. })) {
            return false;
        }
        self.end_lending(index);
        self.active -= 1;
        self.discard(index);
        self.fill(now);
        true
    }

    /// A resource being lent failed validation: destroy it (a `Destroy` action) and serve the
    /// caller it was meant for again, in its original place in the queue. `None` if `id` was
    /// not being lent.
    pub fn reject_borrowed(&mut self, id: ResourceId, now: u64) -> Option<Acquire> {
        let index = id.0;
        let (by, waited) = match self.slots.get(index as usize) {
            Some(Slot::Lending { by, waited, .. }) => (*by, *waited),
            _ => return None,
        };
        self.end_lending(index);
        self.active -= 1;
        self.served -= 1;
        self.wait_total_us -= waited;
        self.discard(index);
        if self.closed {
            return Some(Acquire::Closed);
        }
        if let Some(next) = self.idle.pop_back() {
            self.lend(next, by, now, true);
            return Some(Acquire::Ready(ResourceId(next)));
        }
        let at = self.waiters.partition_point(|w| w.id < by.id);
        self.waiters.insert(at, by);
        self.fill(now);
        Some(Acquire::Queued(by.id))
    }

    /// A borrowed resource broke while in use (or while being handed over): destroy it (a
    /// `Destroy` action) without serving its borrower again. Waiters that need a resource, and
    /// `min_size`, get creations. False if `id` was not borrowed.
    pub fn discard_borrowed(&mut self, id: ResourceId, now: u64) -> bool {
        let index = id.0;
        match self.slots.get(index as usize) {
            Some(Slot::Lent) => {}
            Some(Slot::Lending { .. }) => self.end_lending(index),
            _ => return false,
        }
        self.active -= 1;
        self.discard(index);
        self.fill(now);
        self.top_up(now);
        true
    }

    /// A `Create` action succeeded.
    pub fn created(&mut self, id: ResourceId, now: u64) -> Created {
        let index = id.0;
        match self.slots.get(index as usize) {
            Some(Slot::Creating { .. }) => {}
            _ => return Created::Ignored,
        }
        self.creating -= 1;
        self.created_count += 1;
        if self.closed {
            self.release_slot(index);
            self.destroyed_count += 1;
            return Created::Destroy;
        }
        if let Some(w) = self.waiters.pop_front() {
            self.lend(index, w, now, false);
            Created::Handoff(w.id)
        } else {
            self.slots[index as usize] = Slot::Idle { since: now };
            self.idle.push_back(index);
            Created::Idle
        }
    }

    /// A `Create` action failed (or the driver gave up on it): the slot is free again. Other
    /// waiters that still need a creation get one; `min_size` is restored by `maintain` only, so
    /// a factory that always fails does not spin.
    pub fn create_failed(&mut self, id: ResourceId, now: u64) -> CreateFailed {
        let index = id.0;
        let owed = match self.slots.get(index as usize) {
            Some(Slot::Creating { .. }) => self.end_creation(index),
            _ => return CreateFailed::Ignored,
        };
        let owed = owed.and_then(|t| self.remove_waiter(t));
        self.fill(now);
        match owed {
            Some(w) => CreateFailed::Reject(w.id),
            None => CreateFailed::Nobody,
        }
    }

    /// Frees the slot of a creation that will not deliver; returns the waiter it was for.
    fn end_creation(&mut self, index: u32) -> Option<WaiterId> {
        let Slot::Creating { tag, .. } = self.slots[index as usize] else {
            unreachable!("only a creating slot ends a creation")
        };
        self.creating -= 1;
        self.release_slot(index);
        tag
    }

    /// Takes a waiter out of the queue (its caller gave up). False if it was not waiting.
    pub fn cancel(&mut self, waiter: WaiterId) -> bool {
        self.remove_waiter(waiter).is_some()
    }

    /// Rejects (as `Reject(_, Timeout)` actions) every waiter whose deadline has passed, turns
    /// away every caller whose resource is still being validated at its deadline
    /// (`Revoke(_, Timeout)`, then `Destroy`: validation runs inside the acquire's deadline, and
    /// a validation that never settles must not hold a slot), and gives up on every creation
    /// older than `acquire_timeout` (`GiveUp`: a hanging factory must not hold a slot forever).
    /// A creation starts no earlier than the acquire it is for, so its waiter has timed out by
    /// then; waiters still queued get creations in the freed slots.
    pub fn expire(&mut self, now: u64) {
        while let Some(w) = self.waiters.front() {
            match w.deadline {
                Some(d) if d <= now => {
                    let id = w.id;
                    self.waiters.pop_front();
                    self.actions.push(Action::Reject(id, RejectReason::Timeout));
                }
                _ => break,
            }
        }
        while let Some((_, &index)) = self.vetting.first_key_value() {
            if self.lending_deadline(index).is_some_and(|d| d > now) {
                break;
            }
            self.vetting.pop_first();
            self.actions
                .push(Action::Revoke(ResourceId(index), RejectReason::Timeout));
            self.active -= 1;
            self.discard(index);
        }
        while let Some(index) = self.next_creation_due(now) {
            self.creations.pop_front();
            self.actions.push(Action::GiveUp(ResourceId(index)));
            self.end_creation(index);
        }
        // Freed slots, and waiters whose grow delay has passed, get creations.
        self.fill(now);
    }

    /// The slot of the oldest creation still in flight if its deadline is `now` or earlier
    /// (its entry is at the front of `creations`; ended ones before it are dropped).
    fn next_creation_due(&mut self, now: u64) -> Option<u32> {
        let deadline = self.next_creation_deadline()?;
        (deadline <= now).then(|| self.creations[0].1)
    }

    /// The deadline of the oldest creation still in flight, dropping ended ones from the front.
    fn next_creation_deadline(&mut self) -> Option<u64> {
        while let Some(&(deadline, index, attempt)) = self.creations.front() {
            match self.slots[index as usize] {
                Slot::Creating { attempt: a, .. } if a == attempt => return Some(deadline),
                _ => {
                    self.creations.pop_front();
                }
            }
        }
        None
    }

    /// The earliest deadline of a waiter, of a caller whose resource is being validated, or of
    /// a creation: when the driver should next call `expire`.
    pub fn next_deadline(&mut self) -> Option<u64> {
        // Deadlines grow with arrival order (one timeout for all), so each head's is the earliest.
        let waiting = self.waiters.front().and_then(|w| w.deadline);
        let vetting = self
            .vetting
            .first_key_value()
            .and_then(|(_, &index)| self.lending_deadline(index));
        let creating = self.next_creation_deadline();
        [waiting, vetting, creating, self.next_growth()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the first waiter without a creation has waited `grow_after` and one may be made
    /// for it (there is room): `fill` then starts it.
    fn next_growth(&self) -> Option<u64> {
        if self.grow_after_us == 0 || self.live() + self.creating >= self.config.max_size {
            return None;
        }
        let w = self.waiters.get(self.creating)?;
        Some(w.enqueued.saturating_add(self.grow_after_us))
    }

    /// When `maintain` next has an idle resource to reap (the oldest idle one reaches
    /// `idle_timeout` while the pool holds more than `min_size`), for a driver that reaps on
    /// time rather than on a fixed interval.
    pub fn next_reap(&self) -> Option<u64> {
        if self.closed || self.live() <= self.config.min_size {
            return None;
        }
        let &index = self.idle.front()?;
        let Slot::Idle { since } = self.slots[index as usize] else {
            unreachable!("idle list holds only idle slots")
        };
        Some(since.saturating_add(self.idle_timeout_us))
    }

    fn lending_deadline(&self, index: u32) -> Option<u64> {
        match self.slots[index as usize] {
            Slot::Lending { by, .. } => by.deadline,
            _ => unreachable!("the vetting map holds only slots being lent"),
        }
    }

    /// Destroys idle resources above `min_size` idle for `idle_timeout` or longer, and starts
    /// creations up to `min_size`.
    pub fn maintain(&mut self, now: u64) {
        if self.closed {
            return;
        }
        while self.live() > self.config.min_size {
            let Some(&index) = self.idle.front() else {
                break;
            };
            let Slot::Idle { since } = self.slots[index as usize] else {
                unreachable!("idle list holds only idle slots")
            };
            if now.saturating_sub(since) < self.idle_timeout_us {
                break;
            }
            self.idle.pop_front();
            self.discard(index);
        }
        self.top_up(now);
    }

    /// Closes the pool: every waiter is rejected and every live resource destroyed (actions);
    /// creations still in flight are destroyed when they report `created`.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for w in std::mem::take(&mut self.waiters) {
            self.actions
                .push(Action::Reject(w.id, RejectReason::Closed));
        }
        while let Some(index) = self.idle.pop_front() {
            self.discard(index);
        }
        for index in 0..self.slots.len() as u32 {
            match self.slots[index as usize] {
                Slot::Lending { .. } => {
                    self.actions
                        .push(Action::Revoke(ResourceId(index), RejectReason::Closed));
                    self.discard(index);
                }
                Slot::Lent => self.discard(index),
                _ => {}
            }
        }
        self.vetting.clear();
        self.creations.clear();
        self.active = 0;
    }

    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The pending side effects, in the order they were decided.
    pub fn drain_actions(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            total: self.live(),
            active: self.active,
            idle: self.idle.len(),
            waiting: self.waiters.len(),
            pending: self.creating,
            max_used: self.max_used,
            avg_wait_ms: if self.served == 0 {
                0.0
            } else {
                self.wait_total_us as f64 / self.served as f64 / 1000.0
            },
            created: self.created_count,
            destroyed: self.destroyed_count,
        }
    }

    /// Starts lending slot `index` to `by`; `used` resources are validated if validating.
    fn lend(&mut self, index: u32, by: Waiter, now: u64, used: bool) {
        let waited = now.saturating_sub(by.enqueued);
        let vetting = used && self.config.validate;
        self.slots[index as usize] = Slot::Lending {
            by,
            waited,
            vetting,
        };
        if vetting && by.deadline.is_some() {
            self.vetting.insert(by.id, index);
        }
        self.active += 1;
        self.max_used = self.max_used.max(self.active);
        self.served += 1;
        self.wait_total_us += waited;
    }

    fn end_lending(&mut self, index: u32) {
        if let Slot::Lending {
            by, vetting: true, ..
        } = self.slots[index as usize]
        {
            self.vetting.remove(&by.id);
        }
    }

    /// A resource whose loan ended (released, or never delivered) goes to the longest waiter,
    /// or back to idle.
    fn reuse(&mut self, index: u32, now: u64) -> Release {
        self.active -= 1;
        if let Some(w) = self.waiters.pop_front() {
            self.lend(index, w, now, true);
            Release::Handoff(w.id)
        } else {
            self.slots[index as usize] = Slot::Idle { since: now };
            self.idle.push_back(index);
            Release::Idle
        }
    }

    /// Frees a live slot and asks the driver to destroy its resource.
    fn discard(&mut self, index: u32) {
        self.release_slot(index);
        self.destroyed_count += 1;
        self.actions.push(Action::Destroy(ResourceId(index)));
    }

    fn release_slot(&mut self, index: u32) {
        self.slots[index as usize] = Slot::Free;
        self.free.push(index);
    }

    fn take_slot(&mut self, slot: Slot) -> u32 {
        if let Some(index) = self.free.pop() {
            self.slots[index as usize] = slot;
            index
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        }
    }

    fn start_create(&mut self, tag: Option<WaiterId>, now: u64) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let index = self.take_slot(Slot::Creating { tag, attempt });
        if let Some(t) = self.acquire_timeout_us {
            self.creations
                .push_back((now.saturating_add(t), index, attempt));
        }
        self.creating += 1;
        self.actions.push(Action::Create(ResourceId(index)));
    }

    /// Starts a creation for every waiter not yet covered by one, as room allows, once it has
    /// waited `grow_after` (at once when the pool has nothing live or coming).
    fn fill(&mut self, now: u64) {
        while !self.closed
            && self.waiters.len() > self.creating
            && self.live() + self.creating < self.config.max_size
        {
            // Creations serve waiters in order, so the first uncovered waiter is this one.
            let w = self.waiters[self.creating];
            let empty = self.live() + self.creating == 0;
            if !empty && now.saturating_sub(w.enqueued) < self.grow_after_us {
                break;
            }
            self.start_create(Some(w.id), now);
        }
    }

    fn top_up(&mut self, now: u64) {
        while !self.closed && self.live() + self.creating < self.config.min_size {
            self.start_create(None, now);
        }
    }

    fn remove_waiter(&mut self, id: WaiterId) -> Option<Waiter> {
        let at = self.waiters.binary_search_by_key(&id, |w| w.id).ok()?;
        self.waiters.remove(at)
    }

    /// Checks every internal invariant; for tests and debugging. Returns what is wrong.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = [0usize; 4];
        let mut vetting = 0;
        for (index, slot) in self.slots.iter().enumerate() {
            let k = match slot {
                Slot::Free => 0,
                Slot::Creating { .. } => 1,
                Slot::Idle { .. } => 2,
                Slot::Lending {
                    by, vetting: true, ..
                } if by.deadline.is_some() => {
                    if self.vetting.get(&by.id) != Some(&(index as u32)) {
                        return Err(format!(
                            "slot {index} being validated is not timed: {self:?}"
                        ));
                    }
                    vetting += 1;
                    3
                }
                Slot::Lending { .. } | Slot::Lent => 3,
            };
            counts[k] += 1;
        }
        if vetting != self.vetting.len() {
            return Err(format!("the vetting map holds stale loans: {self:?}"));
        }
        let [free, creating, idle, active] = counts;
        let fail = |what: &str| Err(format!("{what}: {self:?}"));
        if free != self.free.len() || creating != self.creating {
            return fail("free/creating counts drifted");
        }
        if idle != self.idle.len() || active != self.active {
            return fail("idle/active counts drifted");
        }
        if self.live() + self.creating > self.config.max_size {
            return fail("more than max_size resources");
        }
        if !self.idle.is_empty() && !self.waiters.is_empty() {
            return fail("a waiter waits while a resource is idle");
        }
        if self
            .waiters
            .iter()
            .zip(self.waiters.iter().skip(1))
            .any(|(a, b)| a.id >= b.id)
        {
            return fail("waiters out of arrival order");
        }
        if self
            .idle
            .iter()
            .any(|&i| !matches!(self.slots[i as usize], Slot::Idle { .. }))
        {
            return fail("idle list holds a non-idle slot");
        }
        if self.closed && (self.live() > 0 || !self.waiters.is_empty()) {
            return fail("closed pool still holds resources or waiters");
        }
        // With a grow delay, an uncovered waiter may wait for its delay (not when nothing
        // live or coming could serve it).
        if !self.closed
            && self.waiters.len() > self.creating
            && self.live() + self.creating < self.config.max_size
            && (self.grow_after_us == 0 || self.live() + self.creating == 0)
        {
            return fail("a waiter waits with room and no creation for it");
        }
        Ok(())
    }
}
