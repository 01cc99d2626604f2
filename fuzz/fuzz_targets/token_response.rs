#![no_main]
use libfuzzer_sys::fuzz_target;
use mssp_token_client::entra::response::EntraTokenResponse;
use mssp_token_client::token::{Target, TokenSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<EntraTokenResponse>(data) {
        let t = Target::Resource("https://api.securitycenter.microsoft.com".into());
        let _ = r.token_set(&t, "cid", 1_700_000_000);
    }
    let _ = serde_json::from_slice::<mssp_token_client::entra::EntraErrorResponse>(data);
    let _ = TokenSet::from_json(data);
});
