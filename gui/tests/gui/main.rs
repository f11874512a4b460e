//! Window tests under Xvfb: each starts its own X display, so `cargo nextest run` needs no
//! setup beyond the packages scripts/test installs. nextest runs every test in its own
//! process, which FLTK needs (two event loops in one process can hang).

mod administration;
mod displays;
mod end_to_end;
mod failover;
mod fonts;
mod harness;
mod history;
mod labels;
mod screenshots;
mod stall;
