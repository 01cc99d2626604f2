//! HTML pages: sign-in + consent, error pages, form_post auto-submit. No JavaScript is needed
//! (form_post uses an onload submit with a visible button as fallback). Everything echoed is
//! HTML-escaped.

use crate::errors::{Aadsts, Trace};

pub const TITLE: &str = "Sign in — mssp-token sandbox";

const STYLE: &str = "body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f2f2f2;color:#1b1b1b}\
.banner{background:#8a1c1c;color:#fff;padding:10px 16px;font-size:15px}\
main{max-width:560px;margin:24px auto;background:#fff;padding:24px 32px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-size:22px;font-weight:600}h2{font-size:15px;margin:12px 0 4px}\
fieldset{border:1px solid #ccc;padding:8px 12px}label{display:block;padding:4px 0}\
.other{color:#8a1c1c;font-size:13px}.meta{color:#555;font-size:13px;word-break:break-all}\
.buttons{margin-top:18px}button{font-size:15px;padding:6px 20px;margin-right:8px}\
#accept{background:#0067b8;color:#fff;border:0}.err{color:#8a1c1c;white-space:pre-wrap}";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn layout(body: &str, onload: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{TITLE}</title><style>{STYLE}</style></head>\
<body{onload}><div class=\"banner\" role=\"alert\" id=\"sandbox-banner\"><strong>SIMULATED Microsoft Entra ID</strong> \
— this is the mssp-token sandbox running on your own computer. Tokens issued here are valid nowhere else.</div>\n\
<main>{body}</main></body></html>\n"
    )
}

/// One selectable account on the sign-in page.
pub struct AccountChoice {
    pub upn: String,
    pub name: String,
    pub checked: bool,
}

/// Accounts of one tenant.
pub struct AccountGroup {
    pub tenant_label: String,
    /// Not the tenant the request is for: a session left over from another customer.
    pub other_org: bool,
    pub accounts: Vec<AccountChoice>,
}

pub struct SigninView {
    pub request_id: String,
    pub post_path: String,
    pub app_name: String,
    pub client_id: String,
    pub tenant_label: String,
    pub permissions: Vec<String>,
    pub admin_consent: bool,
    pub groups: Vec<AccountGroup>,
}

pub fn signin(v: &SigninView) -> String {
    let mut b = String::new();
    b.push_str(if v.admin_consent {
        "<h1>Permissions requested — accept for your organization</h1>"
    } else {
        "<h1>Sign in and grant permissions</h1>"
    });
    b.push_str(&format!(
        "<p><strong id=\"app-name\">{}</strong> wants to sign you in to <strong id=\"tenant\">{}</strong> and to:</p>\
<p class=\"meta\">Application (client) ID: {}</p><ul id=\"permissions\">",
        escape(&v.app_name),
        escape(&v.tenant_label),
        escape(&v.client_id)
    ));
    for p in &v.permissions {
        b.push_str(&format!("<li>{}</li>", escape(p)));
    }
    b.push_str("</ul>");
    b.push_str(&format!(
        "<form method=\"post\" action=\"{}\" enctype=\"application/x-www-form-urlencoded\">\
<input type=\"hidden\" name=\"request\" value=\"{}\">\
<fieldset><legend>Pick an account</legend>",
        escape(&v.post_path),
        escape(&v.request_id)
    ));
    for g in &v.groups {
        b.push_str(&format!("<h2>{}</h2>", escape(&g.tenant_label)));
        if g.other_org {
            b.push_str("<div class=\"other\">Another organization: this simulated browser is still signed in to it. Picking this account issues a token for THAT organization.</div>");
        }
        for a in &g.accounts {
            b.push_str(&format!(
                "<label><input type=\"radio\" name=\"account\" value=\"{}\"{}> {} &lt;{}&gt;</label>",
                escape(&a.upn),
                if a.checked { " checked" } else { "" },
                escape(&a.name),
                escape(&a.upn)
            ));
        }
    }
    b.push_str(
        "</fieldset><div class=\"buttons\">\
<button type=\"submit\" name=\"action\" value=\"accept\" id=\"accept\">Accept</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\
</div></form>",
    );
    layout(&b, "")
}

/// Entra's "Sorry, but we're having trouble signing you in." page.
pub fn error(e: &Aadsts, t: &Trace) -> String {
    let body = format!(
        "<h1>Sorry, but we’re having trouble signing you in.</h1>\
<p class=\"err\" id=\"error\">AADSTS{}: {}</p>\
<p class=\"meta\">Request Id: {}<br>Correlation Id: {}<br>Timestamp: {}<br>Message: AADSTS{}</p>",
        e.code,
        escape(&e.message),
        escape(&t.trace_id),
        escape(&t.correlation_id),
        escape(&t.timestamp),
        e.code
    );
    layout(&body, "")
}

/// response_mode=form_post: a form that submits itself to the redirect URI.
pub fn form_post(action: &str, params: &[(String, String)]) -> String {
    let mut b = format!(
        "<h1>Returning to the application…</h1><form method=\"post\" action=\"{}\">",
        escape(action)
    );
    for (k, v) in params {
        b.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(k),
            escape(v)
        ));
    }
    b.push_str("<button type=\"submit\" id=\"continue\">Continue</button></form>");
    layout(&b, " onload=\"document.forms[0].submit()\"")
}

/// The device code page (Entra's https://microsoft.com/devicelogin): a box for the code the
/// application showed. `error` is shown above it (a wrong or expired code).
pub fn device_code_entry(post_path: &str, error: Option<&str>, prefill: &str) -> String {
    let mut b = String::from(
        "<h1>Enter code</h1><p>Enter the code displayed on your app or device to allow it to access your account.</p>",
    );
    if let Some(e) = error {
        b.push_str(&format!("<p class=\"err\" id=\"error\">{}</p>", escape(e)));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"{}\" enctype=\"application/x-www-form-urlencoded\">\
<label for=\"otc\">Code</label><input type=\"text\" name=\"otc\" id=\"otc\" value=\"{}\" autocomplete=\"off\" maxlength=\"64\">\
<div class=\"buttons\"><button type=\"submit\" id=\"next\">Next</button></div></form>",
        escape(post_path),
        escape(prefill)
    ));
    layout(&b, "")
}

/// The last page of a device code sign-in: success, or what stopped it.
pub fn device_code_done(heading: &str, text: &str) -> String {
    let body = format!(
        "<h1 id=\"result\">{}</h1><p id=\"detail\">{}</p>",
        escape(heading),
        escape(text)
    );
    layout(&body, "")
}
