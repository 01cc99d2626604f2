//! `mssp-token token`: an app-only token by client credentials, checked (tenant, roles) before
//! anything is printed.

use crate::args::{self, DefaultTarget};
use crate::cli::TokenArgs;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::flows::app_only;

pub async fn run(a: TokenArgs) -> anyhow::Result<()> {
    let id = args::identity(&a.identity, DefaultTarget::Scope(ApiTarget::Mde))?;
    app_only::check_app_only(&id)?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let set = app_only::token(&http, &id, !a.no_cache).await?;
    mssp_token_client::checks::roles_present(&set, &a.require_role)?;
    super::deliver(
        &set,
        args::format(a.output.output),
        a.output.save.as_deref(),
    )
}
