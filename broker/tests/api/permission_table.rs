//! The permission table of issue 10: every operation × every kind of caller, with the
//! outcome CONTRACT.md promises in one literal ([`TABLE`]): allowed, or the exact refusal
//! with nothing changed in PostgreSQL.
//!
//! Each cell starts from a world of its own (fresh names in one database): a group with its
//! admin, a member and one message of the admin's, a spare account, and the caller in its
//! state. Callers whose session died (account deleted, disabled, token revoked by a password
//! change) keep the connection that session used: it got `session_ended` and is anonymous
//! now, and for `login`, `register` and `auth` they use the login, password and token they
//! had. The anonymous caller is a fresh connection that signs in with the admin's login,
//! password or token.

use crate::helpers::*;
use joint_wire::message::{Event, Incoming, Op, Request};
use joint_wire::ErrorCode;
use rmpv::Value;

/// Who sends the request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    /// Signed in, not a member of the group.
    Outsider,
    Member,
    Admin,
    /// Was a member; the admin removed them (still signed in).
    Removed,
    /// Was a member, deleted their account; the connection got `session_ended`.
    Deleted,
    /// Was a member, disabled by an operator; the connection got `session_ended`.
    Disabled,
    /// Was a member; their token died when they changed the password on another connection.
    Revoked,
    /// A configured operator, not a member of the group.
    Operator,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::Outsider,
    Caller::Member,
    Caller::Admin,
    Caller::Removed,
    Caller::Deleted,
    Caller::Disabled,
    Caller::Revoked,
    Caller::Operator,
];

/// What the contract promises for one cell.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Allowed,
    Refused(ErrorCode),
}

const OK: Expect = Expect::Allowed;
const UNAUTH: Expect = Expect::Refused(ErrorCode::Unauthenticated);
const SIGNED_IN: Expect = Expect::Refused(ErrorCode::AlreadyAuthenticated);
/// `hello` after other requests: `invalid_argument` naming `op`.
const NOT_FIRST: Expect = Expect::Refused(ErrorCode::InvalidArgument);
const TAKEN: Expect = Expect::Refused(ErrorCode::LoginTaken);
const DISABLED: Expect = Expect::Refused(ErrorCode::AccountDisabled);
const BAD_CREDS: Expect = Expect::Refused(ErrorCode::BadCredentials);
const BAD_TOKEN: Expect = Expect::Refused(ErrorCode::BadToken);
const NOT_MEMBER: Expect = Expect::Refused(ErrorCode::NotMember);
const NOT_ADMIN: Expect = Expect::Refused(ErrorCode::NotAdmin);
const NOT_ALLOWED: Expect = Expect::Refused(ErrorCode::NotAllowed);
const ADMIN_STAYS: Expect = Expect::Refused(ErrorCode::AdminCannotLeave);

/// Any signed-in caller may; a connection whose session died is anonymous.
const SIGNED_IN_ONLY: [Expect; 9] = [UNAUTH, OK, OK, OK, OK, UNAUTH, UNAUTH, UNAUTH, OK];
/// Members (the admin included) may.
const MEMBERS_ONLY: [Expect; 9] = [UNAUTH, NOT_MEMBER, OK, OK, NOT_MEMBER, UNAUTH, UNAUTH, UNAUTH, NOT_MEMBER];
/// Only the group's admin may.
const ADMIN_ONLY: [Expect; 9] = [UNAUTH, NOT_MEMBER, NOT_ADMIN, OK, NOT_MEMBER, UNAUTH, UNAUTH, UNAUTH, NOT_MEMBER];
/// Only operators may.
const OPERATOR_ONLY: [Expect; 9] =
    [UNAUTH, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, UNAUTH, UNAUTH, UNAUTH, OK];

