//! Fan-out over many tenants: at most `concurrency` at once, each item's result handed to the
//! caller as soon as it is done (so a report streams), a progress bar on a terminal only. One
//! item's failure is its own result and never stops the others, a panic included (it becomes
//! that item's result through `on_panic`); each item bounds its own time from its first request
//! (see [`within_from`]). Dropping the returned future aborts the items still running.

use crate::rate_limit::FirstPass;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `work` on every item, at most `concurrency` at a time, calling `done` with each result
/// in the order they finish; returns them all. An item whose task panics (a bug) gets
/// `on_panic(index, message)` as its result; the others go on.
pub async fn run<I, T, F, Fut>(
    items: Vec<I>,
    concurrency: usize,
    what: &str,
    work: F,
    on_panic: impl Fn(usize, &str) -> T,
    mut done: impl FnMut(&T),
) -> Vec<T>
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
    let mut index_of = HashMap::with_capacity(total);
    for (i, item) in items.into_iter().enumerate() {
        let sem = sem.clone();
        let fut = work(item);
        let handle = tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            fut.await
        });
        index_of.insert(handle.id(), i);
    }
    let mut results = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next_with_id().await {
        let r = match joined {
            Ok((_, r)) => r,
            Err(e) => {
                let i = index_of.get(&e.id()).copied().unwrap_or(usize::MAX);
                let why = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "the task was cancelled".to_string()
                };
                on_panic(i, &crate::redacted::scrub(&why))
            }
        };
        done(&r);
        if let Some(pb) = &progress {
            pb.inc(1);
        }
        results.push(r);
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    results
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `fut` for at most `deadline` counted from `start`'s first request (time spent queued
/// before it, at the concurrency limit or the rate limiter, does not count); `None` when the
/// time ran out.
pub async fn within_from<T>(
    deadline: Duration,
    start: &FirstPass,
    fut: impl Future<Output = T>,
) -> Option<T> {
    let timer = async {
        let at = start.passed().await;
        tokio::time::sleep_until(at + deadline).await;
    };
    tokio::select! {
        biased;
        r = fut => Some(r),
        () = timer => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_item_is_its_own_result_and_the_others_run() {
        let mut seen = Vec::new();
        let results = run(
            vec![1u32, 2, 3, 4],
            2,
            "items",
            |i| async move {
                if i == 3 {
                    panic!("item {i} broke");
                }
                format!("ok {i}")
            },
            |index, why| format!("internal error at index {index}: {why}"),
            |r: &String| seen.push(r.clone()),
        )
        .await;
        assert_eq!(results.len(), 4);
        assert_eq!(seen.len(), 4);
        assert!(
            results.contains(&"internal error at index 2: item 3 broke".to_string()),
            "{results:?}"
        );
        for ok in ["ok 1", "ok 2", "ok 4"] {
            assert!(results.contains(&ok.to_string()), "{results:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_first_request() {
        let pass = FirstPass::new();
        let p = pass.clone();
        // Queued for 10 s (longer than the deadline), then 1 s of work: within the deadline.
        let work = async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            p.mark();
            tokio::time::sleep(Duration::from_secs(1)).await;
            "done"
        };
        assert_eq!(
            within_from(Duration::from_secs(2), &pass, work).await,
            Some("done")
        );
        // Work that goes on past the deadline after its first request is cut.
        let pass = FirstPass::new();
        pass.mark();
        let slow = tokio::time::sleep(Duration::from_secs(3));
        assert_eq!(within_from(Duration::from_secs(2), &pass, slow).await, None);
    }
}
