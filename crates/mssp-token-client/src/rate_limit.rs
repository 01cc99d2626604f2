//! A global request rate limit shared by every task (`onboard --max-rps`), and the moment a task's
//! first request passed it ([`FirstPass`]), from which a per-tenant deadline counts.
//!
//! Waiters queue in arrival order (tokio's mutex is fair). The one at the front holds the queue
//! while it sleeps until its slot; the slot is taken only when that sleep ends. A wait that is
//! cancelled (a deadline, an interrupted run) leaves the queue without taking its slot, so the
//! next waiter gets it: cancelled waits never eat into the rate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The shared part: when the last slot was taken.
#[derive(Debug)]
struct Slots {
    interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
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
                last: tokio::sync::Mutex::new(None),
            }),
            observer: None,
        }
    }

    /// The same limit (the slots are shared), noting in `pass` when a wait first lets a request go.
    pub fn observed_by(&self, pass: Arc<FirstPass>) -> RateLimiter {
        RateLimiter {
            slots: self.slots.clone(),
            observer: Some(pass),
        }
    }

    /// Waits for the next free slot and takes it. Cancel-safe: a wait dropped before it
    /// returns takes no slot.
    pub async fn wait(&self) {
        {
            let mut last = self.slots.last.lock().await;
            let now = Instant::now();
            let slot = match *last {
                Some(prev) => (prev + self.slots.interval).max(now),
                None => now,
            };
            tokio::time::sleep_until(slot).await;
            // Taken only now that the sleep is over (a cancelled sleep leaves `last` as it was).
            *last = Some(slot);
        }
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
