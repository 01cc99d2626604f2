//! End-to-end tests against a running sandbox (reqwest over loopback).
