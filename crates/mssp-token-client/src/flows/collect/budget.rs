//! Request budgets per tenant and API: a sliding log of the requests sent in each window (a
//! minute, an hour); a request waits until every window has room. One budget is shared by all
//! the requests of one tenant to one API in this run, whatever the source.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub struct Budget {
    windows: Vec<(u32, Duration)>,
    sent: Mutex<VecDeque<Instant>>,
}

impl Budget {
    pub fn new(windows: &[(u32, Duration)]) -> Budget {
        Budget {
            windows: windows.to_vec(),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request fits every window, then counts it.
    pub async fn take(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let longest = self.windows.iter().map(|w| w.1).max().unwrap_or_default();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= longest)
                {
                    sent.pop_front();
                }
                let mut wait = Duration::ZERO;
                for (limit, span) in &self.windows {
                    let limit = *limit as usize;
                    let inside: Vec<&Instant> = sent
                        .iter()
                        .rev()
                        .take_while(|t| now.duration_since(**t) < *span)
                        .collect();
                    if inside.len() >= limit.max(1) {
                        // The oldest of the last `limit` requests must leave the window.
                        let oldest = inside[limit.max(1) - 1];
                        wait = wait.max(*span - now.duration_since(*oldest));
                    }
                }
                if wait.is_zero() {
                    sent.push_back(now);
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Requests counted in the last `span`.
    pub fn used(&self, span: Duration) -> usize {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sent.iter()
            .filter(|t| now.duration_since(**t) < span)
            .count()
    }
}

/// (tenant ID, API) -> its budget.
type ByKey = HashMap<(String, &'static str), Arc<Budget>>;

/// The budgets of a run, by (tenant ID, API).
#[derive(Default, Clone)]
pub struct Budgets {
    all: Arc<Mutex<ByKey>>,
}

impl Budgets {
    pub fn get(
        &self,
        tenant_id: &str,
        key: &'static str,
        windows: &[(u32, Duration)],
    ) -> Arc<Budget> {
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.entry((tenant_id.to_string(), key))
            .or_insert_with(|| Arc::new(Budget::new(windows)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_budget_holds_every_window() {
        let b = Budget::new(&[(3, Duration::from_secs(60)), (5, Duration::from_secs(3600))]);
        let start = Instant::now();
        for _ in 0..3 {
            b.take().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        b.take().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(60),
            "the 4th waits a minute"
        );
        b.take().await;
        b.take().await;
        // 5 an hour: the 6th waits for the first to be an hour old.
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
        assert!(b.used(Duration::from_secs(3600)) <= 5);
    }
}
