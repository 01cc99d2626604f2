//! `mssp-token status`: the offline inventory of every profile (placeholder; see flows::inventory).

use crate::cli::StatusArgs;
use anyhow::Result;

pub fn run(a: StatusArgs) -> Result<()> {
    let store = crate::args::profiles(&a.store)?;
    for name in store.names()? {
        println!("{name}");
    }
    Ok(())
}
