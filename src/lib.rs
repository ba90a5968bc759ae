//! relais: the newsletter and content publishing pipeline of Occitanie Coopération.
//!
//! A tour, in the order data flows:
//! - [`config`] reads `relais.toml`, `RELAIS_*` and `sources.toml` once, validated;
//! - [`domain`] holds the pure types and rules;
//! - [`store`] is the only module that speaks SQL (SQLite or PostgreSQL);
//! - [`watch`] polls feeds and turns entries into clean, deduplicated, tagged items;
//! - [`desk`] composes issues from items and ads;
//! - [`render`] turns an issue into HTML and text (handlebars, then mrml);
//! - [`audience`] covers subscribers, consent, signed links and imports;
//! - [`dispatch`] freezes an audience into the delivery ledger and sends over SMTP;
//! - [`schedule`] drives polling and sending in the daemon;
//! - [`web`] serves public pages; [`cli`] the command line; [`app`] wires it all.

pub mod app;
pub mod assets;
pub mod audience;
pub mod bounces;
pub mod cli;
pub mod config;
pub mod desk;
pub mod dispatch;
pub mod domain;
pub mod render;
pub mod schedule;
pub mod store;
pub mod watch;
pub mod web;
