//! Integration tests: the real `relais` binary against real SQLite or PostgreSQL
//! (RELAIS_TEST_DATABASE_URL), a loopback HTTP server for feeds and Postfix's smtp-sink.

mod ads;
mod ads_browser;
mod api;
mod archive;
mod bounces;
mod browser;
mod cli;
mod control;
mod daemon;
mod desk;
mod desk_browser;
mod foundation;
mod helpers;
mod pipeline;
mod reconnect;
mod relays;
mod schedules;
mod sec_ids;
mod sec_send;
mod sec_watch;
mod sec_web;
mod sending;
mod tls;
mod watch;
mod web;
