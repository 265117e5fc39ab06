//! control layer (under construction).
