//! `mssp-token collect`.

use crate::cli::CollectArgs;
use anyhow::Result;

pub async fn run(_a: CollectArgs) -> Result<()> {
    Err(mssp_token_client::error::usage("collect: not built yet"))
}
