//! `mssp-token report merge`: the reports of N shards into one.

use crate::cli::ReportArgs;
use anyhow::Result;

pub fn run(_a: ReportArgs) -> Result<()> {
    Err(mssp_token_client::error::usage("report merge: not built yet"))
}
