//! The real window against a real broker, driven like a user with xdotool.

use crate::harness::{complete, group, seqs, Display, Gui};
use joint_gui::rules::Broken;
use joint_gui::ui::{main_window as main, manage_group as manage, signin, signup};
use joint_testkit::{password, spawn_app, spawn_on};
use std::time::Duration;

/// Waits until the broker's history of `group`, read by `client`, holds a message with `body`.
async fn stored(client: &joint_wire::Client, group: &str, body: &str) -> joint_wire::message::Message {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let page = client.history(group, None, None, None, Some(50)).await.unwrap();
        if let Some(m) = page.messages.iter().find(|m| m.body == body) {
            return m.clone();
        }
        seen = page.messages;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{body:?} never reached the broker; it holds {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_up_chats_administers_switches_language_and_survives_a_broker_restart() {
    let app = spawn_app().await;
    let addr = app.addr.to_string();
    let (bob, _bob_events) = app.user("bob").await;
    let display = Display::start();
    let gui = tokio::task::block_in_place(|| Gui::start(&display, &addr, "en"));
    let ann_pw = password("ann");

    // Sign up: the rules are checked before anything is sent.
    tokio::task::block_in_place(|| {
        gui.click("signin", signin::SIGN_UP);
        gui.wait_for("the sign-up window", |s| s["shown"] == "sign_up");
        gui.fill("signup", signup::LOGIN, "ann");
        gui.fill("signup", signup::NAME, "Ann Smith");
        gui.fill("signup", signup::PASSWORD, &ann_pw);
        gui.fill("signup", signup::AGAIN, "something-else");
        gui.click("signup", signup::CREATE);
        let mismatch = Broken::Mismatch.text();
        gui.wait_for("the mismatch refused", |s| s["errors"]["signup"] == mismatch.as_str());
        gui.fill("signup", signup::AGAIN, &ann_pw);
        gui.click("signup", signup::CREATE);
        gui.wait_for("signed up", |s| s["shown"] == "main" && s["model"]["me"]["login"] == "ann");
        // Log out ends the session; sign in again with the password.
        gui.click("main", main::LOG_OUT);
        gui.wait_for("signed out", |s| s["shown"] == "sign_in" && s["model"]["me"].is_null());
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, "wrong-password");
        gui.key(&["Return"]);
        let wrong = joint_gui::i18n::code_text(joint_wire::ErrorCode::BadCredentials);
        gui.wait_for("a wrong password refused", |s| s["errors"]["signin"] == wrong.as_str());
        gui.fill("signin", signin::PASSWORD, &ann_pw);
        gui.key(&["Return"]);
        gui.wait_for("signed in", |s| s["shown"] == "main" && s["model"]["me"]["name"] == "Ann Smith");
        // Open `all` (the only group, line 1).
        gui.click_at("main", main::GROUPS, Some(10));
        gui.wait_for("all opened", |s| group(s, "all").is_some_and(|g| s["model"]["current"] == g["gid"]));
        gui.click("main", main::INPUT);
        gui.type_text("hello from the window");
        gui.key(&["Return"]);
        gui.wait_for("the input emptied once sent", |s| s["input"] == "");
    });
    let mine = stored(&bob, "all", "hello from the window").await;
    assert_eq!((mine.from.as_str(), mine.name.as_str()), ("ann", "Ann Smith"));

    // A message from another client appears in the model and the view.
    let theirs = bob.publish("all", "hi ann, from the CLI side").await.unwrap();
    tokio::task::block_in_place(|| {
        let state = gui.wait_for("bob's message", |s| {
            group(s, "all").is_some_and(|g| seqs(s, g["gid"].as_u64().unwrap()).contains(&theirs.seq))
        });
        let gid = group(&state, "all").unwrap()["gid"].as_u64().unwrap();
        assert!(complete(&seqs(&state, gid), theirs.seq), "{state}");
        gui.wait_for("it is rendered", |s| s["rendered"].as_array().is_some_and(|r| r.len() as u64 == theirs.seq));
        assert_eq!(group(&gui.state(), "all").unwrap()["read_seq"], theirs.seq, "the group shown is read");

        // Switch language and back, at run time.
        gui.choose_language("main", main::LANGUAGE, 1);
        gui.choose_language("main", main::LANGUAGE, 0);

        // Create a group, then add a member from the manage dialog.
        gui.click("main", main::NEW_GROUP);
        gui.fill("create", joint_gui::ui::create_group::NAME, "team");
        gui.click("create", joint_gui::ui::create_group::CREATE);
        let state = gui.wait_for("team created", |s| group(s, "team").is_some_and(|g| g["admin"] == "ann"));
        let line = state["model"]["groups"].as_array().unwrap().iter().position(|g| g["name"] == "team").unwrap();
        gui.click_at("main", main::GROUPS, Some(10 + 18 * line as i32));
        gui.wait_for("team opened", |s| group(s, "team").is_some_and(|g| s["model"]["current"] == g["gid"]));
        gui.click("main", main::MANAGE);
        gui.fill("manage", manage::ADD_INPUT, "bob");
        gui.click("manage", manage::ADD);
        gui.wait_for("bob listed in team", |s| {
            group(s, "team").is_some_and(|g| g["members"].as_array().unwrap().iter().any(|m| m["login"] == "bob"))
        });
        gui.click("manage", manage::CLOSE);
        gui.click_at("main", main::GROUPS, Some(10));
        gui.wait_for("all opened again", |s| group(s, "all").is_some_and(|g| s["model"]["current"] == g["gid"]));
    });
    let bobs_groups: Vec<String> = bob.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert!(bobs_groups.contains(&"team".to_string()), "{bobs_groups:?}");

    // Kill the broker: the window shows it is reconnecting and keeps what is typed.
    let mut settings = app.settings.clone();
    settings.listen = addr.clone();
    let db = app.db.clone();
    let mut app = app;
    app.stop().await;
    tokio::task::block_in_place(|| {
        gui.wait_for("reconnecting", |s| s["model"]["connection"] == "reconnecting");
        gui.click("main", main::INPUT);
        gui.type_text("typed while away");
        gui.key(&["Return"]);
        gui.wait_for("the text kept", |s| s["input"] == "typed while away");
    });
    let app = spawn_on(db, settings).await;
    let (bob, _events) = app.login("bob").await;
    let mut last = 0;
    for i in 0..5 {
        last = bob.publish("all", &format!("while healing {i}")).await.unwrap().seq;
    }
    tokio::task::block_in_place(|| {
        let state = gui.wait_for("healed with every message once", |s| {
            s["model"]["connection"] == "online"
                && group(s, "all").is_some_and(|g| seqs(s, g["gid"].as_u64().unwrap()).last() == Some(&last))
        });
        let gid = group(&state, "all").unwrap()["gid"].as_u64().unwrap();
        assert!(complete(&seqs(&state, gid), last), "seqs complete and unique: {state}");
        let state =
            gui.wait_for("the view caught up", |s| s["rendered"].as_array().is_some_and(|r| r.len() as u64 == last));
        let rendered: Vec<u64> = state["rendered"].as_array().unwrap().iter().filter_map(|v| v.as_u64()).collect();
        assert!(complete(&rendered, last), "the view shows each message once: {rendered:?}");
        assert_eq!(state["input"], "typed while away", "the text waits for the user");
        // Sent now that the connection is back.
        gui.click("main", main::SEND);
        gui.wait_for("sent after healing", |s| s["input"] == "");
    });
    stored(&bob, "all", "typed while away").await;
}
