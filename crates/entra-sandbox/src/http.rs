//! A minimal request/response model, independent of the HTTP server (server.rs) so handlers are
//! plain functions.

use serde_json::Value;

/// Request bodies larger than this get 413.
pub const MAX_BODY: usize = 64 * 1024;
/// Request targets (path + query) longer than this get 414.
pub const MAX_URL: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Req {
    /// Upper-case method.
    pub method: String,
    /// Path without the query, as received (not percent-decoded).
    pub path: String,
    /// Raw query string, without '?'.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Splits a request target ("/a/b?x=1") into path and query.
    pub fn new(method: &str, target: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Req {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let path = path.split('#').next().unwrap_or("");
        Req {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_params(&self) -> Params {
        Params::parse(self.query.as_bytes())
    }

    pub fn form_params(&self) -> Params {
        Params::parse(&self.body)
    }
}

/// Form or query parameters; the first occurrence of a name wins.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses application/x-www-form-urlencoded bytes (invalid UTF-8 is replaced, never fatal).
    pub fn parse(bytes: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The value of `name`, treating an empty value as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Resp {
        Resp {
            status,
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Cache-Control".into(), "no-store, no-cache".into()),
                ("Pragma".into(), "no-cache".into()),
                ("X-Content-Type-Options".into(), "nosniff".into()),
            ],
            body,
        }
    }

    pub fn json(status: u16, v: &Value) -> Resp {
        Resp::new(
            status,
            "application/json; charset=utf-8",
            v.to_string().into_bytes(),
        )
    }

    pub fn html(status: u16, page: String) -> Resp {
        Resp::new(status, "text/html; charset=utf-8", page.into_bytes())
    }

    pub fn redirect(location: &str) -> Resp {
        Resp::new(302, "text/html; charset=utf-8", Vec::new()).with_header("Location", location)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Resp {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    #[cfg(test)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A JSON error for things outside the Entra protocol (404, 405, 413, ...).
    pub fn plain_error(status: u16, error: &str, description: &str) -> Resp {
        Resp::json(
            status,
            &serde_json::json!({"error": error, "error_description": description}),
        )
    }
}
