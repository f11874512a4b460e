//! The window given two brokers on one PostgreSQL (`--broker A,B`): when A stops it moves
//! to B, says so in its status line, and goes on receiving.

use crate::harness::{complete, group, seqs, Display, Gui};
use joint_gui::ui::signin;
use joint_testkit::{password, spawn_on, Settings, TestDb};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn the_window_moves_to_the_next_broker_and_says_so_in_its_status_line() {
    let db = Arc::new(TestDb::create().await);
    let mut a = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let b = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    a.user("ann").await;
    let (a_addr, b_addr) = (a.addr.to_string(), b.addr.to_string());
    let display = Display::start();
    let gui = tokio::task::block_in_place(|| Gui::start(&display, &format!("{a_addr},{b_addr}"), "en"));
    tokio::task::block_in_place(|| {
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, &password("ann"));
        gui.key(&["Return"]);
        let signed_in =
            gui.wait_for("signed in on A", |s| s["shown"] == "main" && s["model"]["broker"] == a_addr.as_str());
        assert_eq!(signed_in["status"], "ANN (ann) — online");
    });

    a.stop().await;
    let moved = format!("ANN (ann) — online, moved to {b_addr}");
    let state = tokio::task::block_in_place(|| {
        gui.wait_for("moved to B", |s| {
            s["model"]["connection"] == "online"
                && s["model"]["broker"] == b_addr.as_str()
                && s["status"] == moved.as_str()
        })
    });
    assert_eq!(state["model"]["moved_from"], a_addr.as_str());
    // Its subscriptions resumed on B.
    let (ann, _events) = b.login("ann").await;
    let seq = ann.publish("all", "after the move").await.unwrap().seq;
    tokio::task::block_in_place(|| {
        gui.wait_for("the message from B", |s| {
            group(s, "all").and_then(|g| g["gid"].as_u64()).is_some_and(|gid| complete(&seqs(s, gid), seq))
        })
    });
}
