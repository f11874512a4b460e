//! `joint-gui`, the FLTK desktop chat of Joint: sign in or up, chat in groups, administer
//! them, in seven languages, over a connection that heals itself.
//!
//! The network runs on a tokio runtime in a background thread ([`net`]) and reports over the
//! one `fltk::app::channel` of [`ui::Msg`]; only the UI thread ([`app`]) touches widgets and
//! the chat state ([`model`]), which holds no FLTK and is unit-tested.

rust_i18n::i18n!("../locales", fallback = "en");

pub mod app;
pub mod config;
pub mod dump;
pub mod i18n;
pub mod model;
pub mod net;
pub mod rules;
pub mod ui;
