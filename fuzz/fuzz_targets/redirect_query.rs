#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mssp_token_client::redirect::parse_query(s);
        let _ = mssp_token_client::redirect::parse_pasted(s, "expected-state");
    }
});
