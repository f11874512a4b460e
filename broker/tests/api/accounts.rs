//! Registration, login, sessions and account changes.

use crate::helpers::*;
use joint_wire::message::{EndReason, Event};
use joint_wire::ErrorCode;

#[tokio::test]
async fn register_signs_in_and_joins_all() {
    let app = spawn_app().await;
    let (client, _events) = app.client().await;
    let session = client.register("ann", "Ann Lee", &password("ann")).await.unwrap();
    let token = session.token.expect("register returns a token");
    assert_eq!(token.len(), 43);
    assert_eq!(session.user.login, "ann");
    assert_eq!(session.user.name, "Ann Lee");
    assert_eq!(session.groups.len(), 1);
    assert_eq!(session.groups[0].name, "all");
    assert_eq!(session.groups[0].admin, None);
    assert_eq!(client.me().await.unwrap().login, "ann");

    // The password and token are stored only as hashes.
    let db = app.db.sql().await;
    let row = db.query_one("SELECT password FROM users WHERE login = 'ann'", &[]).await.unwrap();
    let stored: String = row.get(0);
    assert!(stored.starts_with("$scrypt$"), "{stored}");
    assert!(!stored.contains(&password("ann")));
    let sessions = db.query("SELECT token_hash FROM sessions", &[]).await.unwrap();
    assert_eq!(sessions.len(), 1);
    let hash: Vec<u8> = sessions[0].get(0);
    assert_eq!(hash.len(), 32);
    assert!(!token.as_bytes().windows(8).any(|w| hash.windows(8).any(|h| h == w)));
}

#[tokio::test]
async fn login_and_auth_on_a_second_connection() {
    let app = spawn_app().await;
    app.user("bob").await;
    let (second, _e) = app.client().await;
    assert_eq!(code(second.login("bob", "wrong password").await), ErrorCode::BadCredentials);
    assert_eq!(code(second.login("nobody", "whatever1").await), ErrorCode::BadCredentials);
    let session = second.login("bob", &password("bob")).await.unwrap();
    let token = session.token.unwrap();
    let (third, _e) = app.client().await;
    let authed = third.auth(&token).await.unwrap();
    assert_eq!(authed.token, None, "auth does not mint a new token");
    assert_eq!(authed.user.login, "bob");
    assert_eq!(code(third.auth(&token).await), ErrorCode::AlreadyAuthenticated);
    let (fourth, _e) = app.client().await;
    assert_eq!(code(fourth.auth("not-a-token").await), ErrorCode::BadToken);
    assert_eq!(code(fourth.auth(&"A".repeat(43)).await), ErrorCode::BadToken);
}

#[tokio::test]
async fn logout_ends_every_connection_of_the_token() {
    let app = spawn_app().await;
    let (first, mut first_events) = app.user("cat").await;
    let token = first.token().unwrap();
    let (second, mut second_events) = app.client().await;
    second.auth(&token).await.unwrap();
    let (other_session, mut other_events) = app.login("cat").await;

    first.logout().await.unwrap();
    assert_eq!(next_event(&mut first_events).await, Event::SessionEnded { reason: EndReason::Logout });
    assert_eq!(next_event(&mut second_events).await, Event::SessionEnded { reason: EndReason::Logout });
    assert_eq!(code(second.me().await), ErrorCode::Unauthenticated, "the connection is anonymous now");
    assert_eq!(code(first.groups().await), ErrorCode::Unauthenticated);
    // The connection stays open and may sign in again.
    first.login("cat", &password("cat")).await.unwrap();
    // A different session of the same user goes on.
    assert_no_event(&mut other_events, 300).await;
    other_session.me().await.unwrap();
    let (fresh, _e) = app.client().await;
    assert_eq!(code(fresh.auth(&token).await), ErrorCode::BadToken, "a logged-out token is dead");
}

#[tokio::test]
async fn tokens_survive_a_broker_restart() {
    let app = spawn_app().await;
    let (client, _e) = app.user("dan").await;
    let token = client.token().unwrap();
    let restarted = app.restart().await;
    let (client, _e) = restarted.client().await;
    assert_eq!(client.auth(&token).await.unwrap().user.login, "dan");
}

#[tokio::test]
async fn passwd_ends_other_sessions_only() {
    let app = spawn_app().await;
    let (main, mut main_events) = app.user("eve").await;
    let token = main.token().unwrap();
    let (same_token, mut same_events) = app.client().await;
    same_token.auth(&token).await.unwrap();
    let (other, mut other_events) = app.login("eve").await;

    assert_eq!(code(main.passwd("wrong-old-pw", "new-password-1").await), ErrorCode::BadCredentials);
    assert_eq!(code(main.passwd(&password("eve"), "short").await), ErrorCode::InvalidArgument);
    main.passwd(&password("eve"), "new-password-1").await.unwrap();
    assert_eq!(next_event(&mut other_events).await, Event::SessionEnded { reason: EndReason::PasswordChanged });
    assert_eq!(code(other.me().await), ErrorCode::Unauthenticated);
    assert_no_event(&mut main_events, 200).await;
    assert_no_event(&mut same_events, 100).await;
    main.me().await.unwrap();
    same_token.me().await.unwrap();

    let (fresh, _e) = app.client().await;
    assert_eq!(code(fresh.login("eve", &password("eve")).await), ErrorCode::BadCredentials);
    fresh.login("eve", "new-password-1").await.unwrap();
}

