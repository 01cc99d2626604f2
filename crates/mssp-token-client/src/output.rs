//! Printing results: stdout carries only the result, in the format asked for.

use crate::error::{fail, Exit};
use crate::time::relative;
use crate::token::TokenSet;
use std::io::Write;

/// Output formats of a token set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// the seed script's layout: ---- TOKEN ---- / ---- REFRESH TOKEN ---- and the expiry
    Text,
    /// one JSON object
    Json,
    /// `export MSSP_ACCESS_TOKEN=...` lines for a shell
    Env,
    /// the access token alone
    Raw,
}

/// Renders a token set for stdout.
pub fn render(set: &TokenSet, format: Format, now: u64) -> String {
    match format {
        Format::Json => set.to_json(),
        Format::Raw => format!("{}\n", set.access_token),
        Format::Env => {
            let mut out = format!("export MSSP_ACCESS_TOKEN='{}'\n", set.access_token);
            if let Some(rt) = &set.refresh_token {
                out.push_str(&format!("export MSSP_REFRESH_TOKEN='{rt}'\n"));
            }
            out.push_str(&format!(
                "export MSSP_TOKEN_EXPIRES_ON='{}'\n",
                set.expires_on
            ));
            out.push_str(&format!("export MSSP_TENANT_ID='{}'\n", set.tenant_id));
            out
        }
        Format::Text => {
            let mut out = format!("---- TOKEN ----\n{}\n", set.access_token);
            if let Some(rt) = &set.refresh_token {
                out.push_str(&format!("---- REFRESH TOKEN ----\n{rt}\n"));
            }
            out.push_str(&format!(
                "---- EXPIRES ----\n{} ({})\n",
                set.expires_at,
                relative(set.expires_on, now)
            ));
            out
        }
    }
}

/// Writes `text` to stdout and flushes it; a closed stdout is a storage error (exit 7).
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| {
            fail(
                Exit::Storage,
                format!("cannot write to standard output: {e}"),
            )
        })
}

/// Prints a token set in `format`.
pub fn print(set: &TokenSet, format: Format) -> anyhow::Result<()> {
    stdout(&render(set, format, crate::time::now_epoch()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> TokenSet {
        TokenSet {
            token_type: "Bearer".into(),
            access_token: "AT".into(),
            refresh_token: Some("RT".into()),
            id_token: None,
            expires_in: 3599,
            expires_on: 4599,
            expires_at: crate::time::rfc3339(4599),
            tenant_id: "t".into(),
            client_id: "c".into(),
            resource: Some("r".into()),
            scope: None,
            endpoint: "v1".into(),
            claims: Default::default(),
        }
    }

    #[test]
    fn formats() {
        let s = set();
        let text = render(&s, Format::Text, 1000);
        assert!(
            text.starts_with("---- TOKEN ----\nAT\n---- REFRESH TOKEN ----\nRT\n"),
            "{text}"
        );
        assert!(text.contains("in 59 min"), "{text}");
        assert_eq!(render(&s, Format::Raw, 0), "AT\n");
        assert!(render(&s, Format::Env, 0).contains("export MSSP_REFRESH_TOKEN='RT'"));
        let v: serde_json::Value = serde_json::from_str(&render(&s, Format::Json, 0)).unwrap();
        assert_eq!(v["expires_on"], 4599);
        assert_eq!(v["endpoint"], "v1");
        assert!(v.get("scope").is_none());
    }
}
