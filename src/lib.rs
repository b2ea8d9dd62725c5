//! channelguard: validates Microsoft CSP partner account data (YAML) against JSON Schemas and
//! channel policies written in Rhai, and reports findings that point at the exact node.
//!
//! The library does the work and never prints; the `channelguard` binary parses arguments,
//! picks reporters and maps the outcome to an exit code. The pipeline is
//! [`discover`] → [`yaml`] (load with spans) → [`schema`] → [`repository`] (indexes) →
//! [`refs`] (identity and references) → [`policy`] → [`check::Outcome`] → [`report`].
//! Its API is not stable yet.

pub mod cache;
pub mod changed;
pub mod check;
pub mod codes;
pub mod config;

pub mod dates;
pub mod discover;
pub mod escape;
pub mod fault;
pub mod finding;
pub mod input;
pub mod limits;
pub mod markets;
pub mod memo;
pub mod model;
pub mod options;
pub mod outcome;
pub mod patch;
pub mod policy;
pub mod policy_cases;
pub mod refs;
pub mod replay;
pub mod report;
pub mod repository;
pub mod root;
pub mod rule_id;
pub mod rules_doc;
pub mod schema;
pub mod scope;
pub mod source;
pub mod suggest;
pub mod suppress;
pub mod value_codec;
pub mod yaml;
