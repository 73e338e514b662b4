//! Business rules. Everything the HTTP API and the admin CLI both do lives here, so they cannot
//! disagree; no actix or diesel types appear in these signatures.

pub mod auth;
pub mod backup;
pub mod call;
pub mod captcha;
pub mod chat;
pub mod email;
pub mod friend;
pub mod group;
pub mod health;
pub mod mail;
pub mod media;
pub mod password;
pub mod user;
pub mod user_data;
pub mod validate;
