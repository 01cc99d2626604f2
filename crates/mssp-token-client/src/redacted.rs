//! Secrets that cannot leak by accident.
//!
//! [`SecretString`] prints `(redacted)` through `Debug` and `Display`; the value is reached only
//! through [`SecretString::expose`]. Every secret the process learns (client secrets, tokens,
//! assertions) is also registered here, and [`scrub`] removes them from any text before it is
//! printed as an error or a log line: a second line of defence behind careful message writing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// A string whose value never reaches `Debug`/`Display` output.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret and registers it for scrubbing.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        SecretString(value)
    }

    /// The secret itself. Call only where the value is sent to Entra or written as the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Every registered secret's spellings ("needles"; each also found percent-, form-, JSON- or
/// HTML-encoded: [`scrub`] searches the text with those layers undone too), indexed so that a
/// scrub costs the same with one secret or ten thousand (a token per tenant of a large
/// `onboard` or `collect`):
/// - a whole needle is found by its LAST 8 bytes (a JWT's signature: unique, whereas tokens of
///   one issuer share their first hundred characters), one lookup per position of the text;
/// - a needle cut short (at the end of the text or at '…') is found by its FIRST 8 bytes, then
///   a range query in the sorted needles.
struct Registry {
    /// Each needle once, shared by the two indexes.
    needles: Vec<Arc<[u8]>>,
    by_tail: HashMap<u64, Vec<u32>, Fx>,
    heads: HashSet<u64, Fx>,
    sorted: BTreeSet<Arc<[u8]>>,
    longest: usize,
    /// The raw values registered, for a constant-time "seen already".
    seen: HashSet<String>,
}

impl Registry {
    fn add(&mut self, value: &str) {
        if !self.seen.insert(value.to_string()) {
            return;
        }
        for n in needles(value) {
            if n.len() < MIN_PARTIAL || self.sorted.contains(&n[..]) {
                continue;
            }
            let n: Arc<[u8]> = n.into();
            let id = self.needles.len() as u32;
            self.by_tail
                .entry(key(&n[n.len() - MIN_PARTIAL..]))
                .or_default()
                .push(id);
            self.heads.insert(key(&n[..MIN_PARTIAL]));
            self.longest = self.longest.max(n.len());
            self.sorted.insert(n.clone());
            self.needles.push(n);
        }
    }
}

/// 8 bytes as one number (the index key).
fn key(b: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&b[..8]);
    u64::from_le_bytes(k)
}

/// A hasher for keys that are already 8 bytes of (mostly random) text: one multiply.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Fx = std::hash::BuildHasherDefault<FxHasher>;

static KNOWN: std::sync::LazyLock<Mutex<Registry>> = std::sync::LazyLock::new(|| {
    Mutex::new(Registry {
        needles: Vec::new(),
        by_tail: HashMap::default(),
        heads: HashSet::default(),
        sorted: BTreeSet::new(),
        longest: 0,
        seen: HashSet::new(),
    })
});

/// Values up to this length also get their base64 spellings (secrets and passwords; a token
/// is already printable, and its base64 is not something a server echoes).
const BASE64_UP_TO: usize = 512;

/// Remembers a secret value so that [`scrub`] can remove it from printed text, in any of the
/// spellings it takes on the way: as is, form-urlencoded, percent-encoded (either hex case,
/// twice over too), JSON-escaped, HTML-escaped, and base64 (standard or URL-safe, alone or
/// inside a longer base64 text such as a Basic authorization).
/// Very short values (under 8 characters) are not registered: scrubbing them would mangle
/// ordinary words, and Entra never issues secrets that short.
pub fn register(value: &str) {
    if value.len() < 8 {
        return;
    }
    if let Ok(mut known) = KNOWN.lock() {
        known.add(value);
    }
}

/// Whether `text` holds a registered secret in any spelling [`scrub`] removes.
pub fn contains_secret(text: &str) -> bool {
    scrub(text) != text
}

