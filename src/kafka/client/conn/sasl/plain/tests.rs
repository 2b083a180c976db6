use super::*;

#[test]
fn matches_rfc_4616_with_an_empty_authzid() {
    // RFC 4616 section 4: "\0tim\0tanstaaftanstaaf" (no authzid).
    let msg = initial_response("tim", "tanstaaftanstaaf").unwrap();
    assert_eq!(&msg[..], b"\0tim\0tanstaaftanstaaf");
}

#[test]
fn utf8_travels_as_is() {
    let msg = initial_response("jörg", "pässwörd").unwrap();
    assert_eq!(&msg[..], "\0jörg\0pässwörd".as_bytes());
}

#[test]
fn nul_in_a_field_is_refused() {
    let err = initial_response("a\0b", "pw").unwrap_err();
    assert!(err.to_string().contains("user name"), "{err}");
    let err = initial_response("ab", "p\0w").unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    assert!(!err.to_string().contains("p\0w"));
}
