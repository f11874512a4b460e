//! Group administration and the account from the window, and a session that dies elsewhere.

use crate::harness::{group, Display, Gui};
use joint_gui::ui::{account, main_window as main, manage_group as manage, signin};
use joint_testkit::{password, spawn_app};
use joint_wire::message::EndReason;

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_removes_a_member_renames_continues_a_kept_session_and_is_signed_out_by_a_password_change() {
    let app = spawn_app().await;
    let addr = app.addr.to_string();
    let (ann, _a) = app.user("ann").await;
    app.user("bob").await;
    app.user("cat").await;
    ann.group_create("team", &["bob".into(), "cat".into()]).await.unwrap();
    let display = Display::start();
    let gui = tokio::task::block_in_place(|| Gui::start(&display, &addr, "en"));
    tokio::task::block_in_place(|| {
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, &password("ann"));
        gui.key(&["Return"]);
        let state = gui.wait_for("signed in", |s| s["shown"] == "main");
        let line = state["model"]["groups"].as_array().unwrap().iter().position(|g| g["name"] == "team").unwrap();
        gui.click_at("main", main::GROUPS, Some(10 + 18 * line as i32));
        gui.wait_for("team's members", |s| {
            group(s, "team").is_some_and(|g| g["members"].as_array().is_some_and(|m| m.len() == 3))
        });
        // Members are listed by login: ann, bob, cat. Remove cat (line 3).
        gui.click("main", main::MANAGE);
        gui.click_at("manage", manage::MEMBERS, Some(10 + 18 * 2));
        gui.click("manage", manage::REMOVE);
        gui.wait_for("cat removed", |s| {
            group(s, "team").is_some_and(|g| g["members"].as_array().unwrap().iter().all(|m| m["login"] != "cat"))
        });
        gui.click("manage", manage::CLOSE);
        // Change the display name.
        gui.click("main", main::ACCOUNT);
        gui.fill("account", account::NAME, "Ann Renamed");
        gui.click("account", account::SET_NAME);
        gui.wait_for("renamed", |s| s["model"]["me"]["name"] == "Ann Renamed");
        gui.click("account", account::CLOSE);
        // Disconnect keeps the session: Continue signs in again without the password.
        gui.click("main", main::DISCONNECT);
        gui.wait_for("disconnected", |s| s["shown"] == "sign_in");
        gui.click("signin", signin::CONTINUE);
        gui.wait_for("continued", |s| s["shown"] == "main" && s["model"]["me"]["name"] == "Ann Renamed");
    });
    let members: Vec<String> =
        ann.members("team", None, None).await.unwrap().members.into_iter().map(|m| m.login).collect();
    assert_eq!(members, ["ann", "bob"]);
    assert_eq!(ann.me().await.unwrap().name, "Ann Renamed");

    // The password changed on another device: the window's session ends, with the reason.
    ann.passwd(&password("ann"), "a-brand-new-password").await.unwrap();
    let reason = joint_gui::i18n::end_reason_text(EndReason::PasswordChanged);
    tokio::task::block_in_place(|| {
        let state = gui.wait_for("back at sign-in", |s| s["shown"] == "sign_in");
        assert_eq!(state["errors"]["signin"], reason.as_str());
        assert!(state["model"]["me"].is_null(), "the model forgot the session");
        assert!(state["windows"]["main"] == 0, "the main window is closed");
    });
}
