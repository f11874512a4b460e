//! Groups, memberships and the events they cause.

use crate::helpers::*;
use joint_wire::message::{Event, GroupEvent, RemovedReason};
use joint_wire::ErrorCode;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn create_with_members_tells_everyone_and_lists_them() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;
    let (_cat, mut cat_events) = app.user("cat").await;

    let group = ann.group_create("Team", &strings(&["bob", "bob", "ann"])).await.unwrap();
    assert_eq!(group.name, "Team");
    assert_eq!(group.admin.as_deref(), Some("ann"));
    assert_eq!((group.members, group.last_seq, group.read_seq), (2, 0, 0));
    assert!(group.gid > 1, "gid 1 is all");

    let added = |read_seq| {
        Event::GroupAdded(GroupEvent {
            group: "Team".into(),
            gid: group.gid,
            admin: Some("ann".into()),
            members: 2,
            last_seq: 0,
            read_seq,
        })
    };
    assert_eq!(next_event(&mut ann_events).await, added(0), "the creator's connections hear of it too");
    assert_eq!(next_event(&mut bob_events).await, added(0));
    assert_no_event(&mut cat_events, 200).await;
    assert_no_event(&mut ann_events, 50).await;

    let names: Vec<String> = bob.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, vec!["all", "Team"]);
    let members = bob.members("Team", None, None).await.unwrap();
    assert_eq!(members.members.iter().map(|m| m.login.as_str()).collect::<Vec<_>>(), vec!["ann", "bob"]);
    assert!(members.members.iter().all(|m| m.online));
    assert!(!members.more);
    let shared = ann.user("bob").await.unwrap();
    assert_eq!(shared.groups, vec!["all", "Team"]);
    assert!(shared.online);
}

#[tokio::test]
async fn create_refusals() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    assert_eq!(code(ann.group_create("Team", &[]).await), ErrorCode::GroupExists);
    assert_eq!(code(ann.group_create("all", &[]).await), ErrorCode::GroupExists);
    ann.group_create("All", &[]).await.expect("names are case-sensitive; only all is reserved");
    let err = ann.group_create("Other", &strings(&["ghost", "spook"])).await.unwrap_err();
    let body = match err {
        joint_wire::ClientError::Broker(body) => body,
        other => panic!("{other:?}"),
    };
    assert_eq!(body.code, ErrorCode::UnknownUser);
    assert_eq!(body.logins, Some(strings(&["ghost", "spook"])));
    assert!(ann.groups().await.unwrap().iter().all(|g| g.name != "Other"), "nothing changed");
    assert_eq!(code(ann.group_create("a/b", &[]).await), ErrorCode::InvalidArgument);
    assert_eq!(code(ann.group_create("", &[]).await), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn member_add_and_remove_with_events() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;
    let (_cat, mut cat_events) = app.user("cat").await;
    let (_dan, mut dan_events) = app.user("dan").await;
    let group = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    next_event(&mut ann_events).await;
    next_event(&mut bob_events).await;

    let added = ann.member_add("Team", &strings(&["cat", "bob", "dan", "cat"])).await.unwrap();
    assert_eq!(added, strings(&["cat", "dan"]), "existing members and duplicates are skipped");
    for events in [&mut ann_events, &mut bob_events] {
        assert_eq!(
            next_event(events).await,
            Event::MemberJoined { group: "Team".into(), gid: group.gid, login: "cat".into() }
        );
        assert_eq!(
            next_event(events).await,
            Event::MemberJoined { group: "Team".into(), gid: group.gid, login: "dan".into() }
        );
    }
    for events in [&mut cat_events, &mut dan_events] {
        match next_event(events).await {
            Event::GroupAdded(g) => assert_eq!((g.group.as_str(), g.members), ("Team", 4)),
            other => panic!("{other:?}"),
        }
        assert_no_event(events, 100).await;
    }

    assert_eq!(code(bob.member_add("Team", &strings(&["cat"])).await), ErrorCode::NotAdmin);
    assert_eq!(code(bob.member_remove("Team", &strings(&["cat"])).await), ErrorCode::NotAdmin);
    assert_eq!(code(ann.member_remove("Team", &strings(&["ann"])).await), ErrorCode::AdminCannotLeave);
    assert_eq!(code(ann.member_add("Team", &strings(&["ghost"])).await), ErrorCode::UnknownUser);

    let removed = ann.member_remove("Team", &strings(&["cat", "eve0"])).await;
    assert_eq!(code(removed), ErrorCode::UnknownUser, "any unknown login refuses the whole call");
    let removed = ann.member_remove("Team", &strings(&["cat"])).await.unwrap();
    assert_eq!(removed, strings(&["cat"]));
    assert_eq!(
        next_event(&mut cat_events).await,
        Event::GroupRemoved { group: "Team".into(), gid: group.gid, reason: RemovedReason::Removed }
    );
    for events in [&mut ann_events, &mut bob_events, &mut dan_events] {
        assert_eq!(
            next_event(events).await,
            Event::MemberLeft { group: "Team".into(), gid: group.gid, login: "cat".into() }
        );
    }
    assert_eq!(
        ann.member_remove("Team", &strings(&["cat"])).await.unwrap(),
        Vec::<String>::new(),
        "non-members skipped"
    );
    assert_no_event(&mut cat_events, 200).await;
}

