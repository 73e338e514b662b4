//! Business rules. Everything the HTTP API and the admin CLI both do lives here, so they cannot
//! disagree; no actix or diesel types appear in these signatures.

pub mod health;
