//! The engine from JavaScript (to be written).
