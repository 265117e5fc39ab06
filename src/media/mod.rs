//! media layer (under construction).
