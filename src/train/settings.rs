//! Training settings (to be filled).
