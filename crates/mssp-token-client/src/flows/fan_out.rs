//! Fan-out over many tenants: at most `concurrency` at once, each item's result handed to the
//! caller as soon as it is done (so a report streams), a progress bar on a terminal only. One
//! item's failure is its own result and never stops the others; each item bounds its own time
//! (see [`within`]).

use crate::error::{fail, Exit};
use anyhow::Result;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `work` on every item, at most `concurrency` at a time, calling `done` with each result
/// in the order they finish; returns them all.
pub async fn run<I, T, F, Fut>(
    items: Vec<I>,
    concurrency: usize,
    what: &str,
    work: F,
    mut done: impl FnMut(&T),
) -> Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let total = items.len();
    let progress = progress_bar(total, what);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for item in items {
        let sem = sem.clone();
        let fut = work(item);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            fut.await
        });
    }
    let mut results = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| fail(Exit::Internal, format!("a {what} task failed: {e}")))?;
        done(&r);
        if let Some(pb) = &progress {
            pb.inc(1);
        }
        results.push(r);
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok(results)
}

/// Runs `fut` for at most `deadline`; `None` when the time ran out.
pub async fn within<T>(deadline: Duration, fut: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(deadline, fut).await.ok()
}

fn progress_bar(total: usize, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} {{elapsed}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    Some(pb)
}
