//! What the UI draws, computed without a browser so that native tests can check it.

pub mod actions;
pub mod describe;
pub mod layout;
pub mod series;
