//! Service health: the gate that judges a colour's recent metrics against the seed's rules. The collector that
//! feeds it and the Health page come with the rest of issue 4.

pub mod gate;
