//! The chat archive's random keys: sealed with the customer's public key as WeCom does
//! (PKCS#1 v1.5), opened with the private key; named refusals for what does not open.

use chatvault_connect::finance::{encrypt_random_key, PrivateKey};
use chatvault_connect::Refusal;

const PRIVATE: &str = include_str!("../../chatvault/tests/fixtures/finance-test-rsa.pem");
const PUBLIC: &str = include_str!("../../chatvault/tests/fixtures/finance-test-rsa.pub.pem");

#[test]
fn a_sealed_random_key_opens_with_its_private_key_and_nothing_else_does() {
    let key = PrivateKey::from_pem(PRIVATE).expect("the test key");
    let sealed =
        encrypt_random_key(PUBLIC, "0123456789abcdef", &mut rand::thread_rng()).expect("seal");
    assert_eq!(key.random_key(&sealed).expect("open"), "0123456789abcdef");
    let mut flipped = base64_flip(&sealed);
    type Case = (&'static str, String, fn(&Refusal) -> bool);
    let cases: Vec<Case> = vec![
        ("not base64", "not base64!".into(), |r| {
            matches!(r, Refusal::Malformed("encrypt_random_key", _))
        }),
        ("a flipped byte", std::mem::take(&mut flipped), |r| {
            matches!(r, Refusal::BadKey(_))
        }),
        ("too short", "AAAA".into(), |r| {
            matches!(r, Refusal::BadKey(_))
        }),
    ];
    for (name, input, want) in cases {
        let got = key.random_key(&input).expect_err(name);
        assert!(want(&got), "{name}: {got}");
    }
    for (name, pem) in [
        ("empty", ""),
        ("a public key", PUBLIC),
        (
            "not PEM",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
        ),
    ] {
        assert!(PrivateKey::from_pem(pem).is_err(), "{name}");
    }
}

fn base64_flip(b64: &str) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    let mut raw = e.decode(b64).expect("base64");
    raw[10] ^= 1;
    e.encode(raw)
}
