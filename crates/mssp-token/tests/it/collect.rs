//! `collect` against the sandbox.
