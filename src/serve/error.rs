//! The API's errors as Lambda answers them: the HTTP status, the `x-amzn-ErrorType`
//! header and the body `{"Type": "User", "message": "..."}` (the SDKs and the AWS CLI read
//! the type from the header, the message from the body).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One of Lambda's error types, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    pub kind: &'static str,
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "InvalidParameterValueException",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "ResourceNotFoundException",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "ResourceConflictException",
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }

    pub fn in_use(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "ResourceInUseException",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "AccessDeniedException",
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// A request signature that does not verify, as AWS's front end answers it.
    pub fn signature(kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn unknown_operation(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "UnknownOperationException",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "UnknownOperationException",
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: message.into(),
        }
    }

    /// The service failed (the state could not be written): retryable.
    pub fn service(message: impl Into<String>) -> ApiError {
        ApiError {
            kind: "ServiceException",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"Type": "User", "message": self.message});
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        response
    }
}