#[tokio::test]
async fn set_name_normalizes_and_shows_everywhere() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let (bob, _e2) = app.user("bob").await;
    let user = ann.set_name("Ame\u{301}lie").await.unwrap();
    assert_eq!(user.name, "Am\u{e9}lie", "stored in NFC");
    assert_eq!(ann.me().await.unwrap().name, "Am\u{e9}lie");
    assert_eq!(bob.user("ann").await.unwrap().name, "Am\u{e9}lie");
    assert_eq!(code(ann.set_name(" padded").await), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn delete_account_retires_the_login_and_ends_sessions() {
    let app = spawn_app().await;
    let (gone, mut gone_events) = app.user("gus").await;
    let (second, mut second_events) = app.login("gus").await;
    assert_eq!(code(gone.delete_account("wrong-password").await), ErrorCode::BadCredentials);
    gone.delete_account(&password("gus")).await.unwrap();
    assert_eq!(next_event(&mut gone_events).await, Event::SessionEnded { reason: EndReason::AccountDeleted });
    assert_eq!(next_event(&mut second_events).await, Event::SessionEnded { reason: EndReason::AccountDeleted });
    assert_eq!(code(second.me().await), ErrorCode::Unauthenticated);

    let (other, _e) = app.client().await;
    assert_eq!(code(other.register("gus", "Gus", "another-password").await), ErrorCode::LoginTaken);
    assert_eq!(code(other.login("gus", &password("gus")).await), ErrorCode::BadCredentials);
    other.register("hal", "Hal", &password("hal")).await.unwrap();
    assert_eq!(code(other.user("gus").await), ErrorCode::UnknownUser);
    let users = other.users(None, None).await.unwrap();
    assert_eq!(users.users.iter().map(|u| u.login.as_str()).collect::<Vec<_>>(), vec!["hal"]);
}

#[tokio::test]
async fn users_pages_in_login_byte_order_with_online_flags() {
    let app = spawn_app().await;
    let (zed, _e) = app.user("zed").await;
    let mut keep = Vec::new();
    for login in ["bea", "abe", "0ne", "a.b", "a-b", "a_b"] {
        keep.push(app.user(login).await);
    }
    let all = zed.users(None, Some(5000)).await.unwrap();
    let logins: Vec<&str> = all.users.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(logins, vec!["0ne", "a-b", "a.b", "a_b", "abe", "bea", "zed"]);
    assert!(!all.more);
    assert!(all.users.iter().all(|u| u.online));
    let page = zed.users(None, Some(3)).await.unwrap();
    assert_eq!(page.users.len(), 3);
    assert!(page.more);
    let next = zed.users(Some("a.b"), Some(3)).await.unwrap();
    assert_eq!(next.users.iter().map(|u| u.login.as_str()).collect::<Vec<_>>(), vec!["a_b", "abe", "bea"]);
    assert!(next.more);
    assert_eq!(code(zed.users(None, Some(0)).await), ErrorCode::InvalidArgument);
    assert_eq!(code(zed.users(Some("a\0b"), None).await), ErrorCode::InvalidArgument);

    drop(keep);
    let offline = async {
        loop {
            let page = zed.users(None, None).await.unwrap();
            if page.users.iter().filter(|u| u.online).count() == 1 {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let page = tokio::time::timeout(WAIT, offline).await.expect("closed connections go offline");
    assert!(page.users.iter().find(|u| u.login == "zed").unwrap().online);
}

#[tokio::test]
async fn concurrent_registrations_of_one_login_have_one_winner() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (client, events) = app.client().await;
        tasks.push(tokio::spawn(async move {
            let result = client.register("race", &format!("Racer {i}"), "race-password").await;
            drop(events);
            result.map(|s| s.user.name).map_err(|e| e.code())
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(code) => assert_eq!(code, Some(ErrorCode::LoginTaken)),
        }
    }
    assert_eq!(winners, 1);
    let db = app.db.sql().await;
    let count: i64 = db.query_one("SELECT count(*) FROM users WHERE login = 'race'", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_login_racing_a_password_change_gets_no_session() {
    let app = spawn_app().await;
    app.user("ann").await;
    // A password change in progress holds the account's row with the new hash written.
    let mut db = app.db.sql().await;
    let tx = db.transaction().await.unwrap();
    tx.execute("UPDATE users SET password = '$scrypt$ln=4,r=1,p=1$c2FsdA$aGFzaA' WHERE login = 'ann'", &[])
        .await
        .unwrap();
    let (client, _e) = app.client().await;
    let racing = tokio::spawn(async move { client.login("ann", &password("ann")).await.map(|s| s.token) });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.commit().await.unwrap();
    assert_eq!(code(racing.await.unwrap()), ErrorCode::BadCredentials, "the old password opens no session");
    let sessions: i64 = db
        .query_one("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login = 'ann'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 1, "only the registration's session");
}

#[tokio::test]
async fn a_reply_too_large_to_send_signs_nobody_in() {
    let app = spawn_app_with(|s| {
        s.max_frame = 4096;
        s.max_body = 1024;
    })
    .await;
    app.user("ann").await;
    let db = app.db.sql().await;
    db.batch_execute(
        "INSERT INTO groups (name, admin_id) SELECT repeat('x', 60) || i, u.id FROM generate_series(1, 60) i, users u
           WHERE u.login = 'ann';
         INSERT INTO memberships (gid, user_id) SELECT g.gid, u.id FROM groups g, users u
           WHERE u.login = 'ann' AND g.admin_id = u.id",
    )
    .await
    .unwrap();
    let (client, _e) = app.client().await;
    assert_eq!(code(client.login("ann", &password("ann")).await), ErrorCode::Internal);
    assert_eq!(code(client.users(None, None).await), ErrorCode::Unauthenticated, "the failed login signed nobody in");
}
