//! The storage boundary (under construction).
