//! Wire types: what server functions and the REST API carry. They hold no secrets and no internal error text.

use serde::{Deserialize, Serialize};
use std::fmt;

mod backups;
mod fleet;
mod health;
mod identity;
mod releases;
mod slo;
pub use backups::*;
pub use fleet::*;
pub use health::*;
pub use identity::*;
pub use releases::*;
pub use slo::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }

    pub fn parse(text: &str) -> Option<Colour> {
        [Colour::Blue, Colour::Green]
            .into_iter()
            .find(|c| c.as_str() == text)
    }

    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub environments: Vec<EnvironmentOverview>,
}

/// One environment as the shared collector last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentOverview {
    pub name: String,
    pub region: String,
    /// When the data shown was read from AWS (RFC 3339), if ever.
    pub as_of: Option<String>,
    /// Seconds between `as_of` and the moment this answer was built.
    pub age_secs: Option<u64>,
    /// True when the last attempt to read AWS failed and what is shown is older data.
    pub stale: bool,
    /// Why the last read failed, in our words (never the AWS message).
    pub error: Option<String>,
    pub services: Vec<ServiceOverview>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceOverview {
    pub name: String,
    pub routing: Routing,
    pub blue: ColourOverview,
    pub green: ColourOverview,
}

impl ServiceOverview {
    pub fn colour(&self, colour: Colour) -> &ColourOverview {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

/// Where the listener sends this service's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Routing {
    /// All traffic goes to one colour.
    Live { colour: Colour },
    /// Weighted forwarding, in percent, during a gradual switch.
    Split { blue: u8, green: u8 },
    /// The listener forwards to neither colour's target group, or could not be read.
    Unknown { reason: String },
}

impl Routing {
    pub fn live_colour(&self) -> Option<Colour> {
        match self {
            Routing::Live { colour } => Some(*colour),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourOverview {
    pub colour: Colour,
    pub ecs_service: String,
    pub target_group: String,
    pub ecs: Option<EcsServiceSummary>,
    /// Why `ecs` is missing, in our words.
    pub error: Option<String>,
    /// The health gate's verdict, filled in from the health collector when a page is built.
    #[serde(default)]
    pub health: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsServiceSummary {
    pub status: String,
    pub running: i32,
    pub desired: i32,
    pub pending: i32,
    /// `family:revision`
    pub task_definition: String,
    pub image: Option<String>,
    /// The newest deployment's rollout state (IN_PROGRESS, COMPLETED, FAILED), when ECS reports one.
    pub rollout: Option<String>,
    pub deployments: u32,
    /// Every current deployment, newest (PRIMARY) first.
    #[serde(default)]
    pub rollouts: Vec<DeploymentView>,
}
