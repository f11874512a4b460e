//! Older history arrives page by page as the user scrolls the view up.

use crate::harness::{complete, Display, Gui};
use joint_gui::ui::{main_window as main, signin};
use joint_testkit::{password, spawn_app};
use std::time::{Duration, Instant};

/// More than three pages of history.
const STORED: u64 = 170;

#[tokio::test(flavor = "multi_thread")]
async fn scrolling_up_loads_the_whole_history_once() {
    let app = spawn_app().await;
    let addr = app.addr.to_string();
    let (bob, _b) = app.user("bob").await;
    app.user("ann").await;
    for i in 1..=STORED {
        bob.publish("all", &format!("old message {i}")).await.unwrap();
    }
    let display = Display::start();
    tokio::task::block_in_place(|| {
        let gui = Gui::start(&display, &addr, "en");
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, &password("ann"));
        gui.key(&["Return"]);
        gui.wait_for("signed in", |s| s["shown"] == "main");
        let state = gui.wait_for("all listed with its unread count", |s| {
            crate::harness::group(s, "all").is_some_and(|g| g["last_seq"] == STORED && g["read_seq"] == 0)
        });
        assert_eq!(state["model"]["current"], serde_json::Value::Null, "nothing is opened, so nothing is read");
        gui.click_at("main", main::GROUPS, Some(10));
        let page = joint_gui::net::PAGE as usize;
        gui.wait_for("the latest page", |s| s["rendered"].as_array().is_some_and(|r| r.len() == page));
        // Page up in the view until the first message is there.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = gui.state();
            let rendered: Vec<u64> = state["rendered"].as_array().unwrap().iter().filter_map(|v| v.as_u64()).collect();
            if rendered.first() == Some(&1) {
                assert!(complete(&rendered, STORED), "each message once, in order: {rendered:?}");
                break;
            }
            let all = crate::harness::group(&state, "all").cloned();
            assert!(Instant::now() < deadline, "history stopped at {:?}: {all:?}", rendered.first());
            gui.page_up("main", main::VIEW, 8);
        }
    });
}
