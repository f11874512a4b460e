//! Every error code of the contract, each produced for real, and the precedence rules.
//!
//! `produce` has one arm per code with no wildcard: a code added to `ErrorCode` does not
//! compile until it has a scenario here.

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use joint_wire::ErrorCode;

async fn signed_in_raw(app: &TestApp, login: &str) -> RawConn {
    let mut raw = app.raw().await;
    let register = Request::Register { login: login.into(), name: login.into(), password: password(login) };
    assert!(matches!(raw.call(1, &register).await, Incoming::Ok { .. }));
    raw
}

/// Makes the broker answer `code` and returns what it answered.
async fn produce(app: &TestApp, code: ErrorCode) -> ErrorCode {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match code {
        ErrorCode::BadFrame => {
            let mut raw = app.raw().await;
            raw.send_bytes(&[0, 0, 0, 0]).await;
            err_code(&raw.recv().await.unwrap())
        }
        ErrorCode::FrameTooLarge => {
            let mut raw = app.raw().await;
            raw.send_bytes(&u32::MAX.to_be_bytes()).await;
            err_code(&raw.recv().await.unwrap())
        }
        ErrorCode::UnsupportedVersion => {
            let mut raw = app.raw().await;
            err_code(&raw.call(1, &Request::Hello { version: 99, client: None, client_ip: None }).await)
        }
        ErrorCode::UnknownOp => {
            let mut raw = app.raw().await;
            raw.send_payload(&map(vec![("id", 1.into()), ("op", "fly".into())])).await;
            err_code(&raw.recv().await.unwrap())
        }
        ErrorCode::InvalidArgument => {
            let (client, _e) = app.client().await;
            crate::helpers::code(client.register("x", "X", "password-1").await)
        }
        ErrorCode::Unauthenticated => {
            let (client, _e) = app.client().await;
            crate::helpers::code(client.groups().await)
        }
        ErrorCode::AlreadyAuthenticated => {
            let (client, _e) = app.user("already").await;
            crate::helpers::code(client.login("already", &password("already")).await)
        }
        ErrorCode::BadCredentials => {
            let (client, _e) = app.client().await;
            crate::helpers::code(client.login("nobody", "password-1").await)
        }
        ErrorCode::BadToken => {
            let (client, _e) = app.client().await;
            crate::helpers::code(client.auth("bogus").await)
        }
        ErrorCode::RateLimited => {
            // Its own broker: the per-IP backoff would refuse the later scenarios' logins.
            let limited = spawn_app().await;
            let (client, _e) = limited.client().await;
            let mut last = None;
            for _ in 0..6 {
                last = Some(crate::helpers::code(client.login("limited", "password-1").await));
            }
            last.unwrap()
        }
        ErrorCode::LoginTaken => {
            app.user("taken").await;
            let (client, _e) = app.client().await;
            crate::helpers::code(client.register("taken", "T", "password-1").await)
        }
        ErrorCode::NoSuchGroup => {
            let (client, _e) = app.user("nogroup").await;
            crate::helpers::code(client.members("Nowhere", None, None).await)
        }
        ErrorCode::GroupExists => {
            let (client, _e) = app.user("exists").await;
            client.group_create("Twice", &[]).await.unwrap();
            crate::helpers::code(client.group_create("Twice", &[]).await)
        }
        ErrorCode::UnknownUser => {
            let (client, _e) = app.user("lookup").await;
            crate::helpers::code(client.user("ghost").await)
        }
        ErrorCode::NotMember => {
            let (owner, _e) = app.user("owner1").await;
            owner.group_create("Private", &[]).await.unwrap();
            let (outsider, _e) = app.user("outsider").await;
            crate::helpers::code(outsider.members("Private", None, None).await)
        }
        ErrorCode::NotAdmin => {
            let (owner, _e) = app.user("owner2").await;
            app.user("member2").await;
            owner.group_create("Ruled", &strings(&["member2"])).await.unwrap();
            let (member, _e) = app.login("member2").await;
            crate::helpers::code(member.group_delete("Ruled").await)
        }
        ErrorCode::NotAllowed => {
            let (client, _e) = app.user("allow").await;
            crate::helpers::code(client.leave("all").await)
        }
        ErrorCode::AdminCannotLeave => {
            let (client, _e) = app.user("captain").await;
            client.group_create("Ship", &[]).await.unwrap();
            crate::helpers::code(client.leave("Ship").await)
        }
        ErrorCode::BodyTooLarge => {
            let (client, _e) = app.user("talker").await;
            let body = "x".repeat(app.settings.max_body + 1);
            crate::helpers::code(client.publish("all", &body).await)
        }
        ErrorCode::TooManyConnections => {
            let capped = spawn_app_with(|s| s.max_connections_per_ip = 1).await;
            let _first = capped.raw().await;
            let mut second = capped.raw().await;
            err_code(&second.recv().await.unwrap())
        }
        ErrorCode::IdleTimeout => {
            let idle = spawn_app_with(|s| s.idle_anonymous_ms = 100).await;
            let mut raw = idle.raw().await;
            err_code(&raw.recv().await.unwrap())
        }
        ErrorCode::ShuttingDown => {
            let mut closing = spawn_app().await;
            let mut raw = closing.raw().await;
            assert!(matches!(raw.call(1, &Request::Ping).await, Incoming::Ok { .. }));
            closing.stop().await;
            let code = err_code(&raw.recv().await.unwrap());
            raw.expect_closed().await;
            code
        }
        ErrorCode::Unavailable => {
            let down = spawn_app_with(|s| s.db_timeout_ms = 1000).await;
            let mut raw = signed_in_raw(&down, "patient").await;
            lock_out(&down).await;
            let started = std::time::Instant::now();
            let code = err_code(&raw.call(2, &Request::Groups).await);
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "unavailable comes within 5 s");
            code
        }
        ErrorCode::AccountDisabled => {
            let moderated = spawn_app_with(|s| s.operators = vec!["boss".into()]).await;
            let (boss, _e) = moderated.user("boss").await;
            moderated.user("spammer").await;
            boss.user_disable("spammer").await.unwrap();
            let (client, _e) = moderated.client().await;
            crate::helpers::code(client.login("spammer", &password("spammer")).await)
        }
        ErrorCode::QuotaExceeded => {
            let quota = spawn_app_with(|s| s.max_groups_per_user = 1).await;
            let (client, _e) = quota.user("hoarder").await;
            client.group_create("One", &[]).await.unwrap();
            crate::helpers::code(client.group_create("Two", &[]).await)
        }
        ErrorCode::Internal => {
            let broken = spawn_app().await;
            let mut raw = signed_in_raw(&broken, "victim").await;
            broken.db.sql().await.batch_execute("ALTER TABLE memberships RENAME TO memberships_gone").await.unwrap();
            let reply = raw.call(2, &Request::Groups).await;
            let Incoming::Err { err, .. } = &reply else { panic!("{reply:?}") };
            assert_eq!(err.msg, "the broker failed to carry out the request", "no SQL reaches the client");
            err.code
        }
    }
}