/// One row per operation, one column per caller, in the order of [`CALLERS`].
#[rustfmt::skip]
const TABLE: [(Op, [Expect; 9]); 29] = [
    //                  anonymous outsider   member       admin        removed      deleted    disabled  revoked    operator
    (Op::Hello,         [OK,      NOT_FIRST, NOT_FIRST,   NOT_FIRST,   NOT_FIRST,   NOT_FIRST, NOT_FIRST, NOT_FIRST, NOT_FIRST]),
    (Op::Register,      [OK,      SIGNED_IN, SIGNED_IN,   SIGNED_IN,   SIGNED_IN,   TAKEN,     DISABLED, TAKEN,     SIGNED_IN]),
    (Op::Login,         [OK,      SIGNED_IN, SIGNED_IN,   SIGNED_IN,   SIGNED_IN,   BAD_CREDS, DISABLED, BAD_CREDS, SIGNED_IN]),
    (Op::Auth,          [OK,      SIGNED_IN, SIGNED_IN,   SIGNED_IN,   SIGNED_IN,   BAD_TOKEN, DISABLED, BAD_TOKEN, SIGNED_IN]),
    (Op::Logout,        SIGNED_IN_ONLY),
    (Op::Me,            SIGNED_IN_ONLY),
    (Op::SetName,       SIGNED_IN_ONLY),
    (Op::Passwd,        SIGNED_IN_ONLY),
    (Op::DeleteAccount, SIGNED_IN_ONLY),
    (Op::Users,         SIGNED_IN_ONLY),
    (Op::User,          SIGNED_IN_ONLY),
    (Op::Groups,        SIGNED_IN_ONLY),
    (Op::GroupCreate,   SIGNED_IN_ONLY),
    (Op::GroupDelete,   ADMIN_ONLY),
    (Op::GroupAdmin,    ADMIN_ONLY),
    (Op::Members,       MEMBERS_ONLY),
    (Op::MemberAdd,     ADMIN_ONLY),
    (Op::MemberRemove,  ADMIN_ONLY),
    (Op::Leave,         [UNAUTH,  NOT_MEMBER, OK,         ADMIN_STAYS, NOT_MEMBER,  UNAUTH,    UNAUTH,   UNAUTH,    NOT_MEMBER]),
    (Op::Subscribe,     MEMBERS_ONLY),
    (Op::Unsubscribe,   SIGNED_IN_ONLY),
    (Op::Publish,       MEMBERS_ONLY),
    (Op::History,       MEMBERS_ONLY),
    (Op::MarkRead,      MEMBERS_ONLY),
    (Op::Ping,          [OK,      OK,         OK,         OK,          OK,          OK,        OK,       OK,        OK]),
    (Op::MessageDelete, [UNAUTH,  NOT_MEMBER, NOT_ALLOWED, OK,         NOT_MEMBER,  UNAUTH,    UNAUTH,   UNAUTH,    OK]),
    (Op::UserDisable,   OPERATOR_ONLY),
    (Op::UserEnable,    OPERATOR_ONLY),
    (Op::UserCreate,    OPERATOR_ONLY),
];

/// The operator of cell `n`: each cell has its own, since some cells change the caller's
/// password or delete its account.
fn operator(n: usize) -> String {
    format!("boss{n}")
}

/// The world of one cell: names made unique by the cell's number.
struct World {
    admin: String,
    member: String,
    spare: String,
    group: String,
    /// A name no account or group has yet (for register, group_create, user_create).
    fresh: String,
    admin_token: String,
    /// The caller's login, password and token as the caller knows them.
    login: String,
    password: String,
    token: String,
}

fn field(ok: &Value, name: &str) -> String {
    let map = ok.as_map().expect("an ok body is a map");
    let value = map.iter().find(|(k, _)| k.as_str() == Some(name)).map(|(_, v)| v);
    value.and_then(Value::as_str).unwrap_or_else(|| panic!("no {name} in {ok:?}")).to_owned()
}

/// Signs a raw connection in and returns its token.
async fn sign_in(raw: &mut RawConn, request: Request) -> String {
    let ok = answer(raw, 0, &request.encode(0)).await.expect("the caller signs in");
    field(&ok, "token")
}

