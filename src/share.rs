//! Share links: a whole scenario in a URL fragment (to be written).
