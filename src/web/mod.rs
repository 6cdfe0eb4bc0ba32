//! The Yew app (under construction).
