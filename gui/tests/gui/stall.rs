//! The event loop keeps up while a flood of messages arrives.

use crate::harness::{complete, group, seqs, Display, Gui};
use joint_gui::ui::{main_window as main, signin};
use joint_testkit::{password, spawn_app};
use std::time::Duration;

/// Messages published while the window shows their group.
const FLOOD: u64 = 1_000;

/// The longest the loop may be busy at once.
const MAX_STALL_MS: u64 = 50;

#[tokio::test(flavor = "multi_thread")]
async fn the_event_loop_never_stalls_while_a_thousand_messages_load() {
    let app = spawn_app().await;
    let addr = app.addr.to_string();
    let (bob, _events) = app.user("bob").await;
    app.user("ann").await;
    let display = Display::start();
    let gui = tokio::task::block_in_place(|| {
        let gui = Gui::start(&display, &addr, "en");
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, &password("ann"));
        gui.key(&["Return"]);
        gui.wait_for("signed in", |s| s["shown"] == "main");
        gui.click_at("main", main::GROUPS, Some(10));
        gui.wait_for("all opened", |s| s["model"]["current"].is_u64());
        // Let the first drawing of the window settle before measuring.
        std::thread::sleep(Duration::from_millis(500));
        gui
    });
    let from = gui.state()["uptime_ms"].as_u64().unwrap();
    for i in 0..FLOOD {
        let body = format!("message {i}: {}", "lorem ipsum dolor sit amet ".repeat(i as usize % 7));
        bob.publish("all", &body).await.unwrap();
    }
    tokio::task::block_in_place(|| {
        let state = gui.wait_for_long("every message shown", Duration::from_secs(60), |s| {
            s["rendered"].as_array().is_some_and(|r| r.len() as u64 == FLOOD)
        });
        let gid = group(&state, "all").unwrap()["gid"].as_u64().unwrap();
        assert!(complete(&seqs(&state, gid), FLOOD));
        let stalls: Vec<(u64, u64)> = state["stalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
            .filter(|(at, _)| *at >= from)
            .collect();
        assert!(stalls.iter().all(|(_, late)| *late <= MAX_STALL_MS), "the loop stalled: {stalls:?}");
    });
}
