//! `mssp-token inspect`: decodes a JWT locally (never sends it anywhere) and, with
//! --require-role / --expect-tenant / --expect-audience, checks it: exit 5 with every reason.

use crate::cli::{InspectArgs, ReportFormat};
use anyhow::Result;
use mssp_token_client::checks::{self, Expectations};
use mssp_token_client::error::{at, fail, usage, Exit};
use mssp_token_client::jwt::Jwt;
use mssp_token_client::time::{now_epoch, relative, rfc3339};
use mssp_token_client::token::Claims;
use serde_json::{json, Value};
use std::io::Read;

pub fn run(args: InspectArgs) -> Result<()> {
    let token = read_token(&args)?;
    mssp_token_client::redacted::register(&token);
    let jwt = Jwt::decode(&token)?;
    let now = now_epoch();
    let expect = Expectations {
        roles: args.require_role.clone(),
        tenant: args.expect_tenant.clone(),
        audience: args.expect_audience.clone(),
    };
    let failures = checks::failures(&Claims::of(&jwt), jwt.num_claim("nbf"), &expect, now);
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
            mssp_token_client::output::stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            ))?;
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
            mssp_token_client::output::stdout(&out)?;
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

fn read_token(args: &InspectArgs) -> Result<String> {
    let raw = if let Some(name) = &args.profile {
        let name = crate::args::profile_name(name)?;
        let store = crate::args::profiles(&args.store)?;
        store.load(&name)?.set.access_token
    } else if let Some(path) = &args.from {
        mssp_token_client::store::file::read_access_token(path).map_err(|e| at("--from", e))?
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
