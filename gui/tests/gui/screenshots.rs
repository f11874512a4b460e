//! Pictures of the sign-in window, the main window with a conversation and the admin dialog
//! in every language, under target/screenshots/ (scripts/screenshots copies them to
//! docs/screenshots/). One test per language, so they run side by side.

use crate::harness::{screenshot_dir, Display, Gui};
use joint_gui::ui::{main_window as main, manage_group, signin};
use joint_testkit::{password, spawn_app};

/// Signs in as the admin of a group with a conversation in three scripts and photographs the
/// three windows in `lang`.
async fn screenshots_in(lang: &str) {
    let app = spawn_app().await;
    let addr = app.addr.to_string();
    let (ann, _a) = app.client().await;
    ann.register("ann", "Ann Smith", &password("ann")).await.unwrap();
    let (bob, _b) = app.client().await;
    bob.register("bob", "Борис", &password("bob")).await.unwrap();
    let (li, _l) = app.client().await;
    li.register("lina", "李娜", &password("lina")).await.unwrap();
    ann.group_create("team", &["bob".into(), "lina".into()]).await.unwrap();
    ann.publish("team", "Hello everyone! The release notes are in the shared folder.").await.unwrap();
    bob.publish("team", "Привет! Посмотрю сегодня вечером.").await.unwrap();
    li.publish("team", "你好！我明天检查翻译。").await.unwrap();
    bob.publish("team", &"A long message wraps inside the view instead of running off its edge. ".repeat(3))
        .await
        .unwrap();
    let dir = screenshot_dir();
    let display = Display::start();
    tokio::task::block_in_place(|| {
        let gui = Gui::start(&display, &addr, lang);
        gui.fill("signin", signin::LOGIN, "ann");
        gui.fill("signin", signin::PASSWORD, &password("ann"));
        gui.key(&["Return"]);
        let state = gui.wait_for("signed in", |s| s["shown"] == "main");
        let line = state["model"]["groups"].as_array().unwrap().iter().position(|g| g["name"] == "team").unwrap();
        gui.click_at("main", main::GROUPS, Some(10 + 18 * line as i32));
        gui.wait_for("team shown", |s| s["rendered"].as_array().is_some_and(|r| r.len() == 4));
        gui.wait_for("members listed", |s| {
            crate::harness::group(s, "team").is_some_and(|g| g["members"].as_array().is_some_and(|m| m.len() == 3))
        });
        gui.screenshot("main", &dir.join(format!("main-{lang}.png")));
        gui.click("main", main::MANAGE);
        gui.screenshot("manage", &dir.join(format!("admin-{lang}.png")));
        gui.click("manage", manage_group::CLOSE);
        gui.wait_for("the dialog closed", |s| s["windows"]["manage"] == 0);
        gui.click("main", main::DISCONNECT);
        gui.wait_for("back at sign-in", |s| s["shown"] == "sign_in");
        gui.screenshot("signin", &dir.join(format!("signin-{lang}.png")));
    });
    for kind in ["main", "admin", "signin"] {
        let path = dir.join(format!("{kind}-{lang}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1_000, "{} is missing or empty", path.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_english() {
    screenshots_in("en").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_russian() {
    screenshots_in("ru").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_german() {
    screenshots_in("de").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_spanish() {
    screenshots_in("es").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_french() {
    screenshots_in("fr").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_chinese() {
    screenshots_in("zh-CN").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_in_ukrainian() {
    screenshots_in("uk").await;
}

#[test]
fn every_language_has_a_screenshot_test() {
    let source = include_str!("screenshots.rs");
    for lang in joint_gui::i18n::LANGUAGES {
        assert!(source.contains(&format!("screenshots_in(\"{lang}\")")), "{lang} has no screenshot test");
    }
}