/// Makes the broker's database refuse every connection, old and new.
async fn lock_out(app: &TestApp) {
    let admin = connect_admin().await;
    let name = &app.db.name;
    admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[name]).await.unwrap();
}

async fn connect_admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test]
async fn every_error_code_is_produced() {
    let app = spawn_app().await;
    for code in ErrorCode::ALL {
        assert_eq!(produce(&app, code).await, code, "scenario for {code}");
    }
}

#[tokio::test]
async fn precedence_follows_the_contract() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    // unknown_op is checked before authentication
    raw.send_payload(&map(vec![("id", 1.into()), ("op", "fly".into())])).await;
    assert_eq!(err_code(&raw.recv().await.unwrap()), ErrorCode::UnknownOp);
    // unauthenticated before invalid_argument
    raw.send_payload(&map(vec![("id", 2.into()), ("op", "group_create".into()), ("group", 5.into())])).await;
    assert_eq!(err_code(&raw.recv().await.unwrap()), ErrorCode::Unauthenticated);

    let (ann, _e) = app.user("ann").await;
    // already_authenticated before invalid_argument
    assert_eq!(code(ann.register("x", "", "p").await), ErrorCode::AlreadyAuthenticated);
    // invalid_argument before no_such_group / unknown_user
    assert_eq!(code(ann.member_add("Nope", &["Bad Login".to_string()]).await), ErrorCode::InvalidArgument);
    // no_such_group before unknown_user
    assert_eq!(code(ann.member_add("Nope", &["ghost".to_string()]).await), ErrorCode::NoSuchGroup);
    // not_member before not_admin
    let (bob, _e) = app.user("bob").await;
    bob.group_create("Bobs", &[]).await.unwrap();
    assert_eq!(code(ann.member_add("Bobs", &["ghost".to_string()]).await), ErrorCode::NotMember);
    // not_admin before unknown_user (the op's own outcome)
    bob.member_add("Bobs", &["ann".to_string()]).await.unwrap();
    assert_eq!(code(ann.member_add("Bobs", &["ghost".to_string()]).await), ErrorCode::NotAdmin);
    // not_allowed for all before the op's own outcome
    assert_eq!(code(ann.member_add("all", &["ghost".to_string()]).await), ErrorCode::NotAllowed);
    // admin_cannot_leave before the op's own outcome (unknown_user)
    let both = ["bob".to_string(), "ghost".to_string()];
    assert_eq!(code(bob.member_remove("Bobs", &both).await), ErrorCode::AdminCannotLeave);

    // invalid_argument before rate_limited, rate_limited before bad_credentials
    let (client, _e) = app.client().await;
    for _ in 0..5 {
        assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::BadCredentials);
    }
    assert_eq!(code(client.login("ann", "short").await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.login("ann", "wrong-password").await), ErrorCode::RateLimited);
}
