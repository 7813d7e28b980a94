//! Backup and recovery status: the policy, the checks against it, and "is this environment recoverable now?".

pub mod checks;
pub mod policy;
