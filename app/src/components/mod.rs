//! Pieces shared by several pages.
pub mod chart;
pub mod colour;
pub mod environment_card;
pub mod error_panel;
pub mod health_panel;
pub mod live;
pub mod user_menu;
