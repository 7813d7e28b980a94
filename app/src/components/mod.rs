//! Pieces shared by several pages.
pub mod alarms;
pub mod chart;
pub mod colour;
pub mod deferred;
pub mod deployments;
pub mod environment_card;
pub mod error_panel;
pub mod fleet;
pub mod freshness;
pub mod health_panel;
pub mod live;
pub mod slo_panel;
pub mod user_menu;
