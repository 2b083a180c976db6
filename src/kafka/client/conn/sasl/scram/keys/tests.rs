use super::*;

#[test]
fn hmac_sha256_matches_rfc_4231_case_2() {
    let got = hmac(ScramHash::Sha256, b"Jefe", b"what do ya want for nothing?");
    let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    assert_eq!(hex(&got), want);
    assert!(verify(
        ScramHash::Sha256,
        b"Jefe",
        b"what do ya want for nothing?",
        &got
    ));
    assert!(!verify(
        ScramHash::Sha256,
        b"Jefe",
        b"what do ya want",
        &got
    ));
    assert!(!verify(
        ScramHash::Sha256,
        b"Jefe",
        b"what do ya want for nothing?",
        &got[..31]
    ));
}

#[test]
fn output_lengths_follow_the_hash() {
    assert_eq!(salted_password(ScramHash::Sha256, b"p", b"s", 1).len(), 32);
    assert_eq!(salted_password(ScramHash::Sha512, b"p", b"s", 1).len(), 64);
    assert_eq!(digest(ScramHash::Sha512, b"").len(), 64);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
