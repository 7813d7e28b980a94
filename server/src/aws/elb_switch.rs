//! The one ELBv2 change the release engine makes: where a listener (or listener rule) forwards a service's
//! traffic. Its client never retries on its own, for the same reason as `ecs_deploy`.

use super::elb::Forwarding;
use super::error::{classify, AwsError};
use super::Applied;
use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::operation::RequestId;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};

/// AWS's limit on a target group's weight in a forward action.
pub const MAX_WEIGHT: i32 = 999;

#[async_trait::async_trait]
pub trait TrafficSwitch: Send + Sync + 'static {
    /// Sends the listener's default action (or the rule's actions, when `at` names a rule) to these target
    /// groups with these weights. One group at weight 100 becomes a plain forward.
    async fn forward(
        &self,
        at: &Forwarding,
        weights: &[(String, i32)],
    ) -> Result<Applied<()>, AwsError>;
}

pub struct Elbv2Switch {
    client: aws_sdk_elasticloadbalancingv2::Client,
}

impl Elbv2Switch {
    pub fn new(sdk: &SdkConfig) -> Self {
        let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Elbv2Switch {
            client: aws_sdk_elasticloadbalancingv2::Client::from_conf(config),
        }
    }
}

/// The forward action for these weights; groups at 0 are kept in the action (weight 0) so the shape of a
/// split stays readable, except when a single group takes everything.
pub fn forward_action(weights: &[(String, i32)]) -> Result<Action, String> {
    if weights.is_empty() {
        return Err("no target group to forward to".into());
    }
    if let Some((arn, weight)) = weights.iter().find(|(_, w)| !(0..=MAX_WEIGHT).contains(w)) {
        return Err(format!(
            "weight {weight} for {arn} is outside 0..={MAX_WEIGHT}"
        ));
    }
    let live: Vec<&(String, i32)> = weights.iter().filter(|(_, w)| *w > 0).collect();
    if live.is_empty() {
        return Err("every weight is 0: the listener would drop all traffic".into());
    }
    let builder = Action::builder().r#type(ActionTypeEnum::Forward);
    Ok(match live.as_slice() {
        [(arn, _)] => builder.target_group_arn(arn).build(),
        _ => builder
            .forward_config(
                ForwardActionConfig::builder()
                    .set_target_groups(Some(
                        weights
                            .iter()
                            .map(|(arn, weight)| {
                                TargetGroupTuple::builder()
                                    .target_group_arn(arn)
                                    .weight(*weight)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build(),
            )
            .build(),
    })
}

#[async_trait::async_trait]
impl TrafficSwitch for Elbv2Switch {
    async fn forward(
        &self,
        at: &Forwarding,
        weights: &[(String, i32)],
    ) -> Result<Applied<()>, AwsError> {
        let action = forward_action(weights).map_err(|problem| {
            AwsError::new(
                super::AwsErrorKind::Service,
                "ELBv2 ModifyListener",
                format!("refused before sending: {problem}"),
            )
        })?;
        let request_id = match &at.rule_arn {
            Some(rule) => self
                .client
                .modify_rule()
                .rule_arn(rule)
                .actions(action)
                .send()
                .await
                .map_err(|e| classify("ELBv2 ModifyRule", e))?
                .request_id()
                .map(str::to_string),
            None => self
                .client
                .modify_listener()
                .listener_arn(&at.listener_arn)
                .default_actions(action)
                .send()
                .await
                .map_err(|e| classify("ELBv2 ModifyListener", e))?
                .request_id()
                .map(str::to_string),
        };
        Ok(Applied {
            request_id,
            value: (),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_is_a_plain_forward_and_a_split_keeps_both_weights() {
        let plain = forward_action(&[("green".into(), 100), ("blue".into(), 0)]).unwrap();
        assert_eq!(plain.target_group_arn(), Some("green"));
        assert!(plain.forward_config().is_none());
        let split = forward_action(&[("blue".into(), 90), ("green".into(), 10)]).unwrap();
        let groups = split.forward_config().unwrap().target_groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].weight(), Some(10));
        assert!(forward_action(&[("a".into(), 1000)])
            .unwrap_err()
            .contains("outside"));
        assert!(forward_action(&[("a".into(), 0)])
            .unwrap_err()
            .contains("drop all"));
    }
}
