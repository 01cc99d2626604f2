//! The redirect catch shared by sign-in (`login`) and admin consent (`consent --listen`): the
//! loopback listener bound before the browser opens, the page opened (a browser, nobody, or the
//! sandbox's simulated user), the wait for the redirect or for an address pasted on stdin, a
//! hint after 30 s, a deadline.

use crate::error::{fail, Exit};
use crate::listener::Listener;
use crate::redirect::{self, Redirect};
use anyhow::Result;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use url::Url;

/// After this long without a redirect, a hint on what to do.
const HINT_AFTER: Duration = Duration::from_secs(30);

/// How the redirect comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catch {
    /// A loopback listener on this port (or a free one) and path.
    Loopback { port: Option<u16>, path: String },
    /// Nothing listens there: the user pastes the address the browser landed on.
    Paste,
}

/// The registered redirect URI and how its redirect is caught.
#[derive(Debug, Clone)]
pub struct RedirectPlan {
    pub url: Url,
    pub catch: Catch,
}

/// A task that signs in on the page it is given and returns the account it used.
pub type SignIn = Box<dyn FnOnce(String) -> tokio::task::JoinHandle<Result<String>> + Send>;

/// Who opens the sign-in page.
pub enum Opener {
    /// This command, else $BROWSER, else the system browser.
    Browser(Option<String>),
    /// Nobody: the person opens the printed URL (and may paste the address it lands on).
    Nobody,
    /// Someone other than a person signs in (the sandbox's simulated user).
    Simulated(SignIn),
}

/// A redirect catch, its listener (if any) bound.
pub struct Catcher {
    listener: Option<Listener>,
    /// The redirect URI as sent (with the listener's port).
    sent: String,
    /// The redirect URI to register (without a port), for hints.
    registered: String,
}

impl Catcher {
    /// Binds the listener now, before any page opens, so the redirect cannot arrive first.
    pub fn bind(plan: &RedirectPlan) -> Result<Catcher> {
        let listener = match &plan.catch {
            Catch::Loopback { port, path } => Some(Listener::bind(*port, path)?),
            Catch::Paste => None,
        };
        let sent = match &listener {
            Some(l) => {
                let mut u = plan.url.clone();
                let _ = u.set_port(Some(l.port()));
                crate::verbose!("listening on {}", l.addresses().join(" and "));
                u.to_string()
            }
            None => plan.url.to_string(),
        };
        let mut registered = plan.url.clone();
        let _ = registered.set_port(None);
        Ok(Catcher {
            listener,
            sent,
            registered: registered.to_string(),
        })
    }

    /// The redirect URI to send in the request.
    pub fn redirect_uri(&self) -> &str {
        &self.sent
    }

    pub fn is_paste(&self) -> bool {
        self.listener.is_none()
    }

    /// Starts answering with `state`, shows `prompt` (which carries the URL), opens the page,
    /// and waits up to `wait` seconds for the first acceptable redirect. The listener closes
    /// when this returns.
    pub async fn catch(
        mut self,
        url: &Url,
        state: &str,
        prompt: &str,
        opener: Opener,
        wait: u64,
    ) -> Result<Redirect> {
        let redirects = self.listener.as_mut().map(|l| l.start(state.to_string()));
        crate::info!("{prompt}");
        let paste_only = self.is_paste();
        if paste_only {
            crate::info!(
                "Nothing listens at {}: after signing in, the browser lands on a page that does not load.\nCopy the whole address from its address bar and paste it here (or just the code), then press Enter:",
                self.sent
            );
        }
        let mut simulated = None;
        match opener {
            Opener::Browser(cmd) => open_page(url.as_str(), cmd.as_deref()),
            Opener::Nobody => {
                if !paste_only {
                    crate::info!("Open the URL yourself; the listener is waiting, and you can also paste the address the browser landed on here.");
                }
            }
            Opener::Simulated(sign_in) => simulated = Some(sign_in(url.to_string())),
        }
        let outcome = await_redirect(Wait {
            redirects,
            state,
            paste_only,
            simulated,
            wait,
            registered: &self.registered,
        })
        .await;
        drop(self.listener.take());
        outcome
    }
}

struct Wait<'a> {
    /// Redirects accepted by the listener (state already checked), if one listens.
    redirects: Option<UnboundedReceiver<Redirect>>,
    /// The state this run sent.
    state: &'a str,
    /// Nothing listens: only a pasted address can finish the flow.
    paste_only: bool,
    /// The sandbox's simulated user, when it is the one signing in.
    simulated: Option<tokio::task::JoinHandle<Result<String>>>,
    /// Seconds to wait in all.
    wait: u64,
    /// The redirect URI to register, for hints.
    registered: &'a str,
}

/// Waits for the first acceptable redirect.
async fn await_redirect(mut w: Wait<'_>) -> Result<Redirect> {
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
                        crate::info!("The sandbox's simulated user signed in as {account}.");
                    }
                }
                return Ok(r);
            }
            line = pastes.recv() => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match redirect::parse_pasted(&line, w.state) {
                    Ok(r) => return Ok(r),
                    Err(why) => crate::warn!("the pasted text was refused: {why}. Paste again, or wait for the browser."),
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
                    Ok(Ok(account)) => crate::info!("The sandbox's simulated user signed in as {account}."),
                    Ok(Err(e)) => return Err(fail(Exit::Interaction, format!("the sandbox's simulated user could not complete the sign-in: {e:#}"))),
                    Err(e) => return Err(fail(Exit::Internal, format!("simulated user failed: {e}"))),
                }
            },
            _ = &mut hint, if !hinted => {
                hinted = true;
                crate::info!(
                    "Still waiting ({} s left). If no browser opened, open the URL above yourself.\nIf the browser shows AADSTS50011, register exactly {} on the app (Authentication > Web).\nIf the browser landed on a page that does not load, paste its address here.",
                    w.wait.saturating_sub(HINT_AFTER.as_secs()),
                    w.registered
                );
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
fn open_page(url: &str, browser_command: Option<&str>) {
    match crate::browser::open(url, browser_command) {
        Ok(crate::browser::Opened::Command(cmd)) => {
            crate::verbose!("opened the page with '{cmd}'")
        }
        Ok(crate::browser::Opened::SystemDefault) => {
            crate::verbose!("opened the page in the system browser")
        }
        Err(e) => crate::warn!("{e}"),
    }
}
