//! `mssp-token report merge`: the reports of N shards into one (flows::merge): the lines on
//! stdout or atomically (0600) in `--out FILE`, one summary on stderr, exit 8 if any tenant
//! failed, exit 2 for a missing shard, a bad line, mixed reports or overlapping shards.

use crate::cli::{MergeArgs, ReportArgs, ReportCommand};
use anyhow::Result;
use mssp_token_client::error::at;
use mssp_token_client::flows::merge;
use std::io::Write;

pub fn run(a: ReportArgs) -> Result<()> {
    match a.command {
        ReportCommand::Merge(m) => run_merge(m),
    }
}

fn run_merge(a: MergeArgs) -> Result<()> {
    merge::check_shards(a.expect_shards, a.reports.len()).map_err(|e| at("--expect-shards:", e))?;
    if let Some(out) = &a.out {
        // Before reading anything: an --out that cannot be written fails now.
        mssp_token_client::store::file::check_writable(out).map_err(|e| at("--out", e))?;
    }
    let reports = merge::read_all(&a.reports)?;
    let merged = merge::merge(&reports)?;
    match &a.out {
        Some(out) => mssp_token_client::store::file::write_atomic(out, merged.text.as_bytes())
            .map_err(|e| at("--out", e))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(merged.text.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|e| {
                    mssp_token_client::error::fail(
                        mssp_token_client::error::Exit::Storage,
                        format!(
                            "cannot write the merged report to stdout ({})",
                            mssp_token_client::error::io_reason(&e)
                        ),
                    )
                })?;
        }
    }
    mssp_token_client::info!("{}", merged.summary());
    merge::outcome(&merged)
}