fn needles(value: &str) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let mut out = vec![value.as_bytes().to_vec()];
    if value.len() > BASE64_UP_TO {
        return out;
    }
    let n = value.len();
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        // Inside a longer base64 text the value starts 0, 1 or 2 bytes into a 3-byte group;
        // keep the characters that depend on the value's bits alone.
        for k in 0..3 {
            let mut input = vec![0u8; k];
            input.extend_from_slice(value.as_bytes());
            let encoded = engine.encode(&input);
            let from = (8 * k).div_ceil(6);
            let to = (8 * (k + n) / 6).min(encoded.len());
            if to >= from + 8 {
                let needle = encoded.as_bytes()[from..to].to_vec();
                if !out.contains(&needle) {
                    out.push(needle);
                }
            }
        }
    }
    out
}

/// Makes text safe for a terminal: secrets scrubbed, and control characters (escape
/// sequences from a hostile server or input) shown as '?', except newlines and tabs.
pub fn for_terminal(text: &str) -> String {
    scrub(text)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Replaces every registered secret in `text`, in every spelling, with `(redacted)`. A
/// spelling cut short by the end of the text or by '…' (a shortened message) is removed too,
/// once 8 characters of it are there.
pub fn scrub(text: &str) -> String {
    let Ok(known) = KNOWN.lock() else {
        return text.to_string();
    };
    if known.needles.is_empty() {
        return text.to_string();
    }
    // The text as is, then with one and two layers of encoding undone (each kind on its own,
    // and each kind over each); every position maps back to the text.
    let mut views = vec![View::of(text.as_bytes())];
    let mut layer = 0..1;
    for _ in 0..DEPTH {
        let from = views.len();
        for i in layer.clone() {
            for kind in Encoding::ALL {
                if let Some(v) = decoded(&views[i], kind) {
                    if !views.iter().any(|w| w.bytes == v.bytes) {
                        views.push(v);
                    }
                }
            }
        }
        layer = from..views.len();
    }
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for v in &views {
        v.find(&known, &mut cuts);
    }
    if cuts.is_empty() {
        return text.to_string();
    }
    cuts.sort_unstable();
    let t = text.as_bytes();
    let mut out = Vec::with_capacity(t.len());
    let mut at = 0;
    for (from, to) in cuts {
        if to <= at {
            continue;
        }
        let from = from.max(at);
        out.extend_from_slice(&t[at..from]);
        out.extend_from_slice(b"(redacted)");
        at = to;
    }
    out.extend_from_slice(&t[at..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Layers of encoding undone: a form body percent-encoded again, a form body inside JSON...
const DEPTH: usize = 2;
/// Characters of a spelling that must be there when the text ends or is cut short.
const MIN_PARTIAL: usize = 8;

/// A spelling of the text: its bytes, and where each byte (and the end) starts in the text.
struct View {
    bytes: Vec<u8>,
    origin: Vec<usize>,
}

impl View {
    fn of(t: &[u8]) -> View {
        View {
            bytes: t.to_vec(),
            origin: (0..=t.len()).collect(),
        }
    }

    /// Adds the text ranges of every occurrence of a needle, and of a start of one cut short.
    fn find(&self, reg: &Registry, cuts: &mut Vec<(usize, usize)>) {
        let hay = &self.bytes;
        // Whole needles, by the 8 bytes they end with.
        for end in MIN_PARTIAL..=hay.len() {
            let Some(ids) = reg.by_tail.get(&key(&hay[end - MIN_PARTIAL..end])) else {
                continue;
            };
            for &id in ids {
                let n = &reg.needles[id as usize];
                if end >= n.len() && hay[end - n.len()..end] == n[..] {
                    cuts.push((self.origin[end - n.len()], self.origin[end]));
                }
            }
        }
        // Cut short: the text, or a part of it ending in '…', ends with a start of a needle
        // (at least 8 bytes of it); the longest such start is cut.
        let stops = hay
            .windows(ELLIPSIS.len())
            .enumerate()
            .filter(|(_, w)| *w == ELLIPSIS)
            .map(|(i, _)| i)
            .chain(std::iter::once(hay.len()));
        for stop in stops {
            let earliest = stop.saturating_sub(reg.longest);
            for s in earliest..=stop.saturating_sub(MIN_PARTIAL) {
                if stop - s < MIN_PARTIAL || !reg.heads.contains(&key(&hay[s..s + MIN_PARTIAL])) {
                    continue;
                }
                let part = &hay[s..stop];
                let starts_one = reg
                    .sorted
                    .range::<[u8], _>((std::ops::Bound::Included(part), std::ops::Bound::Unbounded))
                    .next()
                    .is_some_and(|n| n.starts_with(part));
                if starts_one {
                    cuts.push((self.origin[s], self.origin[stop]));
                    break;
                }
            }
        }
    }
}

const ELLIPSIS: &[u8] = "…".as_bytes();

/// The encodings a secret may come back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// `%HH`, and `+` for a space (application/x-www-form-urlencoded).
    Form,
    /// `%HH` alone (a '+' stays a '+').
    Percent,
    /// JSON's backslash escapes and `\uXXXX`.
    Json,
    /// HTML's `&amp;`-style and `&#N;` entities.
    Html,
}

impl Encoding {
    const ALL: [Encoding; 4] = [
        Encoding::Form,
        Encoding::Percent,
        Encoding::Json,
        Encoding::Html,
    ];

    fn marks(self) -> &'static [u8] {
        match self {
            Encoding::Form => b"%+",
            Encoding::Percent => b"%",
            Encoding::Json => b"\\",
            Encoding::Html => b"&",
        }
    }
}

/// `v` with one layer of `kind` undone; None if nothing changed.
fn decoded(v: &View, kind: Encoding) -> Option<View> {
    let t = &v.bytes;
    if !t.iter().any(|b| kind.marks().contains(b)) {
        return None;
    }
    let mut bytes = Vec::with_capacity(t.len());
    let mut origin = Vec::with_capacity(t.len() + 1);
    let mut changed = false;
    let mut i = 0;
    while i < t.len() {
        let (out, used) = match decode_one(t, i, kind) {
            Some(d) => {
                changed = true;
                d
            }
            None => (vec![t[i]], 1),
        };
        for b in out {
            bytes.push(b);
            origin.push(v.origin[i]);
        }
        i += used;
    }
    origin.push(v.origin[t.len()]);
    changed.then_some(View { bytes, origin })
}

/// The bytes one escape of `kind` at `i` stands for, and its length; None if there is none.
fn decode_one(t: &[u8], i: usize, kind: Encoding) -> Option<(Vec<u8>, usize)> {
    let rest = &t[i..];
    match (rest[0], kind) {
        (b'%', Encoding::Form | Encoding::Percent) => {
            hex(rest.get(1..3)?).map(|v| (vec![v as u8], 3))
        }
        (b'+', Encoding::Form) => Some((vec![b' '], 1)),
        (b'\\', Encoding::Json) => {
            let short = match *rest.get(1)? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let unit = hex(rest.get(2..6)?)?;
                    if (0xD800..0xDC00).contains(&unit) && rest.get(6..8) == Some(b"\\u") {
                        if let Some(low) = rest.get(8..12).and_then(hex) {
                            let c = char::decode_utf16([unit as u16, low as u16]).next()?.ok()?;
                            return Some((c.to_string().into_bytes(), 12));
                        }
                    }
                    let c = char::from_u32(unit)?;
                    return Some((c.to_string().into_bytes(), 6));
                }
                _ => return None,
            };
            Some((vec![short], 2))
        }
        (b'&', Encoding::Html) => {
            for (name, b) in [
                (&b"&amp;"[..], b'&'),
                (b"&lt;", b'<'),
                (b"&gt;", b'>'),
                (b"&quot;", b'"'),
                (b"&apos;", b'\''),
            ] {
                if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
                    return Some((vec![b], name.len()));
                }
            }
            let (radix, at) = match rest.get(1..3)? {
                [b'#', b'x'] | [b'#', b'X'] => (16, 3),
                [b'#', _] => (10, 2),
                _ => return None,
            };
            let len = rest[at..]
                .iter()
                .take(8)
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if len == 0 || rest.get(at + len) != Some(&b';') {
                return None;
            }
            let digits = std::str::from_utf8(&rest[at..at + len]).ok()?;
            let c = char::from_u32(u32::from_str_radix(digits, radix).ok()?)?;
            Some((c.to_string().into_bytes(), at + len + 1))
        }
        _ => None,
    }
}

