use super::*;

fn first_err(msg: &str) -> SaslError {
    server_first(msg.as_bytes(), 100_000).unwrap_err()
}

fn attribute_of(err: &SaslError) -> &'static str {
    match err {
        SaslError::MalformedServerMessage { attribute, .. } => attribute,
        other => panic!("not a malformed-message error: {other}"),
    }
}

#[test]
fn reads_server_first_and_ignores_extensions() {
    let msg = b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,x=ext";
    let got = server_first(msg, 100_000).unwrap();
    assert_eq!(got.nonce, "abcdef");
    assert_eq!(got.iterations, 4096);
    assert_eq!(got.salt, B64.decode("QSXCR+Q6sek8bf92").unwrap());
}

#[test]
fn malformed_server_first_names_the_attribute() {
    for (msg, attr) in [
        ("", "r"),
        ("s=QQ==,i=1", "r"),
        ("r=,s=QQ==,i=1", "r"),
        ("r=a\u{7f}b,s=QQ==,i=1", "r"),
        ("r=ab", "s"),
        ("r=ab,i=1,s=QQ==", "s"),
        ("r=ab,s=!!!,i=1", "s"),
        ("r=ab,s=,i=1", "s"),
        ("r=ab,s=QQ==", "i"),
        ("r=ab,s=QQ==,i=", "i"),
        ("r=ab,s=QQ==,i=-5", "i"),
        ("r=ab,s=QQ==,i=12a", "i"),
        ("r=ab,s=QQ==,i= 1", "i"),
        ("m=must,r=ab,s=QQ==,i=1", "m"),
    ] {
        let err = first_err(msg);
        assert_eq!(attribute_of(&err), attr, "{msg:?}: {err}");
        assert!(err.to_string().contains("server-first"), "{err}");
    }
    let err = server_first(b"r=\xff,s=QQ==,i=1", 10).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn iteration_counts_outside_the_bounds_are_refused() {
    for (count, want) in [
        ("0", 0),
        ("100001", 100_001),
        ("4294967296", 4_294_967_296),
        ("99999999999999999999999999", u64::MAX),
    ] {
        let err = first_err(&format!("r=ab,s=QQ==,i={count}"));
        match err {
            SaslError::IterationCount { count, max } => {
                assert_eq!((count, max), (want, 100_000));
            }
            other => panic!("{other}"),
        }
    }
    assert!(server_first(b"r=ab,s=QQ==,i=100000", 100_000).is_ok());
    assert!(server_first(b"r=ab,s=QQ==,i=1", 100_000).is_ok());
}

#[test]
fn reads_server_final() {
    assert_eq!(
        server_final(b"v=AQID").unwrap(),
        ServerFinal::Verifier(vec![1, 2, 3])
    );
    assert_eq!(
        server_final(b"v=AQID,ext=1").unwrap(),
        ServerFinal::Verifier(vec![1, 2, 3])
    );
    assert_eq!(
        server_final(b"e=invalid-proof").unwrap(),
        ServerFinal::Error("invalid-proof".into())
    );
    for msg in [&b""[..], b"x=1", b"v=***", b"V=AQID", b"\xc3"] {
        let err = server_final(msg).unwrap_err();
        assert!(err.to_string().contains("server-final"), "{err}");
    }
}
