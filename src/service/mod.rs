//! Business rules. Everything the HTTP API and the admin CLI both do lives here, so they cannot
//! disagree; no actix or diesel types appear in these signatures.

pub mod auth;
pub mod call;
pub mod captcha;
pub mod chat;
pub mod friend;
pub mod group;
pub mod health;
pub mod media;
pub mod password;
pub mod user;
pub mod validate;
