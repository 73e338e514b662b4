//! JIM-rs: a self-hosted instant-messaging server. The library holds the whole application;
//! `main.rs` only parses the command line and runs it.

pub mod app;
pub mod bus;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod secret;
pub mod service;
pub mod state;
pub mod store;
pub mod ws;

pub use app::Application;
pub use config::Config;
