//! Printing results: stdout carries only the result, in the format asked for.
//!
//! What is printed was checked on arrival (`entra/shapes.rs`), and is checked again here, since a
//! set can also come from a token file or the cache: `-o text` and `-o raw` never copy a control
//! or escape byte to the terminal. `-o env` single-quotes every value (a `'` inside becomes
//! `'\''`), so `eval "$(mssp-token ... -o env)"` only ever sets variables.

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

/// A value as one single-quoted shell word: `'` inside becomes `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Renders a token set for stdout, after checking that every value it prints has the shape
/// of what Entra sends ([`crate::entra::shapes::printable_set`]).
pub fn render(set: &TokenSet, format: Format, now: u64) -> anyhow::Result<String> {
    crate::entra::shapes::printable_set(set).map_err(|why| {
        fail(
            Exit::Storage,
            format!(
                "refusing to print the token: its {why}. Entra ID never sends that, so the token file or cache entry it came from was altered; delete it and get a new token"
            ),
        )
    })?;
    Ok(match format {
        Format::Json => set.to_json(),
        Format::Raw => format!("{}\n", set.access_token),
        Format::Env => {
            let mut out = format!("export MSSP_ACCESS_TOKEN={}\n", sh_quote(&set.access_token));
            if let Some(rt) = &set.refresh_token {
                out.push_str(&format!("export MSSP_REFRESH_TOKEN={}\n", sh_quote(rt)));
            }
            out.push_str(&format!(
                "export MSSP_TOKEN_EXPIRES_ON={}\n",
                sh_quote(&set.expires_on.to_string())
            ));
            out.push_str(&format!(
                "export MSSP_TENANT_ID={}\n",
                sh_quote(&set.tenant_id)
            ));
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
    })
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
    stdout(&render(set, format, crate::time::now_epoch())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> TokenSet {
        TokenSet {
            token_type: "Bearer".into(),
            access_token: AT.into(),
            refresh_token: Some("0.ARt-1".into()),
            id_token: None,
            expires_in: 3599,
            expires_on: 4599,
            expires_at: crate::time::rfc3339(4599),
            tenant_id: TID.into(),
            client_id: "c".into(),
            resource: Some("r".into()),
            scope: None,
            endpoint: "v1".into(),
            authority: None,
            cloud: None,
            claims: Default::default(),
        }
    }

    const AT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2ln";
    const TID: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";

    #[test]
    fn formats() {
        let s = set();
        let text = render(&s, Format::Text, 1000).unwrap();
        assert!(
            text.starts_with(&format!(
                "---- TOKEN ----\n{AT}\n---- REFRESH TOKEN ----\n0.ARt-1\n"
            )),
            "{text}"
        );
        assert!(text.contains("in 59 min"), "{text}");
        assert_eq!(render(&s, Format::Raw, 0).unwrap(), format!("{AT}\n"));
        let env = render(&s, Format::Env, 0).unwrap();
        assert!(env.contains("export MSSP_REFRESH_TOKEN='0.ARt-1'"), "{env}");
        assert!(
            env.contains(&format!("export MSSP_TENANT_ID='{TID}'")),
            "{env}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(&s, Format::Json, 0).unwrap()).unwrap();
        assert_eq!(v["expires_on"], 4599);
        assert_eq!(v["endpoint"], "v1");
        assert!(v.get("scope").is_none());
    }

    #[test]
    fn quoting_is_for_the_shell() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn altered_sets_are_not_printed() {
        for (field, bad) in [
            ("refresh_token", "0.A';touch x;'"),
            ("access_token", "a.b\u{1b}[31m.c"),
            ("tenant_id", "x\ny"),
        ] {
            let mut s = set();
            match field {
                "refresh_token" => s.refresh_token = Some(bad.into()),
                "access_token" => s.access_token = bad.into(),
                _ => s.tenant_id = bad.into(),
            }
            for f in [Format::Text, Format::Raw, Format::Env, Format::Json] {
                let e = render(&s, f, 0).unwrap_err().to_string();
                assert!(e.contains(field), "{e}");
                assert!(!e.contains("touch") && !e.contains('\u{1b}'), "{e}");
            }
        }
    }
}
