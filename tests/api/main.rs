//! Integration tests: one binary that starts real `jim` applications (embedded: temp SQLite;
//! scale-out: MariaDB + Redis) on 127.0.0.1:0 and drives them over HTTP and the CLI.

// A failed unwrap here is a failed test, with its message: the crate-wide deny is for src/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;

mod auth;
mod blob_contract;
mod bus;
mod calls;
mod chat;
mod cli;
mod cli_user;
mod config_example;
mod coturn;
mod email;
mod faults;
mod friends;
mod garage;
mod groups;
mod health;
mod http;
mod load_smoke;
mod media;
mod metrics;
mod migrations;
mod ops;
mod proxy;
mod smtp;
mod store_contract;
mod user_data;
mod ws;
