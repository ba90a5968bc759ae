//! Integration tests: the real `relais` binary against real SQLite or PostgreSQL
//! (RELAIS_TEST_DATABASE_URL), a loopback HTTP server for feeds and Postfix's smtp-sink.

mod archive;
mod browser;
mod cli;
mod desk;
mod helpers;
mod pipeline;
mod sec_watch;
mod sending;
mod watch;
mod web;
