//! Criterion benches for otaseal live in `benches/`.
