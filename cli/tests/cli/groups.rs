//! People and groups: users, user, groups, group create/delete/admin, members, member
//! add/remove, leave, with their main refusals.

use crate::helpers::Joint;
use joint_testkit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn an_admin_runs_a_group_from_the_terminal() {
    let app = spawn_app().await;
    app.user("bob").await;
    app.user("cyd").await;
    let ann = Joint::new(&app);
    ann.register("ann").await;

    let run = ann.run(&["group", "create", "team", "--member", "bob"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Group team created; members: 2.\n");
    let run = ann.run(&["group", "create", "team"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: group_exists: A group with that name already exists.\n");
    let run = ann.run(&["group", "create", "other", "--member", "nobody", "--member", "ghost"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: unknown_user: Unknown user. (logins: nobody, ghost)\n");

    let run = ann.run(&["member", "add", "team", "cyd", "bob"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Added 1: cyd\n");
    let run = ann.run(&["members", "team", "--json"]).await;
    run.expect(0);
    let logins: Vec<_> = run.json().iter().map(|m| m["login"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logins, ["ann", "bob", "cyd"]);
    assert_eq!(run.json()[0]["online"], json!(true), "ann asks on a signed-in connection");

    let run = ann.run(&["members", "team"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "LOGIN  NAME  ONLINE\nann    ann   yes\nbob    BOB   no\ncyd    CYD   no\n");

    let run = ann.run(&["member", "remove", "team", "cyd", "nobody-here"]).await;
    run.expect(2);
    let run = ann.run(&["member", "remove", "team", "cyd", "--json"]).await;
    run.expect(0);
    assert_eq!(run.json(), vec![json!({ "removed": ["cyd"] })]);

    let run = ann.run(&["leave", "team"]).await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: admin_cannot_leave: "), "{}", run.stderr);
    let run = ann.run(&["group", "admin", "team", "bob"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "bob is now the admin of team.\n");
    let run = ann.run(&["group", "admin", "team", "ann"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: not_admin: Only the group's admin may do that.\n");
    let run = ann.run(&["leave", "team"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "You left team.\n");
    let run = ann.run(&["members", "team"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: not_member: Not a member of that group.\n");
    let run = ann.run(&["--lang", "ru", "leave", "all"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: not_allowed: Это не разрешено: не для группы all, не для чужого сообщения, только для операторов или регистрация закрыта.\n");
}

#[tokio::test]
async fn groups_show_unread_counts_and_delete_needs_confirmation() {
    let app = spawn_app().await;
    let (bob, _events) = app.user("bob").await;
    let ann = Joint::new(&app);
    ann.register("ann").await;
    ann.run(&["group", "create", "team", "--member", "bob"]).await.expect(0);
    for text in ["one", "two", "three"] {
        bob.publish("team", text).await.unwrap();
    }
    let run = ann.run(&["groups", "--json"]).await;
    run.expect(0);
    let groups = run.json();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["name"], "all");
    assert_eq!(groups[1]["name"], "team");
    assert_eq!(groups[1]["admin"], "ann");
    assert_eq!(groups[1]["members"], 2);
    assert_eq!(groups[1]["last_seq"], 3);
    assert_eq!(groups[1]["unread"], 3);
    ann.run(&["read", "team", "2"]).await.expect(0);
    let run = ann.run(&["groups"]).await;
    run.expect(0);
    assert_eq!(
        run.stdout,
        "GROUP  ADMIN  MEMBERS  LAST  UNREAD\nall    -      2        0     0\nteam   ann    2        3     1\n"
    );
    let run = ann.run(&["--lang", "ru", "groups"]).await;
    run.expect(0);
    assert!(run.stdout.starts_with("ГРУППА  АДМИН  УЧАСТНИКИ  ПОСЛЕДНЕЕ  НЕПРОЧИТАНО\n"), "{}", run.stdout);

    let run = ann.run(&["user", "bob", "--json"]).await;
    run.expect(0);
    assert_eq!(run.json()[0]["groups"], json!(["all", "team"]));
    let run = ann.run(&["user", "nobody"]).await;
    run.expect(2);
    let run = ann.run(&["users", "--json"]).await;
    run.expect(0);
    let logins: Vec<_> = run.json().iter().map(|u| u["login"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logins, ["ann", "bob"]);

    let run = ann.run(&["group", "delete", "team"]).await;
    run.expect(1);
    assert_eq!(run.stderr, "joint: usage: not on a terminal: add --yes to confirm\n");
    let run = ann.run(&["group", "delete", "team", "--yes"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Group team deleted.\n");
    let run = ann.run(&["group", "delete", "team", "--yes"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: no_such_group: There is no such group.\n");
}

#[tokio::test]
async fn the_remaining_refusals_and_tables() {
    let app = spawn_app().await;
    let (bob, _events) = app.user("bob").await;
    let ann = Joint::new(&app);
    let run = ann.run(&["logout"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: unauthenticated: You are not logged in: run `joint login`.\n");
    ann.register("ann").await;
    bob.group_create("bobs", &["ann".to_owned()]).await.unwrap();

    let run = ann.run(&["member", "add", "bobs", "ann"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: not_admin: Only the group's admin may do that.\n");
    let run = ann.run_with(&["passwd", "--password-stdin"], "wrong-old\nnew-password\n").await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: bad_credentials: Wrong login or password.\n");
    let run = ann.run(&["user", "nobody"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: unknown_user: Unknown user. (logins: nobody)\n");
    for args in [["export", "nowhere"], ["tail", "nowhere"], ["chat", "nowhere"], ["members", "nowhere"]] {
        let run = ann.run(&args).await;
        run.expect(2);
        assert_eq!(run.stderr, "joint: no_such_group: There is no such group.\n", "{args:?}");
    }

    let run = ann.run(&["user", "bob"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "LOGIN: bob\nNAME: BOB\nONLINE: yes\nSHARED GROUPS: all, bobs\n");
    let run = ann.run(&["users"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "LOGIN  NAME  ONLINE\nann    ann   yes\nbob    BOB   yes\n");
}
