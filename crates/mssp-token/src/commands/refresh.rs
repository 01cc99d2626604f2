//! `mssp-token refresh --from FILE`: redeems a saved refresh token (optionally for another
//! resource or scope) at the authority the file records, and writes the rotated one back to the
//! file.

use crate::args::{self, DefaultTarget};
use crate::cli::RefreshArgs;
use anyhow::Result;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::error::{at, usage};
use mssp_token_client::flows::refresh;
use mssp_token_client::store::file::TokenFiles;

pub async fn run(mut a: RefreshArgs) -> Result<()> {
    let key = a.from.to_string_lossy().into_owned();
    let store = TokenFiles;
    let (saved, _) = refresh::load(&store, &key).map_err(|e| at("--from", e))?;
    // Tenant, client and target come from the file unless given; authority and cloud always.
    let id_args = &mut a.identity;
    if id_args.tenant.is_none() {
        id_args.tenant = Some(saved.tenant_id.clone());
    }
    if id_args.client_id.is_none() {
        id_args.client_id = Some(saved.client_id.clone());
    }
    if id_args.scope.is_empty() && id_args.resource.is_none() {
        match saved.target() {
            Some(mssp_token_client::token::Target::Resource(r)) => id_args.resource = Some(r),
            Some(mssp_token_client::token::Target::Scopes(s)) => id_args.scope = s,
            None => {
                return Err(usage(format!(
                    "--from {}: the file names neither a resource nor a scope; pass --resource or --scope",
                    a.from.display()
                )))
            }
        }
    }
    args::refresh_origin(id_args, &saved, &a.from)?;
    let id = args::identity(&a.identity, DefaultTarget::Resource(ApiTarget::Mde))?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let set = refresh::redeem(&http, &id, &store, &key).await?;
    mssp_token_client::output::print(&set, args::format(a.output))
}
