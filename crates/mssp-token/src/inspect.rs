//! `mssp-token inspect`: decodes a JWT locally (never sends it anywhere) and, with
//! --require-role / --expect-tenant / --expect-audience, checks it: exit 5 with every reason.

use crate::checks::missing_roles;
use crate::cli::{InspectArgs, ReportFormat};
use crate::error::{fail, usage, Exit};
use crate::jwt::Jwt;
use crate::token::{now_epoch, relative, rfc3339};
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Read;

pub fn run(args: InspectArgs) -> Result<()> {
    let token = read_token(&args)?;
    crate::redacted::register(&token);
    let jwt = Jwt::decode(&token)?;
    let now = now_epoch();
    let failures = check(&jwt, &args, now);
    let times: Vec<(&str, u64)> = ["iat", "nbf", "exp"]
        .iter()
        .filter_map(|k| jwt.num_claim(k).map(|v| (*k, v)))
        .collect();
    match args.output {
        ReportFormat::Json => {
            let mut t = serde_json::Map::new();
            for (k, v) in &times {
                t.insert(
                    k.to_string(),
                    json!({"epoch": v, "utc": rfc3339(*v), "relative": relative(*v, now)}),
                );
            }
            let report = json!({
                "header": jwt.header,
                "claims": jwt.claims,
                "times": t,
                "expired": jwt.num_claim("exp").map(|e| e <= now),
                "checks": {"ok": failures.is_empty(), "failures": failures},
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        ReportFormat::Text => {
            let mut out = String::new();
            out.push_str("---- HEADER ----\n");
            out.push_str(&pretty(&jwt.header));
            out.push_str("\n---- CLAIMS ----\n");
            out.push_str(&pretty(&jwt.claims));
            out.push_str("\n---- TIMES ----\n");
            for (k, v) in &times {
                let label = match *k {
                    "iat" => "issued     ",
                    "nbf" => "valid from ",
                    _ => "expires    ",
                };
                out.push_str(&format!(
                    "{label} {} ({})\n",
                    rfc3339(*v),
                    relative(*v, now)
                ));
            }
            print!("{out}");
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(fail(
            Exit::Check,
            format!(
                "the token fails the check:\n  - {}",
                failures.join("\n  - ")
            ),
        ))
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn check(jwt: &Jwt, args: &InspectArgs, now: u64) -> Vec<String> {
    let mut failures = Vec::new();
    let checking = !args.require_role.is_empty()
        || args.expect_tenant.is_some()
        || args.expect_audience.is_some();
    if !checking {
        return failures;
    }
    if let Some(exp) = jwt.num_claim("exp") {
        if exp <= now {
            failures.push(format!("expired {} ({})", rfc3339(exp), relative(exp, now)));
        }
    }
    if let Some(nbf) = jwt.num_claim("nbf") {
        if nbf > now + 300 {
            failures.push(format!("not valid before {}", rfc3339(nbf)));
        }
    }
    let have = jwt.roles();
    let missing = missing_roles(&have, &args.require_role);
    if !missing.is_empty() {
        let has = if have.is_empty() {
            "none".to_string()
        } else {
            have.join(", ")
        };
        failures.push(format!(
            "missing role(s) {} (has: {has})",
            missing.join(", ")
        ));
    }
    if let Some(t) = &args.expect_tenant {
        let tid = jwt.tenant_id().unwrap_or_else(|| "(no tid claim)".into());
        if !tid.eq_ignore_ascii_case(t.trim()) {
            failures.push(format!("tenant is {tid}, expected {}", t.trim()));
        }
    }
    if let Some(a) = &args.expect_audience {
        let aud = audiences(&jwt.claims);
        let want = a.trim().trim_end_matches('/');
        if !aud
            .iter()
            .any(|x| x.trim_end_matches('/').eq_ignore_ascii_case(want))
        {
            failures.push(format!(
                "audience is {}, expected {}",
                if aud.is_empty() {
                    "(none)".to_string()
                } else {
                    aud.join(", ")
                },
                a.trim()
            ));
        }
    }
    failures
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn read_token(args: &InspectArgs) -> Result<String> {
    let raw = if let Some(path) = &args.from {
        crate::storage::read_access_token(path, "--from")?
    } else {
        match args.token.as_deref() {
            Some("-") | None => {
                if args.token.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    return Err(usage(
                        "give a token: mssp-token inspect TOKEN, mssp-token inspect - (stdin) or --from FILE",
                    ));
                }
                let mut s = String::new();
                std::io::stdin()
                    .take(1024 * 1024)
                    .read_to_string(&mut s)
                    .map_err(|e| {
                        usage(format!("cannot read the token from standard input: {e}"))
                    })?;
                s
            }
            Some(t) => t.to_string(),
        }
    };
    let t = raw.trim();
    let t = t.strip_prefix("Bearer ").unwrap_or(t).trim();
    if t.is_empty() {
        return Err(usage("the token is empty"));
    }
    Ok(t.to_string())
}
