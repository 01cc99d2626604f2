//! The sandbox's simulated user: does what a person in a browser would do with the sign-in
//! page (used by `login --sandbox` when no real browser can be opened, and by tests).

use anyhow::{anyhow, bail, Context, Result};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use std::collections::HashMap;
use std::time::Duration;
use url::Url;

/// GET the authorize URL, read the sign-in form, POST it with Accept (choosing the account
/// `login_hint` names, else the preselected one: the tenant's first user), take the 302
/// Location and GET it (the CLI's own loopback listener). Returns the signed-in account's UPN.
/// Redirects are never followed automatically; every request has a 10 s timeout.
pub async fn simulated_user_sign_in(authorize_url: &str) -> Result<String> {
    let start = Url::parse(authorize_url).context("the authorize URL is not a valid URL")?;
    let hint = start
        .query_pairs()
        .find(|(k, _)| k == "login_hint")
        .map(|(_, v)| v.into_owned());
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .context("cannot build the simulated browser's HTTP client")?;

    let resp = client
        .get(start.clone())
        .send()
        .await
        .context("the simulated user could not open the authorize URL")?;
    let (resp, mut upn) = if resp.status().is_redirection() {
        // prompt=none: no page.
        let upn = sandbox_account(&resp).or(hint);
        (resp, upn)
    } else {
        let status = resp.status();
        let page_url = resp.url().clone();
        let html = resp.text().await.context("cannot read the sign-in page")?;
        if !status.is_success() {
            bail!(
                "the sign-in page shows an error ({status}): {}",
                page_error(&html)
            );
        }
        let form = Form::parse(&html).context("the sign-in page has no usable form")?;
        let account = form.choose_account(hint.as_deref())?;
        let mut fields = form.hidden.clone();
        fields.push(("account".into(), account.clone()));
        fields.push(("action".into(), "accept".into()));
        let target = page_url
            .join(&form.action)
            .context("the sign-in form's action is not a valid URL")?;
        let resp = post_form(&client, target, &fields).await?;
        (resp, Some(account))
    };

    // response_mode=form_post: the page posts itself to the redirect URI.
    if resp.status() == StatusCode::OK {
        let base = resp.url().clone();
        let html = resp
            .text()
            .await
            .context("cannot read the form_post page")?;
        let form = Form::parse(&html).context("expected a redirect or a form_post page")?;
        let target = base.join(&form.action).context("form_post action")?;
        ensure_loopback(&target)?;
        let r = post_form(&client, target, &form.hidden).await?;
        finish(r, &form.hidden).await?;
        return upn
            .take()
            .ok_or_else(|| anyhow!("the signed-in account is unknown"));
    }
    if !resp.status().is_redirection() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        bail!(
            "the sandbox answered {status} to the sign-in: {}",
            page_error(&body)
        );
    }
    let location = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("the sandbox's redirect has no Location")?;
    let target = resp
        .url()
        .join(location)
        .context("the redirect Location is not a valid URL")?;
    if upn.is_none() {
        upn = sandbox_account(&resp);
    }
    ensure_loopback(&target)?;
    let mut params: Vec<(String, String)> = target
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(f) = target.fragment() {
        params.extend(
            url::form_urlencoded::parse(f.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    let r =
        client.get(target).send().await.context(
            "the simulated browser could not reach the redirect URI (the CLI's listener)",
        )?;
    finish(r, &params).await?;
    upn.ok_or_else(|| anyhow!("the signed-in account is unknown"))
}

/// The device code flow's person: opens `verification_uri`, types `user_code`, then on the
/// sign-in page picks the preselected account (or `account` when given) and presses Accept
/// (`accept`) or Cancel. Returns the signed-in account's UPN (accepted) or an empty string
/// (cancelled); an error page (a wrong code, AADSTS53003) is an error carrying its AADSTS line.
pub async fn simulated_user_device_sign_in(
    verification_uri: &str,
    user_code: &str,
    account: Option<&str>,
    accept: bool,
) -> Result<String> {
    let start = Url::parse(verification_uri).context("the verification URI is not a valid URL")?;
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .context("cannot build the simulated browser's HTTP client")?;
    let resp = client
        .get(start.clone())
        .send()
        .await
        .context("the simulated user could not open the verification URI")?;
    let html = resp.text().await.context("cannot read the code page")?;
    let form = Form::parse(&html).context("the code page has no form")?;
    let target = start
        .join(&form.action)
        .context("the code form's action is not a valid URL")?;
    let mut fields = form.hidden.clone();
    fields.push(("otc".into(), user_code.to_string()));
    let resp = post_form(&client, target.clone(), &fields).await?;
    let status = resp.status();
    let html = resp.text().await.context("cannot read the sign-in page")?;
    if !status.is_success() {
        bail!(
            "the code page refused the code ({status}): {}",
            entry_error(&html)
        );
    }
    let form = Form::parse(&html).context("the sign-in page has no usable form")?;
    let chosen = form.choose_account(account)?;
    let mut fields = form.hidden.clone();
    fields.push(("account".into(), chosen.clone()));
    let action = if accept { "accept" } else { "cancel" };
    fields.push(("action".into(), action.into()));
    let signin = target
        .join(&form.action)
        .context("the sign-in form's action is not a valid URL")?;
    let resp = post_form(&client, signin, &fields).await?;
    let status = resp.status();
    let html = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the sign-in page shows an error ({status}): {}",
            page_error(&html)
        );
    }
    Ok(if accept { chosen } else { String::new() })
}

