//! ELBv2: where the listener sends each service's traffic, and how its targets are doing.

use super::error::{classify, AwsError};
use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};

/// One target group a forward action sends to; `weight` is None for a plain (unweighted) forward.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupWeight {
    pub arn: String,
    pub name: String,
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding {
    pub listener_arn: String,
    /// Set when the service's traffic is carried by a listener rule rather than the default action.
    pub rule_arn: Option<String>,
    pub targets: Vec<TargetGroupWeight>,
}

impl Forwarding {
    /// Percent of traffic per target group name; a single unweighted forward is 100 %.
    pub fn percentages(&self) -> Vec<(String, u8)> {
        let total: i64 = self
            .targets
            .iter()
            .map(|t| i64::from(t.weight.unwrap_or(1).max(0)))
            .sum();
        if total == 0 {
            return self.targets.iter().map(|t| (t.name.clone(), 0)).collect();
        }
        self.targets
            .iter()
            .map(|t| {
                let share = i64::from(t.weight.unwrap_or(1).max(0)) * 100 / total;
                (t.name.clone(), share as u8)
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealthSummary {
    pub target_id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
    /// healthy, unhealthy, initial, draining, unused, unavailable
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[async_trait::async_trait]
pub trait TrafficRouting: Send + Sync + 'static {
    /// The forward action on `port` of the named load balancer: the rule with `rule_priority`, or the default action.
    async fn forwarding(
        &self,
        load_balancer: &str,
        port: u16,
        rule_priority: Option<u32>,
    ) -> Result<Forwarding, AwsError>;
    /// The targets of a target group, named or given by ARN (which saves a lookup).
    async fn target_health(&self, target_group: &str)
        -> Result<Vec<TargetHealthSummary>, AwsError>;
    /// A target group's ARN and CloudWatch's dimensions for it behind a load balancer. ARNs never change, so
    /// callers may cache the answer.
    async fn metric_dimensions(
        &self,
        load_balancer: &str,
        target_group: &str,
    ) -> Result<TargetGroupIds, AwsError>;
}

/// How AWS names one target group behind one load balancer.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupIds {
    pub target_group_arn: String,
    /// CloudWatch's `LoadBalancer` dimension: `app/NAME/ID`.
    pub load_balancer_dimension: String,
    /// CloudWatch's `TargetGroup` dimension: `targetgroup/NAME/ID`.
    pub target_group_dimension: String,
}

pub struct Elbv2Routing {
    client: aws_sdk_elasticloadbalancingv2::Client,
}

impl Elbv2Routing {
    pub fn new(sdk: &SdkConfig) -> Self {
        Elbv2Routing {
            client: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
        }
    }

    async fn load_balancer_arn(&self, name: &str) -> Result<String, AwsError> {
        const OP: &str = "ELBv2 DescribeLoadBalancers";
        let output = self
            .client
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        output
            .load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::not_found(OP, format!("load balancer {name}")))
    }

    async fn target_group_arn(&self, name: &str) -> Result<String, AwsError> {
        const OP: &str = "ELBv2 DescribeTargetGroups";
        let output = self
            .client
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        output
            .target_groups()
            .first()
            .and_then(|tg| tg.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::not_found(OP, format!("target group {name}")))
    }
}

/// The part of an ARN after `:loadbalancer/` or `:` (for target groups): CloudWatch's dimension value.
fn dimension_of(arn: &str, marker: &str) -> Option<String> {
    arn.split_once(marker).map(|(_, rest)| rest.to_string())
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID` → NAME
pub fn target_group_name_from_arn(arn: &str) -> String {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
        .to_string()
}

fn forward_targets(actions: &[Action]) -> Vec<TargetGroupWeight> {
    let Some(forward) = actions
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
    else {
        return Vec::new();
    };
    match forward
        .forward_config()
        .map(|c| c.target_groups())
        .filter(|groups| !groups.is_empty())
    {
        Some(groups) => groups
            .iter()
            .filter_map(|g| g.target_group_arn())
            .zip(groups.iter().map(|g| g.weight()))
            .map(|(arn, weight)| TargetGroupWeight {
                arn: arn.to_string(),
                name: target_group_name_from_arn(arn),
                weight,
            })
            .collect(),
        None => forward
            .target_group_arn()
            .map(|arn| TargetGroupWeight {
                arn: arn.to_string(),
                name: target_group_name_from_arn(arn),
                weight: None,
            })
            .into_iter()
            .collect(),
    }
}

#[async_trait::async_trait]
impl TrafficRouting for Elbv2Routing {
    async fn metric_dimensions(
        &self,
        load_balancer: &str,
        target_group: &str,
    ) -> Result<TargetGroupIds, AwsError> {
        let lb_arn = self.load_balancer_arn(load_balancer).await?;
        let tg_arn = self.target_group_arn(target_group).await?;
        let lb = dimension_of(&lb_arn, ":loadbalancer/").ok_or_else(|| {
            AwsError::not_found(
                "ELBv2 DescribeLoadBalancers",
                format!("an ARN for {load_balancer}"),
            )
        })?;
        let tg = dimension_of(&tg_arn, ":targetgroup/")
            .map(|rest| format!("targetgroup/{rest}"))
            .ok_or_else(|| {
                AwsError::not_found(
                    "ELBv2 DescribeTargetGroups",
                    format!("an ARN for {target_group}"),
                )
            })?;
        Ok(TargetGroupIds {
            target_group_arn: tg_arn,
            load_balancer_dimension: lb,
            target_group_dimension: tg,
        })
    }

    #[tracing::instrument(skip_all, fields(load_balancer, port, rule_priority))]
    async fn forwarding(
        &self,
        load_balancer: &str,
        port: u16,
        rule_priority: Option<u32>,
    ) -> Result<Forwarding, AwsError> {
        let lb_arn = self.load_balancer_arn(load_balancer).await?;
        const LISTENERS: &str = "ELBv2 DescribeListeners";
        let mut marker = None;
        let listener = loop {
            let output = self
                .client
                .describe_listeners()
                .load_balancer_arn(&lb_arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(LISTENERS, e))?;
            if let Some(found) = output
                .listeners()
                .iter()
                .find(|l| l.port() == Some(i32::from(port)))
            {
                break found.clone();
            }
            match output.next_marker() {
                Some(next) => marker = Some(next.to_string()),
                None => {
                    return Err(AwsError::not_found(
                        LISTENERS,
                        format!("listener on port {port} of {load_balancer}"),
                    ))
                }
            }
        };
        let listener_arn = listener.listener_arn().unwrap_or_default().to_string();
        let Some(priority) = rule_priority else {
            return Ok(Forwarding {
                targets: forward_targets(listener.default_actions()),
                listener_arn,
                rule_arn: None,
            });
        };
        const RULES: &str = "ELBv2 DescribeRules";
        let wanted = priority.to_string();
        let mut marker = None;
        loop {
            let output = self
                .client
                .describe_rules()
                .listener_arn(&listener_arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(RULES, e))?;
            if let Some(rule) = output
                .rules()
                .iter()
                .find(|r| r.priority() == Some(wanted.as_str()))
            {
                return Ok(Forwarding {
                    targets: forward_targets(rule.actions()),
                    rule_arn: rule.rule_arn().map(str::to_string),
                    listener_arn,
                });
            }
            match output.next_marker() {
                Some(next) => marker = Some(next.to_string()),
                None => {
                    return Err(AwsError::not_found(
                        RULES,
                        format!("rule with priority {priority} on port {port} of {load_balancer}"),
                    ))
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(target_group))]
    async fn target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealthSummary>, AwsError> {
        let arn = match target_group.starts_with("arn:") {
            true => target_group.to_string(),
            false => self.target_group_arn(target_group).await?,
        };
        let output = self
            .client
            .describe_target_health()
            .target_group_arn(&arn)
            .send()
            .await
            .map_err(|e| classify("ELBv2 DescribeTargetHealth", e))?;
        Ok(output
            .target_health_descriptions()
            .iter()
            .map(|d| TargetHealthSummary {
                target_id: d
                    .target()
                    .and_then(|t| t.id())
                    .unwrap_or_default()
                    .to_string(),
                port: d.target().and_then(|t| t.port()),
                availability_zone: d
                    .target()
                    .and_then(|t| t.availability_zone())
                    .map(str::to_string),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into()),
                reason: d
                    .target_health()
                    .and_then(|h| h.reason())
                    .map(|r| r.as_str().to_string()),
                description: d
                    .target_health()
                    .and_then(|h| h.description())
                    .map(str::to_string),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_group_names_come_from_arns() {
        assert_eq!(
            target_group_name_from_arn("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/accunode-prod-api-blue/50dc6c495c0c9188"),
            "accunode-prod-api-blue"
        );
    }

    #[test]
    fn weights_become_percentages() {
        let forwarding = Forwarding {
            listener_arn: "l".into(),
            rule_arn: None,
            targets: vec![
                TargetGroupWeight {
                    arn: "a".into(),
                    name: "blue".into(),
                    weight: Some(90),
                },
                TargetGroupWeight {
                    arn: "b".into(),
                    name: "green".into(),
                    weight: Some(10),
                },
            ],
        };
        assert_eq!(
            forwarding.percentages(),
            vec![("blue".to_string(), 90), ("green".to_string(), 10)]
        );
    }
}
