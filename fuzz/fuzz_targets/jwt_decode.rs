#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(j) = mssp_token_client::jwt::Jwt::decode(s) {
            let _ = (j.tenant_id(), j.roles(), j.num_claim("exp"));
        }
    }
});