/// Waits until the connection hears that its session ended.
async fn session_ends(raw: &mut RawConn) {
    loop {
        match raw.recv().await {
            Some(Incoming::Event(Event::SessionEnded { .. })) => return,
            Some(Incoming::Event(_) | Incoming::Ok { .. }) => continue,
            other => panic!("expected session_ended, got {other:?}"),
        }
    }
}

/// Builds the world of cell `n` and returns it with the caller's connection.
async fn world(app: &TestApp, n: usize, caller: Caller) -> (World, RawConn) {
    let (admin, member, spare, other) =
        (format!("adm{n}"), format!("mem{n}"), format!("spare{n}"), format!("caller{n}"));
    let (admin_client, _ae) = app.user(&admin).await;
    app.user(&member).await;
    app.user(&spare).await;
    let group = format!("G{n}");
    admin_client.group_create(&group, std::slice::from_ref(&member)).await.unwrap();
    admin_client.publish(&group, "the admin's message").await.unwrap();
    let mut raw = app.raw().await;
    let register =
        |login: &str| Request::Register { login: login.into(), name: "Caller".into(), password: password(login) };
    let login_as = |login: &str| Request::Login { login: login.into(), password: password(login) };
    let login = match caller {
        Caller::Anonymous => String::new(),
        Caller::Member => member.clone(),
        Caller::Admin => admin.clone(),
        Caller::Operator => operator(n),
        _ => other,
    };
    let token = match caller {
        Caller::Anonymous => String::new(),
        Caller::Operator => {
            app.create_in_database(&login).await;
            sign_in(&mut raw, login_as(&login)).await
        }
        Caller::Member | Caller::Admin => sign_in(&mut raw, login_as(&login)).await,
        _ => sign_in(&mut raw, register(&login)).await,
    };
    let add = |who: &str| {
        let logins = vec![who.to_owned()];
        let (admin_client, group) = (&admin_client, &group);
        async move { admin_client.member_add(group, &logins).await }
    };
    match caller {
        Caller::Removed => {
            add(&login).await.unwrap();
            admin_client.member_remove(&group, std::slice::from_ref(&login)).await.unwrap();
        }
        Caller::Deleted => {
            add(&login).await.unwrap();
            let delete = Request::DeleteAccount { password: password(&login) };
            answer(&mut raw, 1, &delete.encode(1)).await.expect("the account is deleted");
            session_ends(&mut raw).await;
        }
        Caller::Disabled => {
            add(&login).await.unwrap();
            let (operator, _oe) = app.user(&operator(n)).await;
            operator.user_disable(&login).await.unwrap();
            session_ends(&mut raw).await;
        }
        Caller::Revoked => {
            add(&login).await.unwrap();
            let (other_connection, _oe) = app.login(&login).await;
            other_connection.passwd(&password(&login), "a-changed-password").await.unwrap();
            session_ends(&mut raw).await;
        }
        _ => {}
    }
    let world = World {
        admin_token: admin_client.token().unwrap(),
        password: password(&login),
        admin,
        member,
        spare,
        group,
        fresh: format!("fresh{n}"),
        login,
        token,
    };
    (world, raw)
}