#[tokio::test]
async fn new_members_start_read_at_last_seq_and_all_is_untouchable() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let (bob, _e2) = app.user("bob").await;
    ann.group_create("Team", &[]).await.unwrap();
    let db = app.db.sql().await;
    db.execute("UPDATE groups SET last_seq = 7 WHERE name = 'Team'", &[]).await.unwrap();
    ann.member_add("Team", &strings(&["bob"])).await.unwrap();
    let team = bob.groups().await.unwrap().into_iter().find(|g| g.name == "Team").unwrap();
    assert_eq!((team.last_seq, team.read_seq), (7, 7));

    assert_eq!(code(ann.group_delete("all").await), ErrorCode::NotAllowed);
    assert_eq!(code(ann.leave("all").await), ErrorCode::NotAllowed);
    assert_eq!(code(ann.member_add("all", &strings(&["bob"])).await), ErrorCode::NotAllowed);
    assert_eq!(code(ann.member_remove("all", &strings(&["bob"])).await), ErrorCode::NotAllowed);
    let all = ann.groups().await.unwrap().into_iter().find(|g| g.name == "all").unwrap();
    assert_eq!((all.admin, all.members), (None, 2));
}

#[tokio::test]
async fn leave_and_delete() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;
    let (cat, mut cat_events) = app.user("cat").await;
    let group = ann.group_create("Team", &strings(&["bob", "cat"])).await.unwrap();
    for events in [&mut ann_events, &mut bob_events, &mut cat_events] {
        next_event(events).await;
    }
    assert_eq!(code(ann.leave("Team").await), ErrorCode::AdminCannotLeave);
    bob.leave("Team").await.unwrap();
    assert_eq!(
        next_event(&mut bob_events).await,
        Event::GroupRemoved { group: "Team".into(), gid: group.gid, reason: RemovedReason::Left }
    );
    for events in [&mut ann_events, &mut cat_events] {
        assert_eq!(
            next_event(events).await,
            Event::MemberLeft { group: "Team".into(), gid: group.gid, login: "bob".into() }
        );
    }
    assert_eq!(code(bob.leave("Team").await), ErrorCode::NotMember);
    assert_eq!(code(bob.members("Team", None, None).await), ErrorCode::NotMember);
    assert_eq!(code(cat.group_delete("Team").await), ErrorCode::NotAdmin);
    assert_eq!(code(bob.group_delete("Team").await), ErrorCode::NotMember);

    ann.group_delete("Team").await.unwrap();
    for events in [&mut ann_events, &mut cat_events] {
        assert_eq!(next_event(events).await, Event::GroupDeleted { group: "Team".into(), gid: group.gid, last_seq: 0 });
    }
    assert_no_event(&mut bob_events, 200).await;
    assert_eq!(code(ann.group_delete("Team").await), ErrorCode::NoSuchGroup);
    assert_eq!(code(cat.members("Team", None, None).await), ErrorCode::NoSuchGroup);

    let again = ann.group_create("Team", &[]).await.unwrap();
    assert!(again.gid > group.gid, "a re-created group gets a new gid");
}