/// The error line of the code page.
fn entry_error(html: &str) -> String {
    match html.find("id=\"error\">") {
        Some(i) => {
            let rest = &html[i + 11..];
            unescape(&rest[..rest.find('<').unwrap_or(rest.len())])
        }
        None => page_error(html),
    }
}

async fn post_form(client: &Client, target: Url, fields: &[(String, String)]) -> Result<Response> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter())
        .finish();
    client
        .post(target)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .context("the simulated user could not submit the form")
}

/// The listener's answer, and the authorize result itself, must both be success.
async fn finish(r: Response, params: &[(String, String)]) -> Result<()> {
    let status = r.status();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(err) = get("error") {
        let desc = get("error_description").unwrap_or("");
        let first = desc.lines().next().unwrap_or("");
        bail!("the sign-in ended with error={err}: {first}");
    }
    if status.is_client_error() || status.is_server_error() {
        bail!("the redirect URI's listener answered {status}");
    }
    Ok(())
}

fn ensure_loopback(u: &Url) -> Result<()> {
    match u.host_str() {
        Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
        _ => bail!(
            "the sign-in redirects to {}://{}, which is not a loopback listener: a simulated user cannot complete it (use the paste flow)",
            u.scheme(),
            u.host_str().unwrap_or("")
        ),
    }
}

fn sandbox_account(r: &Response) -> Option<String> {
    r.headers()
        .get("x-sandbox-account")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The "AADSTSnnnn: ..." line of an error page, unescaped.
fn page_error(html: &str) -> String {
    match html.find("AADSTS") {
        Some(i) => {
            let rest = &html[i..];
            let end = rest.find('<').unwrap_or(rest.len());
            unescape(&rest[..end])
        }
        None => "no AADSTS code on the page".into(),
    }
}

/// The first form of a page: its action, hidden fields and account radio buttons.
#[derive(Debug)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    /// (value, checked)
    accounts: Vec<(String, bool)>,
}

impl Form {
    fn parse(html: &str) -> Result<Form> {
        let form = tags(html, "form")
            .into_iter()
            .next()
            .context("no <form> on the page")?;
        let action = form.get("action").cloned().unwrap_or_default();
        let mut hidden = Vec::new();
        let mut accounts = Vec::new();
        for i in tags(html, "input") {
            let ty = i
                .get("type")
                .map(|t| t.to_ascii_lowercase())
                .unwrap_or_default();
            let (Some(name), value) = (i.get("name"), i.get("value").cloned().unwrap_or_default())
            else {
                continue;
            };
            match ty.as_str() {
                "hidden" => hidden.push((name.clone(), value)),
                "radio" if name == "account" => accounts.push((value, i.contains_key("checked"))),
                _ => {}
            }
        }
        Ok(Form {
            action,
            hidden,
            accounts,
        })
    }

    fn choose_account(&self, hint: Option<&str>) -> Result<String> {
        if let Some(h) = hint {
            if let Some((v, _)) = self
                .accounts
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(h))
            {
                return Ok(v.clone());
            }
        }
        self.accounts
            .iter()
            .find(|(_, checked)| *checked)
            .or(self.accounts.first())
            .map(|(v, _)| v.clone())
            .context("the sign-in page lists no account")
    }
}

/// Attributes of every `<name ...>` tag, in order (a tolerant scan, enough for these pages).
fn tags(html: &str, name: &str) -> Vec<HashMap<String, String>> {
    // ASCII lower-casing keeps byte offsets, and every offset used is at an ASCII character.
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&open) {
        let start = i + pos + open.len();
        let next = lower.as_bytes().get(start).copied().unwrap_or(b'>');
        let Some(len) = lower[start..].find('>') else {
            break;
        };
        let end = start + len;
        if next.is_ascii_whitespace() || next == b'>' || next == b'/' {
            out.push(attrs(&html[start..end]));
        }
        i = end;
    }
    out
}

fn attrs(s: &str) -> HashMap<String, String> {
    let b = s.as_bytes();
    let mut out = HashMap::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if ns == i {
            i += 1;
            continue;
        }
        let name = s[ns..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = unescape(&s[vs..i]);
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = unescape(&s[vs..i]);
            }
        }
        out.entry(name).or_insert(value);
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sign_in_form() {
        let html = r#"<html><form method="post" action="/sandbox/signin"><input type="hidden" name="request" value="a&amp;b">
<label><input type="radio" name="account" value="x@a.example"> X</label>
<label><input type='radio' name=account value="y@b.example" checked> Y</label>
<button type="submit" name="action" value="accept" id="accept">Accept</button></form>"#;
        let f = Form::parse(html).unwrap();
        assert_eq!(f.action, "/sandbox/signin");
        assert_eq!(f.hidden, vec![("request".to_string(), "a&b".to_string())]);
        assert_eq!(f.choose_account(None).unwrap(), "y@b.example");
        assert_eq!(
            f.choose_account(Some("X@A.example")).unwrap(),
            "x@a.example"
        );
        assert_eq!(
            f.choose_account(Some("nobody@c.example")).unwrap(),
            "y@b.example"
        );
        assert_eq!(
            page_error("<p>AADSTS50011: The &#39;x&#39; uri</p>"),
            "AADSTS50011: The 'x' uri"
        );
    }
}
