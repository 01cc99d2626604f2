//! Property tests for the parsers that take untrusted input: arbitrary input never panics, and
//! valid input round-trips.

// The client library under test, in one `use`: re-point it here if the library moves again.
use mssp_token_client::{
    entra::response::EntraTokenResponse,
    jwt::Jwt,
    redirect::{parse_pasted, parse_query, Redirect},
    tenants_file,
};

use base64::Engine;
use proptest::prelude::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn redirect_query_never_panics(q in ".{0,300}") {
        let _ = parse_query(&q);
        let _ = parse_pasted(&q, "state");
    }

    #[test]
    fn redirect_query_round_trips(code in "[A-Za-z0-9._~-]{1,200}", state in "[A-Za-z0-9_-]{8,64}") {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", &state)
            .append_pair("session_state", "x")
            .finish();
        match parse_query(&q) {
            Ok(Redirect::Code { code: c, state: s }) => {
                prop_assert_eq!(c.expose(), code.as_str());
                prop_assert_eq!(s.as_deref(), Some(state.as_str()));
            }
            other => prop_assert!(false, "{:?}", other),
        }
        let pasted = format!("https://mssp.example.com/SiemMsspConnector?{q}");
        let ok = matches!(parse_pasted(&pasted, &state), Ok(Redirect::Code { .. }));
        prop_assert!(ok);
        prop_assert!(parse_pasted(&pasted, "another-state").is_err());
    }

    #[test]
    fn jwt_decode_never_panics(t in ".{0,400}") {
        let _ = Jwt::decode(&t);
    }

    #[test]
    fn jwt_decode_never_panics_on_dotted_base64(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,40}") {
        let _ = Jwt::decode(&format!("{a}.{b}.{c}"));
    }

    #[test]
    fn jwt_claims_round_trip(tid in "[a-f0-9-]{1,36}", roles in proptest::collection::vec("[A-Za-z.]{1,20}", 0..5), exp in 0u64..4_000_000_000) {
        let claims = serde_json::json!({"tid": tid, "roles": roles, "exp": exp});
        let t = format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(&claims.to_string()));
        let j = Jwt::decode(&t).unwrap();
        prop_assert_eq!(&j.claims, &claims);
        prop_assert_eq!(j.roles(), roles);
        prop_assert_eq!(j.num_claim("exp"), Some(exp));
    }

    #[test]
    fn token_response_never_panics(body in ".{0,400}") {
        let _ = serde_json::from_str::<EntraTokenResponse>(&body);
    }

    #[test]
    fn token_response_v1_strings_equal_v2_numbers(expires_in in 0u64..1_000_000, on in 0u64..4_000_000_000, at in "[A-Za-z0-9._-]{1,100}") {
        let v1 = format!(r#"{{"token_type":"Bearer","expires_in":"{expires_in}","expires_on":"{on}","access_token":"{at}"}}"#);
        let v2 = format!(r#"{{"token_type":"Bearer","expires_in":{expires_in},"expires_on":{on},"access_token":"{at}"}}"#);
        let a: EntraTokenResponse = serde_json::from_str(&v1).unwrap();
        let b: EntraTokenResponse = serde_json::from_str(&v2).unwrap();
        prop_assert_eq!(
            &a.expires_in,
            &Some(mssp_token_client::entra::lifetime::Numeric::Whole(expires_in))
        );
        prop_assert_eq!(a.expires_in, b.expires_in);
        prop_assert_eq!(a.expires_on, b.expires_on);
        prop_assert_eq!(a.access_token.secret(), b.access_token.secret());
    }

    #[test]
    fn tenants_file_never_panics(text in ".{0,400}") {
        let _ = tenants_file::parse(&text, "f");
    }

    #[test]
    fn tenants_list_round_trips(names in proptest::collection::btree_set("[a-z][a-z0-9]{0,10}", 1..30)) {
        let domains: Vec<String> = names.iter().map(|n| format!("{n}.onmicrosoft.com")).collect();
        let text = format!("# customers\n{}\n", domains.join("\n"));
        let f = tenants_file::parse(&text, "f").unwrap();
        let got: Vec<String> = f.tenants.iter().map(|t| t.tenant.clone()).collect();
        prop_assert_eq!(got, domains);
    }

    #[test]
    fn tenants_toml_round_trips(names in proptest::collection::btree_set("[a-z][a-z0-9]{0,10}", 1..20)) {
        let mut text = String::from("[defaults]\nclient_id = \"b64a329e-a098-404b-99fd-26066cccda7e\"\n");
        for n in &names {
            text.push_str(&format!("\n[[tenant]]\nname = \"{n}\"\ntenant = \"{n}.onmicrosoft.com\"\n"));
        }
        let f = tenants_file::parse(&text, "f").unwrap();
        prop_assert_eq!(f.tenants.len(), names.len());
        for (t, n) in f.tenants.iter().zip(names.iter()) {
            prop_assert_eq!(&t.name, n);
        }
    }
}