/// The request a caller sends for `op`: its own credentials, the world's group and accounts.
fn request(op: Op, caller: Caller, w: &World) -> Request {
    let anonymous = caller == Caller::Anonymous;
    let group = w.group.clone();
    match op {
        Op::Hello => Request::Hello { version: 1, client: None, client_ip: None },
        Op::Register => {
            let login = if anonymous { w.fresh.clone() } else { w.login.clone() };
            Request::Register { login, name: "Someone".into(), password: "a-password".into() }
        }
        Op::Login if anonymous => Request::Login { login: w.admin.clone(), password: password(&w.admin) },
        Op::Login => Request::Login { login: w.login.clone(), password: w.password.clone() },
        Op::Auth if anonymous => Request::Auth { token: w.admin_token.clone() },
        Op::Auth => Request::Auth { token: w.token.clone() },
        Op::Logout => Request::Logout,
        Op::Me => Request::Me,
        Op::SetName => Request::SetName { name: "New Name".into() },
        Op::Passwd => Request::Passwd { old: w.password.clone(), new: "another-password".into() },
        Op::DeleteAccount => Request::DeleteAccount { password: w.password.clone() },
        Op::Users => Request::Users { after: None, limit: None },
        Op::User => Request::User { login: w.admin.clone() },
        Op::Groups => Request::Groups,
        Op::GroupCreate => Request::GroupCreate { group: w.fresh.clone(), members: vec![] },
        Op::GroupDelete => Request::GroupDelete { group },
        Op::GroupAdmin => Request::GroupAdmin { group, login: w.member.clone() },
        Op::Members => Request::Members { group, after: None, limit: None },
        Op::MemberAdd => Request::MemberAdd { group, logins: vec![w.spare.clone()] },
        Op::MemberRemove => Request::MemberRemove { group, logins: vec![w.member.clone()] },
        Op::Leave => Request::Leave { group },
        Op::Subscribe => Request::Subscribe { group, gid: None, after: None },
        Op::Unsubscribe => Request::Unsubscribe { group },
        Op::Publish => Request::Publish { group, body: "hello".into(), cid: Some("cid-1".into()) },
        Op::History => Request::History { group, gid: None, before: None, after: None, limit: None },
        Op::MarkRead => Request::MarkRead { group, seq: 1 },
        Op::Ping => Request::Ping,
        Op::MessageDelete => Request::MessageDelete { group, seq: 1 },
        Op::UserDisable => Request::UserDisable { login: w.spare.clone() },
        Op::UserEnable => Request::UserEnable { login: w.spare.clone() },
        Op::UserCreate => {
            Request::UserCreate { login: w.fresh.clone(), name: "Made".into(), password: "a-password".into() }
        }
    }
}

#[tokio::test]
async fn every_operation_for_every_caller_is_allowed_or_refused_exactly_with_nothing_changed() {
    let listed: Vec<Op> = TABLE.iter().map(|(op, _)| *op).collect();
    assert_eq!(listed, Op::ALL.to_vec(), "one row per operation of the contract");
    let app = spawn_app_with(|s| {
        s.operators = (1..=TABLE.len() * CALLERS.len()).map(operator).collect();
        s.login_failures = 1_000_000;
        s.registrations_per_minute = 1_000_000;
        s.max_connections_per_ip = 10_000;
    })
    .await;
    let app = std::sync::Arc::new(app);
    let snapshots = Snapshots::new(&app.db).await;
    let mut cells = 0;
    for (op, row) in TABLE {
        // The row's worlds are independent: built at once, then tried one by one.
        let mut building = tokio::task::JoinSet::new();
        for (column, caller) in CALLERS.into_iter().enumerate() {
            let (app, n) = (app.clone(), cells + column + 1);
            building.spawn(async move { (column, world(&app, n, caller).await) });
        }
        let mut worlds: Vec<_> = building.join_all().await;
        worlds.sort_by_key(|(column, _)| *column);
        for ((caller, expect), (_, (world, mut raw))) in CALLERS.into_iter().zip(row).zip(worlds) {
            cells += 1;
            let what = format!("{} by {caller:?}", op.name());
            let before = snapshots.take().await;
            let id = 7;
            let got = answer(&mut raw, id, &request(op, caller, &world).encode(id)).await;
            match (expect, got) {
                (Expect::Allowed, Ok(_)) => {}
                (Expect::Refused(code), Err(err)) => {
                    assert_eq!(err.code, code, "{what}: {err:?}");
                    if op == Op::Hello {
                        // The one refusal of an argument here: `hello` is only allowed first.
                        assert_eq!(err.field.as_deref(), Some("op"), "{what}: {err:?}");
                    }
                    assert_unchanged(&before, &snapshots.take().await, &what);
                }
                (expect, got) => panic!("{what}: expected {expect:?}, got {got:?}"),
            }
        }
    }
    assert_eq!(cells, 29 * 9);
}
