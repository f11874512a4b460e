//! `joint` speaks all seven languages: help, refusals and results, chosen by `--lang`, else
//! by LC_ALL, LC_MESSAGES or LANG.

use crate::helpers::Joint;
use crate::locales::{load, workspace};
use joint_testkit::spawn_app;
use std::collections::BTreeMap;

fn texts(lang: &str) -> BTreeMap<String, String> {
    load(&workspace().join("locales").join(format!("{lang}.yml")))
}

#[tokio::test]
async fn help_refusals_and_results_in_every_language() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    joint.register("ann").await;
    for lang in ["en", "ru", "de", "es", "fr", "zh-CN", "uk"] {
        let texts = texts(lang);
        let help = joint.run(&["--lang", lang, "--help"]).await;
        help.expect(0);
        for key in ["cli.help.about", "cli.help.exit_codes", "cli.help.tail", "cli.help.json"] {
            assert!(help.stdout.contains(&texts[key]), "{lang}: {key} missing from\n{}", help.stdout);
        }
        let run = joint.run(&["--lang", lang, "members", "nowhere"]).await;
        run.expect(2);
        assert_eq!(run.stderr, format!("joint: no_such_group: {}\n", texts["error.no_such_group"]));
        let group = format!("g-{lang}");
        let run = joint.run(&["--lang", lang, "group", "create", &group]).await;
        run.expect(0);
        let sentence = texts["cli.out.group_created"].replace("%{group}", &group).replace("%{members}", "1");
        assert_eq!(run.stdout, format!("{sentence}\n"));
    }
}

#[tokio::test]
async fn the_language_comes_from_the_environment() {
    let app = spawn_app().await;
    let joint = Joint::new(&app).with_lang("zh_CN.UTF-8");
    let run = joint.run(&["whoami"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: unauthenticated: 你尚未登录：请运行 `joint login`。\n");
    let output = joint.command(&["whoami"]).env("LC_ALL", "uk_UA.UTF-8").output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "joint: unauthenticated: Ви не увійшли: виконайте `joint login`.\n", "LC_ALL wins over LANG");
    let output = joint.command(&["--lang", "fr", "whoami"]).env("LC_ALL", "uk_UA.UTF-8").output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "joint: unauthenticated: Vous n'êtes pas connecté : lancez `joint login`.\n");

    // Tables are aligned in terminal cells: Chinese characters take two.
    joint.register("ann").await;
    let run = joint.run(&["groups"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "群组  管理员  成员  最新  未读\nall   -       1     0     0\n");
}

#[tokio::test]
async fn an_unknown_language_is_a_usage_error() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    for args in [&["--lang", "xx", "whoami"][..], &["--lang=pt_BR", "--json", "groups"][..]] {
        let run = joint.run(args).await;
        run.expect(1);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("unknown language "), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("en, ru, de, es, fr, zh-CN, uk"), "{args:?}: {}", run.stderr);
    }
    let run = joint.run(&["--lang", "xx", "whoami"]).await;
    assert_eq!(run.stderr, "joint: usage: unknown language xx; choose one of: en, ru, de, es, fr, zh-CN, uk\n");
    let run = Joint::new(&app).with_lang("de_DE.UTF-8").run(&["--lang", "xx", "whoami"]).await;
    assert_eq!(
        run.stderr, "joint: usage: unbekannte Sprache xx; wählen Sie eine von: en, ru, de, es, fr, zh-CN, uk\n",
        "said in the environment's language"
    );
    let run = joint.run(&["--lang", "ru_RU.UTF-8", "whoami"]).await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: unauthenticated: Вы не"), "a locale name works too: {}", run.stderr);
}
