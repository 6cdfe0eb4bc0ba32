//! A scenario as code for a real broker (to be written).
