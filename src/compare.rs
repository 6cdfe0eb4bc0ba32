//! Trace comparison (under construction).
