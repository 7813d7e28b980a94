//! The one place AWS SDK errors become ours. The AWS message is kept for the log; what the console shows is
//! `public_message`, our own words.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// No answer: connection refused, DNS, TLS, timeout.
    Unreachable,
    Throttled,
    AccessDenied,
    NotFound,
    /// AWS answered with an error we do not single out.
    Service,
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// Which call failed, e.g. "ECS DescribeServices".
    pub operation: &'static str,
    /// The AWS error code, when there was one.
    pub code: Option<String>,
    /// AWS's own text: for logs only.
    pub detail: String,
    /// AWS's request id (`x-amzn-requestid`), when an answer came back: what AWS support asks for.
    pub request_id: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed ({:?}", self.operation, self.kind)?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, "): {}", self.detail)
    }
}

impl AwsError {
    pub fn new(kind: AwsErrorKind, operation: &'static str, detail: impl Into<String>) -> Self {
        AwsError {
            kind,
            operation,
            code: None,
            detail: detail.into(),
            request_id: None,
        }
    }

    pub fn not_found(operation: &'static str, what: impl Into<String>) -> Self {
        AwsError::new(AwsErrorKind::NotFound, operation, what)
    }

    /// What a person may read: the kind of failure and the call, never AWS's text.
    pub fn public_message(&self) -> String {
        match self.kind {
            AwsErrorKind::Unreachable => format!(
                "AWS did not answer ({}); check the endpoint and network",
                self.operation
            ),
            // Whether it is tried again is the caller's to say: a halted deployment is not.
            AwsErrorKind::Throttled => {
                format!("AWS is throttling requests ({})", self.operation)
            }
            AwsErrorKind::AccessDenied => format!(
                "AWS refused access ({}); check the role's permissions",
                self.operation
            ),
            // With an AWS error code the detail is AWS's text; without one it is ours (`AwsError::not_found`).
            AwsErrorKind::NotFound => match &self.code {
                Some(code) => format!("not found in AWS ({}, {code})", self.operation),
                None => format!("not found in AWS: {}", self.detail),
            },
            // The code is AWS's vocabulary (ServiceUnavailable, InvalidParameterValue), never account data.
            AwsErrorKind::Service => match &self.code {
                Some(code) => format!("AWS answered with an error ({}, {code})", self.operation),
                None => format!("AWS answered with an error ({})", self.operation),
            },
        }
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
];

/// Converts any SDK error. Generic over the operation's error type, so every adapter uses this one function.
pub fn classify<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let request_id = error.request_id().map(str::to_string);
    let detail = aws_smithy_types::error::display::DisplayErrorContext(&error).to_string();
    let (kind, code) = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            (AwsErrorKind::Unreachable, None)
        }
        SdkError::ConstructionFailure(_) => (AwsErrorKind::Service, None),
        SdkError::ResponseError(_) => (AwsErrorKind::Service, None),
        SdkError::ServiceError(service) => {
            let code = service.err().code().map(str::to_string);
            let kind = match code.as_deref() {
                Some(c) if THROTTLING_CODES.contains(&c) => AwsErrorKind::Throttled,
                Some(c) if ACCESS_CODES.contains(&c) => AwsErrorKind::AccessDenied,
                Some(c) if c.contains("NotFound") => AwsErrorKind::NotFound,
                _ => AwsErrorKind::Service,
            };
            (kind, code)
        }
        _ => (AwsErrorKind::Service, None),
    };
    AwsError {
        kind,
        operation,
        code,
        detail,
        request_id,
    }
}

impl AwsError {
    /// Whether the call may have been applied although no success came back (timeout, dropped connection, 5xx):
    /// the engine must read before it tries again.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self.kind, AwsErrorKind::Unreachable)
            || (self.kind == AwsErrorKind::Service && self.code.is_none())
    }

    /// Worth another attempt later: throttling, no answer, or a server-side error.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Unreachable | AwsErrorKind::Throttled
        ) || self.code.as_deref().is_some_and(|c| {
            c.contains("InternalFailure")
                || c.contains("ServiceUnavailable")
                || c.contains("ServerException")
        }) || (self.kind == AwsErrorKind::Service && self.code.is_none())
    }
}

/// AWS's text goes to the log; the caller gets our words.
impl From<AwsError> for app::error::AppError {
    fn from(error: AwsError) -> Self {
        tracing::warn!(%error, "AWS call failed");
        app::error::AppError::Upstream {
            service: "AWS".into(),
            message: error.public_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_message_never_contains_the_aws_text() {
        let error = AwsError {
            kind: AwsErrorKind::Service,
            operation: "ECS DescribeServices",
            code: Some("ServerException".into()),
            detail: "Internal error at arn:aws:ecs:us-east-1:123456789012:cluster/secret-cluster"
                .into(),
            request_id: None,
        };
        let shown = error.public_message();
        assert!(!shown.contains("123456789012"), "{shown}");
        assert!(shown.contains("ECS DescribeServices"), "{shown}");
        assert!(
            error.to_string().contains("secret-cluster"),
            "the log form keeps the detail"
        );
    }
}
