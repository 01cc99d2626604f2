//! The small part of OData `$filter` the Defender APIs are used with: `FIELD OP VALUE`, or two of
//! those joined by `and`, where FIELD is a time property, OP is ge, gt, le or lt and VALUE is an
//! ISO 8601 time (`2024-05-01`, `2024-05-01T10:00:00Z`, `...T10:00:00.1234567Z`, `+02:00`,
//! optionally in single quotes). Anything else is refused with a message.

use crate::clock::parse_iso;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Index into the `fields` the filter was parsed with.
    pub field: usize,
    pub op: Op,
    /// Unix milliseconds.
    pub value: i64,
}

impl Clause {
    pub fn matches(&self, t: i64) -> bool {
        match self.op {
            Op::Ge => t >= self.value,
            Op::Gt => t > self.value,
            Op::Le => t <= self.value,
            Op::Lt => t < self.value,
        }
    }
}

/// Parses `raw` against the filterable `fields` (matched case-insensitively).
pub fn parse(raw: &str, fields: &[&str]) -> Result<Vec<Clause>, String> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    let groups: Vec<&[&str]> = match words.len() {
        3 => vec![&words[..]],
        7 if words[3].eq_ignore_ascii_case("and") => vec![&words[..3], &words[4..]],
        _ => {
            return Err(format!(
                "Invalid $filter: the sandbox supports 'PROPERTY OP VALUE' or two such clauses joined by 'and', where PROPERTY is {} and OP is ge, gt, le or lt.",
                fields.join(" or ")
            ))
        }
    };
    groups
        .into_iter()
        .map(|g| {
            let field = fields
                .iter()
                .position(|f| f.eq_ignore_ascii_case(g[0]))
                .ok_or_else(|| {
                    format!(
                        "Invalid $filter: property '{}' cannot be filtered on here (supported: {}).",
                        clip(g[0]),
                        fields.join(", ")
                    )
                })?;
            let op = match g[1].to_ascii_lowercase().as_str() {
                "ge" => Op::Ge,
                "gt" => Op::Gt,
                "le" => Op::Le,
                "lt" => Op::Lt,
                _ => {
                    return Err(format!(
                        "Invalid $filter: operator '{}' is not supported (use ge, gt, le or lt).",
                        clip(g[1])
                    ))
                }
            };
            let v = g[2];
            let v = v
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .unwrap_or(v);
            let value = parse_iso(v).ok_or_else(|| {
                format!(
                    "Invalid $filter: '{}' is not an ISO 8601 date-time (e.g. 2024-05-01T00:00:00Z).",
                    clip(v)
                )
            })?;
            Ok(Clause { field, op, value })
        })
        .collect()
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: [&str; 2] = ["lastUpdateTime", "alertCreationTime"];

    #[test]
    fn one_or_two_time_clauses() {
        let c = parse("lastUpdateTime ge 2024-01-01T00:00:00Z", &F).unwrap();
        assert_eq!(
            c,
            vec![Clause {
                field: 0,
                op: Op::Ge,
                value: 1_704_067_200_000
            }]
        );
        let c = parse(
            "alertcreationtime GT '2024-01-01' AND lastUpdateTime lt 2024-01-02T00:00:00.5Z",
            &F,
        )
        .unwrap();
        assert_eq!((c[0].field, c[0].op, c[1].op), (1, Op::Gt, Op::Lt));
        assert_eq!(c[1].value, 1_704_153_600_500);
        assert!(c[1].matches(1_704_153_600_499) && !c[1].matches(1_704_153_600_500));
        for bad in [
            "",
            "lastUpdateTime ge",
            "severity eq 'High'",
            "lastUpdateTime eq 2024-01-01",
            "lastUpdateTime ge yesterday",
            "lastUpdateTime ge 2024-01-01 or lastUpdateTime lt 2024-02-01",
            "(lastUpdateTime ge 2024-01-01)",
        ] {
            assert!(parse(bad, &F).is_err(), "{bad}");
        }
    }
}
