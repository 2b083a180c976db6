//! The Lambda invoker against the rig's scriptable Invoke endpoint, through
//! aws-sdk-lambda: each answer Lambda can give becomes the engine outcome AWS's rules say.

mod common;

use bytes::Bytes;
use kafka_esm::engine::{Failure, InvokeOutcome};
use kafka_esm::invoke::{InvokeError, Invoker, outcome};
use kafka_esm_rig::{InvokeServer, Reply};
use serde_json::json;

#[tokio::test]
async fn every_lambda_answer_maps_to_its_outcome() {
    let mut server = InvokeServer::start().await.unwrap();
    let invoker = common::qualified_lambda_invoker(&server, "my-fn", Some("live")).await;
    let partial = json!({"batchItemFailures": [
        {"itemIdentifier": {"topic-partition": "orders-3", "offset": 41}},
        {"itemIdentifier": {"topic-partition": "orders-3", "offset": 40}}]});
    let cases: Vec<(Reply, bool, InvokeOutcome)> = vec![
        (
            Reply::json(json!(null)),
            true,
            InvokeOutcome::PartialFailure {
                failed_offsets: vec![],
            },
        ),
        (
            Reply::json(partial.clone()),
            true,
            InvokeOutcome::PartialFailure {
                failed_offsets: vec![41, 40],
            },
        ),
        (Reply::json(partial), false, InvokeOutcome::Success),
        (
            Reply::json(
                json!({"batchItemFailures": [{"itemIdentifier": {"topic-partition": "orders-4", "offset": 1}}]}),
            ),
            true,
            InvokeOutcome::Failed(Failure::Function),
        ),
        (
            Reply::unhandled("Error", "boom"),
            true,
            InvokeOutcome::Failed(Failure::Function),
        ),
        (
            Reply::handled("ValidationError", "bad"),
            false,
            InvokeOutcome::Failed(Failure::Function),
        ),
        (
            Reply::Throttled,
            false,
            InvokeOutcome::Failed(Failure::Throttled),
        ),
        (
            Reply::too_large(),
            false,
            InvokeOutcome::Failed(Failure::Service),
        ),
        (
            Reply::not_found(),
            false,
            InvokeOutcome::Failed(Failure::Service),
        ),
        (
            Reply::service_error(),
            false,
            InvokeOutcome::Failed(Failure::Service),
        ),
    ];
    let event = Bytes::from_static(br#"{"eventSource":"SelfManagedKafka","records":{}}"#);
    for (i, (reply, report, want)) in cases.into_iter().enumerate() {
        let what = format!("case {i}: {reply:?}");
        server.script([reply]);
        let result = invoker.invoke(event.clone()).await;
        assert_eq!(outcome(&result, report, "orders-3"), want, "{what}");
        let req = server.next_request().await;
        assert_eq!(req.function, "my-fn", "{what}");
        assert_eq!(req.qualifier.as_deref(), Some("live"), "{what}");
        assert!(
            req.invocation_type.is_none()
                || req.invocation_type.as_deref() == Some("RequestResponse"),
            "{what}: {:?}",
            req.invocation_type
        );
        assert_eq!(req.body, event, "{what}");
        if i == 8 {
            let err = result.unwrap_err();
            assert!(matches!(err, InvokeError::Function { .. }), "{err:?}");
            assert_eq!(err.reason(), Some("FUNCTION_CONFIG_NOT_VALID"));
        } else if i == 4 {
            let ok = result.unwrap();
            assert_eq!(ok.function_error.as_deref(), Some("Unhandled"));
            let body: serde_json::Value = serde_json::from_slice(&ok.payload).unwrap();
            assert_eq!(body["errorMessage"], "boom");
        }
    }
    // No hidden SDK retries: one request per invocation.
    assert_eq!(server.requests().len(), 10);
}
