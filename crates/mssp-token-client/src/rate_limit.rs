//! A global request rate limit shared by every task (`onboard --max-rps`), and the moment a task's
//! first request passed it ([`FirstPass`]), from which a per-tenant deadline counts.
//!
//! Waiters queue in two classes, each in arrival order: requests of tasks that already made
//! their first request go before first requests (a started tenant finishes before new ones
//! start, so its deadline measures its own work, not the queue). A slot is taken only when the
//! wait ends: a wait that is cancelled (a deadline, an interrupted run) leaves the queue without
//! taking one, so the next waiter gets it and cancelled waits never eat into the rate.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The queue and the last slot taken.
#[derive(Debug, Default)]
struct Queue {
    last: Option<Instant>,
    next_ticket: u64,
    /// Tickets of tasks that already made a request.
    started: BTreeSet<u64>,
    /// Tickets of first requests.
    first: BTreeSet<u64>,
}

impl Queue {
    fn front(&self) -> Option<u64> {
        self.started.first().or_else(|| self.first.first()).copied()
    }

    fn remove(&mut self, ticket: u64) {
        self.started.remove(&ticket);
        self.first.remove(&ticket);
    }
}

/// The shared part.
#[derive(Debug)]
struct Slots {
    interval: Duration,
    queue: Mutex<Queue>,
    changed: tokio::sync::Notify,
}

impl Slots {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The lock is never held across a panic-prone call; recover the data if it was.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A place in the queue; leaving it (a cancelled wait) wakes the others.
struct Ticket<'a> {
    slots: &'a Slots,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.slots.queue().remove(self.id);
        self.slots.changed.notify_waiters();
    }
}

/// At most N requests per second across every task that shares it. A clone made with
/// [`RateLimiter::observed_by`] shares the same slots and also marks a [`FirstPass`].
#[derive(Debug, Clone)]
pub struct RateLimiter {
    slots: Arc<Slots>,
    observer: Option<Arc<FirstPass>>,
}

impl RateLimiter {
    pub fn per_second(rps: u32) -> RateLimiter {
        RateLimiter {
            slots: Arc::new(Slots {
                interval: Duration::from_secs_f64(1.0 / f64::from(rps.max(1))),
                queue: Mutex::new(Queue::default()),
                changed: tokio::sync::Notify::new(),
            }),
            observer: None,
        }
    }

    /// The same limit (the slots are shared), noting in `pass` when a wait first lets a
    /// request go; once it has, this task's requests queue ahead of first requests.
    pub fn observed_by(&self, pass: Arc<FirstPass>) -> RateLimiter {
        RateLimiter {
            slots: self.slots.clone(),
            observer: Some(pass),
        }
    }

    /// Waits for the next free slot and takes it. Cancel-safe: a wait dropped before it
    /// returns takes no slot.
    pub async fn wait(&self) {
        let slots = &*self.slots;
        let started = self.observer.as_ref().is_some_and(|o| o.at().is_some());
        let ticket = {
            let mut q = slots.queue();
            let id = q.next_ticket;
            q.next_ticket += 1;
            if started {
                q.started.insert(id);
            } else {
                q.first.insert(id);
            }
            Ticket { slots, id }
        };
        // A started task may now be ahead of the one sleeping at the front.
        slots.changed.notify_waiters();
        loop {
            let changed = slots.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let slot = {
                let q = slots.queue();
                (q.front() == Some(ticket.id)).then(|| match q.last {
                    Some(last) => (last + slots.interval).max(Instant::now()),
                    None => Instant::now(),
                })
            };
            let Some(slot) = slot else {
                changed.await;
                continue;
            };
            tokio::select! {
                () = tokio::time::sleep_until(slot) => {}
                // Someone queued ahead (a started task) or left: look again.
                () = &mut changed => continue,
            }
            let mut q = slots.queue();
            if q.front() == Some(ticket.id) {
                q.last = Some(slot);
                break;
            }
        }
        drop(ticket);
        if let Some(p) = &self.observer {
            p.mark();
        }
    }
}

/// When a task's first request went out (after the rate limiter let it go): the start of its
/// deadline. Marked once; later marks keep the first instant.
#[derive(Debug, Default)]
pub struct FirstPass {
    at: OnceLock<Instant>,
    notify: tokio::sync::Notify,
}

impl FirstPass {
    pub fn new() -> Arc<FirstPass> {
        Arc::new(FirstPass::default())
    }

    /// Notes that a request went out now (only the first call counts).
    pub fn mark(&self) {
        if self.at.set(Instant::now()).is_ok() {
            self.notify.notify_waiters();
        }
    }

    /// When the first request went out, if it did.
    pub fn at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    /// Resolves at the first request (at once when it already went out).
    pub async fn passed(&self) -> Instant {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.at() {
                return at;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_interval() {
        let l = RateLimiter::per_second(10);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.wait().await;
        }
        assert_eq!(Instant::now() - t0, Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_gives_its_slot_back() {
        let l = RateLimiter::per_second(1);
        l.wait().await; // slot 0 taken
        let t0 = Instant::now();
        // Ten waiters give up before their slot comes.
        for _ in 0..10 {
            let cancelled = tokio::time::timeout(Duration::from_millis(50), l.wait()).await;
            assert!(cancelled.is_err());
        }
        // The next one still gets the slot right after slot 0, not eleven seconds later.
        l.wait().await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_task_goes_before_first_requests() {
        let l = RateLimiter::per_second(1);
        let started = FirstPass::new();
        let a = l.observed_by(started.clone());
        a.wait().await; // a's first request: slot 0
        let t0 = Instant::now();
        // Five other tasks queue their first requests, then `a` its second one.
        let mut others = Vec::new();
        for _ in 0..5 {
            let o = l.observed_by(FirstPass::new());
            others.push(tokio::spawn(async move {
                o.wait().await;
                Instant::now()
            }));
        }
        tokio::task::yield_now().await;
        a.wait().await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(1), "next slot");
        let mut ends = Vec::new();
        for o in others {
            ends.push(o.await.unwrap() - t0);
        }
        ends.sort();
        assert_eq!(ends.first(), Some(&Duration::from_secs(2)));
        assert_eq!(ends.last(), Some(&Duration::from_secs(6)));
    }

    #[tokio::test(start_paused = true)]
    async fn first_pass_marks_once_and_wakes_waiters() {
        let l = RateLimiter::per_second(2);
        l.wait().await;
        let pass = FirstPass::new();
        let seen = {
            let p = pass.clone();
            tokio::spawn(async move { p.passed().await })
        };
        let observed = l.observed_by(pass.clone());
        assert!(pass.at().is_none());
        observed.wait().await;
        let first = pass.at().expect("marked");
        observed.wait().await;
        assert_eq!(pass.at(), Some(first), "the first pass stays");
        assert_eq!(seen.await.unwrap(), first);
    }
}
