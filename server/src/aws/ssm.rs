//! Parameter Store: what parameters exist under a prefix, and secrets read for our own configuration.

use super::error::{classify, AwsError};
use super::to_offset;
use crate::secret::Secret;
use aws_config::SdkConfig;
use aws_sdk_ssm::types::ParameterStringFilter;
use time::OffsetDateTime;

/// A parameter's metadata: never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSummary {
    pub name: String,
    /// String, StringList or SecureString
    pub kind: String,
    pub version: i64,
    pub last_modified: Option<OffsetDateTime>,
}

#[async_trait::async_trait]
pub trait ParameterStore: Send + Sync + 'static {
    /// Every parameter below `prefix`, recursively; values are not read.
    async fn list(&self, prefix: &str) -> Result<Vec<ParameterSummary>, AwsError>;
    /// One value, decrypted, for the console's own secrets (for example the OIDC client secret).
    async fn secret(&self, name: &str) -> Result<Secret<String>, AwsError>;
}

pub struct SsmParameters {
    client: aws_sdk_ssm::Client,
}

impl SsmParameters {
    pub fn new(sdk: &SdkConfig) -> Self {
        SsmParameters {
            client: aws_sdk_ssm::Client::new(sdk),
        }
    }
}

#[async_trait::async_trait]
impl ParameterStore for SsmParameters {
    #[tracing::instrument(skip_all, fields(prefix))]
    async fn list(&self, prefix: &str) -> Result<Vec<ParameterSummary>, AwsError> {
        const OP: &str = "SSM DescribeParameters";
        let path = prefix.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        let filter = ParameterStringFilter::builder()
            .key("Path")
            .option("Recursive")
            .values(path)
            .build()
            .map_err(|e| AwsError::new(super::AwsErrorKind::Service, OP, e.to_string()))?;
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .describe_parameters()
                .parameter_filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            found.extend(output.parameters().iter().map(|p| {
                ParameterSummary {
                    name: p.name().unwrap_or_default().to_string(),
                    kind: p
                        .r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    version: p.version(),
                    last_modified: p.last_modified_date().and_then(to_offset),
                }
            }));
            match output.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn secret(&self, name: &str) -> Result<Secret<String>, AwsError> {
        const OP: &str = "SSM GetParameter";
        let output = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        output
            .parameter()
            .and_then(|p| p.value())
            .map(|v| Secret::new(v.to_string()))
            .ok_or_else(|| AwsError::not_found(OP, format!("parameter {name}")))
    }
}

/// Reads one of the console's own secrets (not an environment's): the console's region (`aws.region`) and the
/// standard credential chain.
pub async fn read_secure_parameter(
    config: &crate::config::Config,
    name: &str,
) -> Result<Secret<String>, AwsError> {
    let region = config.aws.region.as_deref().unwrap_or("us-east-1");
    let sdk = super::sdk_config(&config.aws, region, None, None).await;
    SsmParameters::new(&sdk).secret(name).await
}
