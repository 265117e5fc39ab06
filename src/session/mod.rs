//! session layer (under construction).