fn hex(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = SecretString::new("canary-value-123456");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(s.expose(), "canary-value-123456");
    }

    #[test]
    fn scrub_removes_registered_values() {
        let _s = SecretString::new("another-canary-98765");
        assert_eq!(
            scrub("failed with another-canary-98765 inside"),
            "failed with (redacted) inside"
        );
    }

    /// Every way a form body, JSON, HTML or base64 can spell a secret.
    #[test]
    fn scrub_removes_encoded_spellings() {
        let secret = "tilde~plus+slash/ space&amp%pct\"quote-CANARY-e5c1";
        let _s = SecretString::new(secret);
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let pct = |upper: bool| -> String {
            secret
                .bytes()
                .map(|b| match b {
                    _ if b.is_ascii_alphanumeric() => (b as char).to_string(),
                    _ if upper => format!("%{b:02X}"),
                    _ => format!("%{b:02x}"),
                })
                .collect()
        };
        let (pct_upper, pct_lower) = (pct(true), pct(false));
        let every_byte: String = secret.bytes().map(|b| format!("%{b:02x}")).collect();
        let json = serde_json::to_string(secret).unwrap();
        let json_u: String = secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let form_in_json = serde_json::to_string(&format!("client_secret={form}&x=1")).unwrap();
        let twice: String = url::form_urlencoded::byte_serialize(form.as_bytes()).collect();
        let html = secret.replace('&', "&amp;").replace('"', "&quot;");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("b64a329e-a098-404b-99fd-26066cccda7e:{secret}"));
        for spelled in [
            secret.to_string(),
            form.clone(),
            pct_upper,
            pct_lower,
            every_byte,
            json,
            json_u,
            form_in_json,
            twice,
            html,
            b64,
            b64url,
            basic,
        ] {
            let text = format!("the server said: client_secret={spelled}&grant_type=x");
            let out = scrub(&text);
            assert!(out.contains("(redacted)"), "{spelled} -> {out}");
            assert!(!out.contains("CANARY"), "{spelled} -> {out}");
            assert!(!out.contains("space"), "{spelled} -> {out}");
            assert!(
                out.ends_with("grant_type=x") || out.ends_with("grant_type=x\""),
                "{out}"
            );
        }
        // Cut short by a shortened message, or by the end of the text.
        let out = scrub(&format!("said: {}…", &form[..20]));
        assert_eq!(out, "said: (redacted)…");
        let out = scrub(&format!("said: {}", &form[..20]));
        assert_eq!(out, "said: (redacted)");
        // Ordinary text is left alone.
        let plain = "AADSTS7000215: Invalid client secret provided. 100% sure & \\\"quoted\\\" +1";
        assert_eq!(scrub(plain), plain);
    }

    #[test]
    fn thousands_of_tokens_sharing_a_prefix_are_each_found_whole_or_cut_short() {
        let head = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6InNhbmRib3gifQ.eyJhdWQiOiJodHRwczovL2dyYXBo";
        let tok = |i: usize| format!("{head}.{i:08}-payload-{:016x}.sig{:08}", i * 7919, i);
        for i in 0..3000 {
            register(&tok(i));
        }
        let whole = tok(1234);
        let text = format!("got {whole} from the API");
        assert_eq!(scrub(&text), "got (redacted) from the API");
        // Cut short at the end, and at an ellipsis: the shared head alone is cut too (it is
        // the start of a token), and the words around stay.
        let cut = &tok(2999)[..head.len() + 12];
        assert_eq!(scrub(&format!("token: {cut}")), "token: (redacted)");
        assert_eq!(
            scrub(&format!("token: {cut}… (truncated)")),
            "token: (redacted)… (truncated)"
        );
        // A text that merely looks alike is left alone.
        assert_eq!(
            scrub("eyJ0eXAiOiJKV1Qi is a header"),
            "eyJ0eXAiOiJKV1Qi is a header"
        );
    }

    #[test]
    fn hostile_text_stays_fast_and_intact() {
        let _s = SecretString::new("%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%x");
        let text = "%25".repeat(5000) + &"\\u0025".repeat(2000) + " end";
        assert_eq!(scrub(&text), text);
    }
}
