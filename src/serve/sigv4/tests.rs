use super::*;
use axum::http::Request;

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn verifier() -> Verifier {
    Verifier::new(
        HashMap::from([(KEY.to_string(), Zeroizing::new(SECRET.to_string()))]),
        "us-east-1",
    )
}

/// A request signed as an SDK signs it, with `secret`, at `time`.
fn signed(secret: &str, region: &str, time: SystemTime, body: &[u8]) -> (Parts, Vec<u8>) {
    let mut request = Request::builder()
        .method("PUT")
        .uri("/2015-03-31/event-source-mappings/f89f8514-cdd9-4602-9e1f-01a5b77d449b?x=a%20b")
        .header("host", "127.0.0.1:9001")
        .header("content-type", "application/json")
        .body(body.to_vec())
        .unwrap();
    let identity = Credentials::new(KEY, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params.into()).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    let (parts, body) = request.into_parts();
    (parts, body)
}

fn kind(r: Result<(), ApiError>) -> &'static str {
    r.err().map_or("ok", |e| e.kind)
}

#[test]
fn a_request_signed_with_the_right_secret_verifies() {
    let now = SystemTime::now();
    let (parts, body) = signed(SECRET, "us-east-1", now, b"{\"BatchSize\": 5}");
    assert_eq!(kind(verifier().verify(&parts, &body, now)), "ok");
}

#[test]
fn a_wrong_secret_a_changed_body_or_path_does_not() {
    let now = SystemTime::now();
    let v = verifier();
    let (parts, body) = signed("wrong", "us-east-1", now, b"{}");
    assert_eq!(
        kind(v.verify(&parts, &body, now)),
        "InvalidSignatureException"
    );
    let (parts, _) = signed(SECRET, "us-east-1", now, b"{\"BatchSize\": 5}");
    assert_eq!(
        kind(v.verify(&parts, b"{\"BatchSize\": 6}", now)),
        "InvalidSignatureException"
    );
    let (mut parts, body) = signed(SECRET, "us-east-1", now, b"{}");
    parts.uri = "/2015-03-31/event-source-mappings/other".parse().unwrap();
    assert_eq!(
        kind(v.verify(&parts, &body, now)),
        "InvalidSignatureException"
    );
}

#[test]
fn unknown_keys_stale_times_other_regions_and_unsigned_requests_are_refused() {
    let now = SystemTime::now();
    let (parts, body) = signed(SECRET, "us-east-1", now, b"{}");
    let other = Verifier::new(
        HashMap::from([("AKIDOTHER".to_string(), Zeroizing::new(SECRET.to_string()))]),
        "us-east-1",
    );
    assert_eq!(
        kind(other.verify(&parts, &body, now)),
        "UnrecognizedClientException"
    );
    let later = now + Duration::from_secs(16 * 60);
    assert_eq!(
        kind(verifier().verify(&parts, &body, later)),
        "InvalidSignatureException"
    );
    let (parts, body) = signed(SECRET, "eu-west-1", now, b"{}");
    assert_eq!(
        kind(verifier().verify(&parts, &body, now)),
        "InvalidSignatureException"
    );
    let (mut parts, body) = signed(SECRET, "us-east-1", now, b"{}");
    parts.headers.remove("authorization");
    assert_eq!(
        kind(verifier().verify(&parts, &body, now)),
        "MissingAuthenticationTokenException"
    );
    parts
        .headers
        .insert("authorization", "Basic abc".parse().unwrap());
    assert_eq!(
        kind(verifier().verify(&parts, &body, now)),
        "IncompleteSignatureException"
    );
}

#[test]
fn amz_dates_parse_to_their_instant() {
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
    );
    assert_eq!(
        parse_amz_date("20000229T000000Z"),
        Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
    );
    for bad in [
        "2015083T123600Z",
        "20151330T123600Z",
        "20150830 123600Z",
        "2015-8-30T12360Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn debug_shows_no_secret() {
    let text = format!("{:?}", verifier());
    assert!(text.contains(KEY) && !text.contains(SECRET), "{text}");
}