#[tokio::test]
async fn admin_handover() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;
    app.user("cat").await;
    let group = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    next_event(&mut ann_events).await;
    next_event(&mut bob_events).await;

    let err = ann.group_admin("Team", "cat").await.unwrap_err();
    match err {
        joint_wire::ClientError::Broker(body) => {
            assert_eq!((body.code, body.logins), (ErrorCode::NotMember, Some(strings(&["cat"]))))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(ann.group_admin("Team", "ghost").await), ErrorCode::UnknownUser);
    assert_eq!(code(bob.group_admin("Team", "bob").await), ErrorCode::NotAdmin);
    assert_eq!(code(ann.group_admin("all", "bob").await), ErrorCode::NotAdmin);

    let same = ann.group_admin("Team", "ann").await.unwrap();
    assert_eq!(same.admin.as_deref(), Some("ann"));
    assert_no_event(&mut ann_events, 100).await;

    let updated = ann.group_admin("Team", "bob").await.unwrap();
    assert_eq!(updated.admin.as_deref(), Some("bob"));
    for events in [&mut ann_events, &mut bob_events] {
        match next_event(events).await {
            Event::GroupUpdated(g) => assert_eq!((g.gid, g.admin.as_deref()), (group.gid, Some("bob"))),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(code(ann.member_add("Team", &strings(&["cat"])).await), ErrorCode::NotAdmin);
    ann.leave("Team").await.unwrap();
}

#[tokio::test]
async fn deleting_an_account_passes_its_groups_on() {
    let app = spawn_app().await;
    let (ann, _ann_events) = app.user("ann").await;
    let (_cat, mut cat_events) = app.user("cat").await;
    let (_bob, mut bob_events) = app.user("bob").await;
    // bob joins before cat; the earliest member takes over.
    let team = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    ann.member_add("Team", &strings(&["cat"])).await.unwrap();
    let solo = ann.group_create("Solo", &[]).await.unwrap();
    while tokio::time::timeout(std::time::Duration::from_millis(200), bob_events.next()).await.is_ok() {}
    while tokio::time::timeout(std::time::Duration::from_millis(50), cat_events.next()).await.is_ok() {}

    ann.delete_account(&password("ann")).await.unwrap();
    for events in [&mut bob_events, &mut cat_events] {
        assert_eq!(
            next_event(events).await,
            Event::MemberLeft { group: "Team".into(), gid: team.gid, login: "ann".into() }
        );
        match next_event(events).await {
            Event::GroupUpdated(g) => assert_eq!((g.admin.as_deref(), g.members), (Some("bob"), 2)),
            other => panic!("{other:?}"),
        }
    }
    let (bob2, _e) = app.login("bob").await;
    let groups = bob2.groups().await.unwrap();
    assert!(groups.iter().any(|g| g.gid == team.gid && g.admin.as_deref() == Some("bob")));
    let db = app.db.sql().await;
    let deleted: bool = db
        .query_one("SELECT deleted_at IS NOT NULL FROM groups WHERE gid = $1", &[&(solo.gid as i64)])
        .await
        .unwrap()
        .get(0);
    assert!(deleted, "a group left without members is deleted");
    let all = groups.iter().find(|g| g.name == "all").unwrap();
    assert_eq!(all.members, 2);
}

#[tokio::test]
async fn member_pages() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let logins: Vec<String> = (0..12).map(|i| format!("m{i:02}")).collect();
    for login in &logins {
        app.user(login).await;
    }
    ann.group_create("Big", &logins).await.unwrap();
    let first = ann.members("Big", None, Some(5)).await.unwrap();
    assert_eq!(
        first.members.iter().map(|m| m.login.as_str()).collect::<Vec<_>>(),
        vec!["ann", "m00", "m01", "m02", "m03"]
    );
    assert!(first.more);
    let rest = ann.members("Big", Some("m03"), Some(1000)).await.unwrap();
    assert_eq!(rest.members.len(), 8);
    assert!(!rest.more);
    assert_eq!(code(ann.members("Big", None, Some(0)).await), ErrorCode::InvalidArgument);
    let clamped = ann.members("Big", None, Some(u64::MAX)).await.unwrap();
    assert_eq!(clamped.members.len(), 13);
}

#[tokio::test]
async fn an_account_deleted_during_member_add_never_becomes_a_member() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &[]).await.unwrap();
    // Hold bob's row as delete_account does, then delete him while member_add waits.
    let mut db = app.db.sql().await;
    let tx = db.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM users WHERE login = 'bob' FOR UPDATE", &[]).await.unwrap();
    let adding = tokio::spawn(async move { ann.member_add("Team", &strings(&["bob"])).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!adding.is_finished(), "member_add waits for the deletion in progress");
    tx.execute("UPDATE users SET deleted_at = now(), password = NULL WHERE login = 'bob'", &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(code(adding.await.unwrap()), ErrorCode::UnknownUser);
    let members: i64 = db
        .query_one("SELECT count(*) FROM memberships m JOIN groups g ON g.gid = m.gid WHERE g.name = 'Team'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 1, "only ann");
}

#[tokio::test]
async fn a_membership_added_during_account_deletion_is_ended_too() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    let (bob, _bob_events) = app.user("bob").await;
    let team = ann.group_create("Team", &[]).await.unwrap();
    next_event(&mut ann_events).await; // group_added
                                       // Hold bob's row so the deletion waits after locking his groups; add him to Team then.
    let mut db = app.db.sql().await;
    let tx = db.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM users WHERE login = 'bob' FOR UPDATE", &[]).await.unwrap();
    let deleting = tokio::spawn(async move { bob.delete_account(&password("bob")).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.execute(
        "INSERT INTO memberships (gid, user_id) SELECT $1, id FROM users WHERE login = 'bob'",
        &[&(team.gid as i64)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    deleting.await.unwrap().expect("the deletion starts over and succeeds");
    let left: i64 = db
        .query_one("SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.login = 'bob'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "no membership outlives the account");
    assert_eq!(
        next_event(&mut ann_events).await,
        Event::MemberLeft { group: "Team".into(), gid: team.gid, login: "bob".into() }
    );
}
