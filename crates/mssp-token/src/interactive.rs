//! Waiting for a person: the redirect from the loopback listener, an address pasted on stdin,
//! or the sandbox's simulated user; a hint after 30 s; a deadline.

use crate::error::{fail, Exit};
use crate::log;
use crate::redirect::{self, Redirect};
use anyhow::Result;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// After this long without a redirect, a hint on what to do.
const HINT_AFTER: Duration = Duration::from_secs(30);

pub struct Wait<'a> {
    /// Redirects accepted by the listener (state already checked), if one listens.
    pub redirects: Option<UnboundedReceiver<Redirect>>,
    /// The state this run sent.
    pub state: &'a str,
    /// Nothing listens: only a pasted address can finish the flow.
    pub paste_only: bool,
    /// The sandbox's simulated user, when it is the one signing in.
    pub simulated: Option<tokio::task::JoinHandle<Result<String>>>,
    /// Seconds to wait in all.
    pub wait: u64,
    /// The redirect URI to register, for hints.
    pub registered: &'a str,
}

/// Waits for the first acceptable redirect.
pub async fn await_redirect(mut w: Wait<'_>) -> Result<Redirect> {
    let mut pastes = paste_lines();
    let deadline = tokio::time::sleep(Duration::from_secs(w.wait));
    tokio::pin!(deadline);
    let hint = tokio::time::sleep(HINT_AFTER);
    tokio::pin!(hint);
    let mut hinted = HINT_AFTER.as_secs() >= w.wait;
    loop {
        tokio::select! {
            Some(r) = async { match w.redirects.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                if let Some(h) = w.simulated.take() {
                    // The simulated user is reading our page; say who signed in.
                    if let Ok(Ok(Ok(account))) = tokio::time::timeout(Duration::from_secs(5), h).await {
                        log::info(&format!("The sandbox's simulated user signed in as {account}."));
                    }
                }
                return Ok(r);
            }
            line = pastes.recv() => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match redirect::parse_pasted(&line, w.state) {
                    Ok(r) => return Ok(r),
                    Err(why) => log::warn(&format!("the pasted text was refused: {why}. Paste again, or wait for the browser.")),
                },
                None => {
                    if w.paste_only {
                        return Err(fail(Exit::Interaction, "standard input closed before the address the browser landed on was pasted; run again in a terminal and paste it"));
                    }
                    pastes = never_lines();
                }
            },
            outcome = async { match w.simulated.as_mut() { Some(h) => h.await, None => std::future::pending().await } } => {
                w.simulated = None;
                match outcome {
                    Ok(Ok(account)) => log::info(&format!("The sandbox's simulated user signed in as {account}.")),
                    Ok(Err(e)) => return Err(fail(Exit::Interaction, format!("the sandbox's simulated user could not complete the sign-in: {e:#}"))),
                    Err(e) => return Err(fail(Exit::Internal, format!("simulated user failed: {e}"))),
                }
            },
            _ = &mut hint, if !hinted => {
                hinted = true;
                log::info(&format!(
                    "Still waiting ({} s left). If no browser opened, open the URL above yourself.\nIf the browser shows AADSTS50011, register exactly {} on the app (Authentication > Web).\nIf the browser landed on a page that does not load, paste its address here.",
                    w.wait.saturating_sub(HINT_AFTER.as_secs()),
                    w.registered
                ));
            },
            _ = &mut deadline => {
                return Err(fail(Exit::Interaction, format!(
                    "no sign-in came back within {} s (--wait). Open the URL printed above and finish signing in, or paste the address the browser landed on. If the browser shows an error (AADSTS50011: register exactly {} on the app; AADSTS700016: check --tenant and --client-id), fix that first",
                    w.wait, w.registered
                )));
            }
        }
    }
}

/// Lines pasted on standard input, read on a thread of their own (a blocked read must never
/// hold up the exit, so the thread is left behind when the flow ends).
fn paste_lines() -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn never_lines() -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(tx);
    rx
}

/// Opens `url` with the browser command, $BROWSER or the system browser; the URL has already
/// been printed, so a failure is only a warning.
pub fn open_page(url: &str, browser_command: Option<&str>) {
    match crate::browser::open(url, browser_command) {
        Ok(crate::browser::Opened::Command(cmd)) => {
            log::verbose(&format!("opened the page with '{cmd}'"))
        }
        Ok(crate::browser::Opened::SystemDefault) => {
            log::verbose("opened the page in the system browser")
        }
        Err(e) => log::warn(&format!("{e}")),
    }
}
