use super::*;
use kafka_protocol::messages::MetadataRequest;
use tokio::io::DuplexStream;

/// The peer end of a test pipe: reads one request frame, returns (correlation, frame).
async fn read_request(peer: &mut DuplexStream) -> (i32, Vec<u8>) {
    let size = peer.read_i32().await.unwrap() as usize;
    let mut frame = vec![0; size];
    peer.read_exact(&mut frame).await.unwrap();
    // api_key (2) + api_version (2) + correlation id (4)
    let correlation = i32::from_be_bytes(frame[4..8].try_into().unwrap());
    (correlation, frame)
}

async fn write_response(peer: &mut DuplexStream, correlation: i32, body: &[u8]) {
    peer.write_i32((4 + body.len()) as i32).await.unwrap();
    peer.write_i32(correlation).await.unwrap();
    peer.write_all(body).await.unwrap();
}

fn pipe(config: ConnectionConfig) -> (Connection, DuplexStream) {
    let (ours, peer) = tokio::io::duplex(1 << 20);
    (
        Connection::over(ours, "test-peer:9092".into(), config),
        peer,
    )
}

/// Metadata v1 uses response header v0: the body comes back as the peer wrote it.
#[tokio::test]
async fn pipelined_responses_reach_their_requests_in_any_order() {
    let (conn, mut peer) = pipe(ConnectionConfig::default());
    let conn = Arc::new(conn);
    let mut calls = Vec::new();
    for _ in 0..3 {
        let conn = conn.clone();
        calls.push(tokio::spawn(async move {
            conn.request(&MetadataRequest::default(), 1).await
        }));
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(read_request(&mut peer).await.0);
    }
    // Answer in reverse order; each body names its correlation id.
    for c in seen.iter().rev() {
        write_response(&mut peer, *c, &c.to_be_bytes()).await;
    }
    let mut got = Vec::new();
    for call in calls {
        let body = call.await.unwrap().unwrap();
        got.push(i32::from_be_bytes(body[..].try_into().unwrap()));
    }
    got.sort();
    seen.sort();
    assert_eq!(got, seen);
}

#[tokio::test]
async fn request_frames_carry_header_and_client_id() {
    let (conn, mut peer) = pipe(ConnectionConfig {
        client_id: "my-client".into(),
        ..ConnectionConfig::default()
    });
    let call = tokio::spawn(async move { conn.request(&MetadataRequest::default(), 1).await });
    let (correlation, frame) = read_request(&mut peer).await;
    assert_eq!(
        i16::from_be_bytes([frame[0], frame[1]]),
        3,
        "Metadata api key"
    );
    assert_eq!(i16::from_be_bytes([frame[2], frame[3]]), 1, "version");
    assert_eq!(
        i16::from_be_bytes([frame[8], frame[9]]),
        9,
        "client id length"
    );
    assert_eq!(&frame[10..19], b"my-client");
    write_response(&mut peer, correlation, b"").await;
    assert!(call.await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn oversized_frame_closes_the_connection_and_fails_pending_requests() {
    let (conn, mut peer) = pipe(ConnectionConfig {
        max_response_size: 1000,
        ..ConnectionConfig::default()
    });
    let conn = Arc::new(conn);
    let c2 = conn.clone();
    let call = tokio::spawn(async move { c2.request(&MetadataRequest::default(), 1).await });
    let _ = read_request(&mut peer).await;
    peer.write_i32(i32::MAX).await.unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ConnError::Closed { reason, .. } if reason.contains("2147483647")),
        "{err}"
    );
    assert!(conn.is_closed());
    let again = conn
        .request(&MetadataRequest::default(), 1)
        .await
        .unwrap_err();
    assert!(matches!(again, ConnError::Closed { .. }), "{again}");
}

#[tokio::test]
async fn negative_and_tiny_frame_sizes_are_refused() {
    for size in [-1i32, 0, 3] {
        let (conn, mut peer) = pipe(ConnectionConfig::default());
        let conn = Arc::new(conn);
        let c2 = conn.clone();
        let call = tokio::spawn(async move { c2.request(&MetadataRequest::default(), 1).await });
        let _ = read_request(&mut peer).await;
        peer.write_i32(size).await.unwrap();
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(err, ConnError::Closed { .. }),
            "size {size}: {err}"
        );
    }
}

#[tokio::test]
async fn unknown_correlation_id_closes_the_connection() {
    let (conn, mut peer) = pipe(ConnectionConfig::default());
    let call = tokio::spawn(async move { conn.request(&MetadataRequest::default(), 1).await });
    let (correlation, _) = read_request(&mut peer).await;
    write_response(&mut peer, correlation.wrapping_add(17), b"x").await;
    let err = call.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ConnError::Closed { reason, .. } if reason.contains("correlation")),
        "{err}"
    );
}

#[tokio::test]
async fn peer_hanging_up_mid_response_fails_the_request() {
    let (conn, mut peer) = pipe(ConnectionConfig::default());
    let call = tokio::spawn(async move { conn.request(&MetadataRequest::default(), 1).await });
    let (correlation, _) = read_request(&mut peer).await;
    peer.write_i32(100).await.unwrap();
    peer.write_i32(correlation).await.unwrap();
    drop(peer);
    let err = call.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ConnError::Closed { reason, .. } if reason.contains("mid-response")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_without_answer_times_out_and_closes_the_connection() {
    let (conn, mut peer) = pipe(ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    });
    let conn = Arc::new(conn);
    let c2 = conn.clone();
    let call = tokio::spawn(async move { c2.request(&MetadataRequest::default(), 1).await });
    let _ = read_request(&mut peer).await;
    let err = call.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ConnError::Timeout {
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retriable());
    assert!(conn.is_closed());
}
