//! Printing results: stdout carries only the result, in the format asked for.

use crate::token::{relative, TokenSet};

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
        Format::Json => json(set),
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

/// The contract's JSON object, one line.
pub fn json(set: &TokenSet) -> String {
    let mut s = serde_json::to_string(set).unwrap_or_else(|_| "{}".to_string());
    s.push('\n');
    s
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
            expires_at: crate::token::rfc3339(4599),
            tenant_id: "t".into(),
            client_id: "c".into(),
            resource: Some("r".into()),
            scope: None,
            endpoint: "v1".into(),
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
