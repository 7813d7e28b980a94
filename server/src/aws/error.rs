//! The one place AWS SDK errors become ours. The AWS message is kept for the log; what the console shows is
//! `public_message`, our own words.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
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
            AwsErrorKind::Throttled => format!(
                "AWS is throttling requests ({}); retrying with back-off",
                self.operation
            ),
            AwsErrorKind::AccessDenied => format!(
                "AWS refused access ({}); check the role's permissions",
                self.operation
            ),
            // With an AWS error code the detail is AWS's text; without one it is ours (`AwsError::not_found`).
            AwsErrorKind::NotFound => match &self.code {
                Some(code) => format!("not found in AWS ({}, {code})", self.operation),
                None => format!("not found in AWS: {}", self.detail),
            },
            AwsErrorKind::Service => format!("AWS answered with an error ({})", self.operation),
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
pub fn classify<E, R>(operation: &'static str, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
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
