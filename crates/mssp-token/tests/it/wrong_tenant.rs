//! (placeholder: filled by issue 9 work)
