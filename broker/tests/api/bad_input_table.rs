//! The bad-input table of issue 10: every operation of CONTRACT.md §8 and §12, each argument
//! missing, of a wrong type, empty, too long, not UTF-8, and at and one past its limits.
//!
//! One table ([`operations`]) names each operation's arguments, their kind and a valid
//! value; [`mutations`] derives the bad values of each kind with the exact answer the
//! contract promises, and each operation adds the edges only it has (seq ranges, gids). Every
//! case is checked three ways: the exact code (and the field the error names), the
//! connection still answers a `ping`, and no row of PostgreSQL changed. The values exactly at
//! a limit that change something run in [`values_at_each_limit_succeed_and_change_what_they_should`].

use crate::helpers::*;
use joint_wire::message::Op;
use joint_wire::ErrorCode;
use rmpv::Value;

/// An argument as sent: a MessagePack value, or encoded bytes for what rmpv cannot write (a
/// str holding bytes that are not UTF-8).
#[derive(Clone, Debug)]
enum Arg {
    Value(Value),
    Encoded(Vec<u8>),
}

/// What the broker must answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// An ok reply (and still nothing changed: the table holds only cases that change nothing).
    Ok,
    /// This code; with `Some(field)`, the error names that field.
    Refused(ErrorCode, Option<&'static str>),
}

/// How an argument is checked, which decides its bad values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Login,
    DisplayName,
    GroupName,
    Password,
    Body,
    Cid,
    Token,
    /// A paging cursor (`after` of users and members): any string without U+0000.
    Cursor,
    /// A page size: 0 refused, above the maximum clamped.
    Limit,
    /// A uint whose edges depend on the operation (listed with it).
    Uint,
    Version,
    ClientIp,
    /// A string the broker does not interpret (`client` of hello).
    Text,
    Logins,
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
    valid: Value,
}

/// One row of the table: an operation, its arguments, and the edges only it has.
struct Operation {
    op: Op,
    fields: Vec<Field>,
    edges: Vec<Case>,
}

#[derive(Clone, Debug)]
struct Case {
    label: String,
    args: Vec<(&'static str, Arg)>,
    expect: Expect,
}

const GROUP: &str = "Base";
/// Messages published to [`GROUP`] before the table runs.
const LAST_SEQ: u64 = 3;
/// Over-long strings: far past every limit, still well inside a frame.
const HUGE: usize = 100 * 1024;

fn req(name: &'static str, kind: Kind, valid: impl Into<Value>) -> Field {
    Field { name, kind, required: true, valid: valid.into() }
}

fn opt(name: &'static str, kind: Kind, valid: impl Into<Value>) -> Field {
    Field { name, kind, required: false, valid: valid.into() }
}

fn edge(label: &str, field: &'static str, value: impl Into<Value>, expect: Expect) -> Case {
    Case { label: label.to_owned(), args: vec![(field, Arg::Value(value.into()))], expect }
}

fn invalid(field: &'static str) -> Expect {
    Expect::Refused(ErrorCode::InvalidArgument, Some(field))
}

fn logins(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|&s| Value::from(s)).collect())
}

/// Every operation of the contract, with valid arguments for the caller of the table: the
/// operator `boss`, admin of [`GROUP`] (members boss and ann, [`LAST_SEQ`] messages, boss's
/// read_seq at the end). Anonymous operations run on anonymous connections.
fn operations(ann_token: &str) -> Vec<Operation> {
    use Kind::*;
    let pw = password("ann");
    let seq = |label: &str, field: &'static str, value: u64, expect: Expect| edge(label, field, value, expect);
    let rows = vec![
        Operation {
            op: Op::Hello,
            fields: vec![
                req("version", Version, 1),
                opt("client", Text, "t/1"),
                opt("client_ip", ClientIp, "192.0.2.1"),
            ],
            edges: vec![],
        },
        Operation {
            op: Op::Register,
            fields: vec![
                req("login", Login, "newbie"),
                req("name", DisplayName, "Newbie"),
                req("password", Password, pw.as_str()),
            ],
            edges: vec![edge(
                "login of a disabled account",
                "login",
                "gone",
                Expect::Refused(ErrorCode::AccountDisabled, None),
            )],
        },
        Operation {
            op: Op::Login,
            fields: vec![req("login", Login, "ann"), req("password", Password, pw.as_str())],
            edges: vec![],
        },
        Operation { op: Op::Auth, fields: vec![req("token", Token, ann_token)], edges: vec![] },
        Operation { op: Op::Logout, fields: vec![], edges: vec![] },
        Operation { op: Op::Me, fields: vec![], edges: ignored_keys() },
        Operation { op: Op::SetName, fields: vec![req("name", DisplayName, "Boss Two")], edges: vec![] },
        Operation {
            op: Op::Passwd,
            fields: vec![req("old", Password, password("boss").as_str()), req("new", Password, "new-password")],
            edges: vec![],
        },
        Operation {
            op: Op::DeleteAccount,
            fields: vec![req("password", Password, password("boss").as_str())],
            edges: vec![],
        },
        Operation { op: Op::Users, fields: vec![opt("after", Cursor, "a"), opt("limit", Limit, 10)], edges: vec![] },
        Operation {
            op: Op::User,
            fields: vec![req("login", Login, "ann")],
            edges: vec![edge("an unknown login", "login", "ghost", Expect::Refused(ErrorCode::UnknownUser, None))],
        },
        Operation { op: Op::Groups, fields: vec![], edges: ignored_keys() },
        Operation {
            op: Op::GroupCreate,
            fields: vec![req("group", GroupName, "Fresh"), opt("members", Logins, logins(&["ann"]))],
            edges: vec![
                edge("the reserved name all", "group", "all", Expect::Refused(ErrorCode::GroupExists, None)),
                edge("an existing name", "group", GROUP, Expect::Refused(ErrorCode::GroupExists, None)),
            ],
        },
        Operation { op: Op::GroupDelete, fields: vec![req("group", GroupName, GROUP)], edges: vec![] },
        Operation {
            op: Op::GroupAdmin,
            fields: vec![req("group", GroupName, GROUP), req("login", Login, "ann")],
            edges: vec![],
        },
        Operation {
            op: Op::Members,
            fields: vec![req("group", GroupName, GROUP), opt("after", Cursor, "a"), opt("limit", Limit, 10)],
            edges: vec![],
        },
        Operation {
            op: Op::MemberAdd,
            fields: vec![req("group", GroupName, GROUP), req("logins", Logins, logins(&["cat"]))],
            edges: vec![],
        },
        Operation {
            op: Op::MemberRemove,
            fields: vec![req("group", GroupName, GROUP), req("logins", Logins, logins(&["ann"]))],
            edges: vec![],
        },
        Operation { op: Op::Leave, fields: vec![req("group", GroupName, GROUP)], edges: vec![] },
        Operation {
            op: Op::Subscribe,
            fields: vec![req("group", GroupName, GROUP), opt("gid", Uint, 2), opt("after", Uint, 1)],
            edges: vec![
                seq("after = last_seq", "after", LAST_SEQ, Expect::Ok),
                seq("after = last_seq + 1", "after", LAST_SEQ + 1, invalid("after")),
                seq("after = 2^64 - 1", "after", u64::MAX, invalid("after")),
                seq("gid = 0", "gid", 0, Expect::Refused(ErrorCode::NoSuchGroup, None)),
                seq("gid = 2^63", "gid", 1 << 63, Expect::Refused(ErrorCode::NoSuchGroup, None)),
                seq("gid = 2^64 - 1", "gid", u64::MAX, Expect::Refused(ErrorCode::NoSuchGroup, None)),
            ],
        },
        Operation { op: Op::Unsubscribe, fields: vec![req("group", GroupName, GROUP)], edges: vec![] },
        Operation {
            op: Op::Publish,
            fields: vec![req("group", GroupName, GROUP), req("body", Body, "hi"), opt("cid", Cid, "c-1")],
            edges: vec![],
        },
        Operation {
            op: Op::History,
            fields: vec![
                req("group", GroupName, GROUP),
                opt("gid", Uint, 2),
                opt("before", Uint, LAST_SEQ),
                opt("after", Uint, 0),
                opt("limit", Limit, 10),
            ],
            edges: vec![
                seq("before = 0", "before", 0, Expect::Ok),
                seq("before = 2^64 - 1", "before", u64::MAX, Expect::Ok),
                seq("after = last_seq", "after", LAST_SEQ, Expect::Ok),
                seq("after = 2^64 - 1", "after", u64::MAX, Expect::Ok),
                seq("gid = 0", "gid", 0, Expect::Refused(ErrorCode::NoSuchGroup, None)),
                seq("gid = 2^64 - 1", "gid", u64::MAX, Expect::Refused(ErrorCode::NoSuchGroup, None)),
            ],
        },
        Operation {
            op: Op::MarkRead,
            fields: vec![req("group", GroupName, GROUP), req("seq", Uint, LAST_SEQ)],
            edges: vec![
                seq("seq = 0 (never moves back)", "seq", 0, Expect::Ok),
                seq("seq = last_seq + 1 (clamped)", "seq", LAST_SEQ + 1, Expect::Ok),
                seq("seq = 2^64 - 1 (clamped)", "seq", u64::MAX, Expect::Ok),
            ],
        },
        Operation { op: Op::Ping, fields: vec![], edges: ignored_keys() },
        Operation {
            op: Op::MessageDelete,
            fields: vec![req("group", GroupName, GROUP), req("seq", Uint, 1)],
            edges: vec![
                seq("seq = 0", "seq", 0, invalid("seq")),
                seq("seq = last_seq + 1", "seq", LAST_SEQ + 1, invalid("seq")),
                seq("seq = 2^63", "seq", 1 << 63, invalid("seq")),
                seq("seq = 2^64 - 1", "seq", u64::MAX, invalid("seq")),
            ],
        },
        Operation {
            op: Op::UserDisable,
            fields: vec![req("login", Login, "cat")],
            edges: vec![edge("an unknown login", "login", "ghost", Expect::Refused(ErrorCode::UnknownUser, None))],
        },
        Operation {
            op: Op::UserEnable,
            fields: vec![req("login", Login, "cat")],
            edges: vec![edge("an unknown login", "login", "ghost", Expect::Refused(ErrorCode::UnknownUser, None))],
        },
        Operation {
            op: Op::UserCreate,
            fields: vec![
                req("login", Login, "newbie"),
                req("name", DisplayName, "Newbie"),
                req("password", Password, pw.as_str()),
            ],
            edges: vec![edge("a taken login", "login", "ann", Expect::Refused(ErrorCode::LoginTaken, None))],
        },
    ];
    let listed: Vec<Op> = rows.iter().map(|row| row.op).collect();
    assert_eq!(listed, Op::ALL.to_vec(), "the table has one row per operation of the contract");
    rows
}

/// Unknown keys are ignored whatever they hold (CONTRACT.md §2), even bytes that would be
/// refused in a known argument.
fn ignored_keys() -> Vec<Case> {
    let key =
        |label: &str, value: Arg| Case { label: label.to_owned(), args: vec![("extra", value)], expect: Expect::Ok };
    vec![
        key("an unknown key holding invalid UTF-8", Arg::Encoded(bad_str(b"a\xffb"))),
        key("an unknown key holding a bin", Arg::Value(Value::Binary(vec![0; 100]))),
        key("an unknown key holding nested maps", Arg::Value(Value::Map(vec![(Value::from(1), Value::Nil)]))),
    ]
}

/// A str whose bytes are not UTF-8, encoded by hand (str 8).
fn bad_str(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd9, u8::try_from(bytes.len()).expect("short")];
    out.extend_from_slice(bytes);
    out
}

/// The bad values of one argument and what each must get.
fn mutations(field: &Field, max_body: usize) -> Vec<(String, Option<Arg>, Expect)> {
    use Kind::*;
    let bad = invalid(field.name);
    let mut cases: Vec<(String, Option<Arg>, Expect)> = Vec::new();
    let mut add = |label: &str, value: Option<Arg>, expect: Expect| cases.push((label.to_owned(), value, expect));
    let val = |v: Value| Some(Arg::Value(v));
    let text = |s: String| Some(Arg::Value(Value::from(s)));
    if field.required {
        add("missing", None, bad);
        add("nil", val(Value::Nil), bad);
    }
    match field.kind {
        Limit | Uint | Version => {
            add("a string", val(Value::from("7")), bad);
            add("a negative integer", val(Value::from(-1)), bad);
            add("a float", val(Value::F64(1.5)), bad);
            add("a bool", val(Value::Boolean(true)), bad);
            add("an array", val(Value::Array(vec![Value::from(1)])), bad);
            add("a bin", val(Value::Binary(vec![1])), bad);
        }
        Logins => {
            add("a string", val(Value::from("ann")), bad);
            add("an integer", val(Value::from(17)), bad);
            add("a map", val(Value::Map(vec![(Value::from("ann"), Value::from(1))])), bad);
            add("an array holding an integer", val(Value::Array(vec![Value::from(17)])), bad);
            add("an array holding a bin", val(Value::Array(vec![Value::Binary(b"ann".to_vec())])), bad);
            let mut not_utf8 = vec![0x91];
            not_utf8.extend(bad_str(b"a\xffb"));
            add("an array holding invalid UTF-8", Some(Arg::Encoded(not_utf8)), bad);
        }
        _ => {
            add("an integer", val(Value::from(17)), bad);
            add("a bool", val(Value::Boolean(true)), bad);
            add("a float", val(Value::F64(1.5)), bad);
            add("an array", val(Value::Array(vec![Value::from("x")])), bad);
            add("a map", val(Value::Map(vec![(Value::from("a"), Value::from("b"))])), bad);
            add("a bin", val(Value::Binary(b"ann".to_vec())), bad);
            add("a str with an invalid byte", Some(Arg::Encoded(bad_str(b"a\xffb"))), bad);
            add("a str with an encoded surrogate", Some(Arg::Encoded(bad_str(b"a\xed\xa0\x80"))), bad);
            add("a str with an overlong encoding", Some(Arg::Encoded(bad_str(b"a\xc0\xaf"))), bad);
            add("a str cut inside a character", Some(Arg::Encoded(bad_str(b"ab\xd0"))), bad);
        }
    }
    match field.kind {
        Login => {
            add("empty", text(String::new()), bad);
            add("2 characters", text("ab".into()), bad);
            add("33 characters", text("a".repeat(33)), bad);
            add("upper case", text("Ann".into()), bad);
            add("starting with '-'", text("-ann".into()), bad);
            add("starting with '_'", text("_ann".into()), bad);
            add("a space", text("an n".into()), bad);
            add("a non-ASCII letter", text("anç".into()), bad);
            add("U+0000", text("ann\0".into()), bad);
            add("SQL", text("a'); DROP TABLE users;--".into()), bad);
            add("100 KiB", text("a".repeat(HUGE)), bad);
        }
        DisplayName | GroupName => {
            add("empty", text(String::new()), bad);
            add("65 characters", text("я".repeat(65)), bad);
            add("a terminal escape", text("a\x1b[2Jb".into()), bad);
            add("U+0000", text("a\0b".into()), bad);
            add("a newline", text("a\nb".into()), bad);
            add("an RTL override", text("a\u{202E}b".into()), bad);
            add("a bidi isolate", text("a\u{2066}b".into()), bad);
            add("a leading space", text(" a".into()), bad);
            add("a trailing no-break space", text("a\u{a0}".into()), bad);
            add("only white space", text("   ".into()), bad);
            add("100 KiB", text("x".repeat(HUGE)), bad);
            if field.kind == GroupName {
                add("a slash", text("a/b".into()), bad);
            }
        }
        Password => {
            add("empty", text(String::new()), bad);
            add("7 bytes", text("1234567".into()), bad);
            add("1025 bytes", text("p".repeat(1025)), bad);
            add("7 bytes in 4 characters", text("ééé1".into()), bad);
            add("100 KiB", text("p".repeat(HUGE)), bad);
        }
        Body => {
            add("empty", text(String::new()), bad);
            add("U+0000", text("a\0b".into()), bad);
            let too_large = Expect::Refused(ErrorCode::BodyTooLarge, Some("body"));
            add("max_body + 1 bytes", text("x".repeat(max_body + 1)), too_large);
            add("max_body + 1 bytes of 2-byte characters", text(format!("x{}", "é".repeat(max_body / 2))), too_large);
        }
        Cid => {
            add("empty", text(String::new()), bad);
            add("65 bytes", text("c".repeat(65)), bad);
            add("33 2-byte characters (66 bytes)", text("é".repeat(33)), bad);
            add("U+0000", text("c\0".into()), bad);
        }
        Token => {
            let bad_token = Expect::Refused(ErrorCode::BadToken, None);
            add("empty", text(String::new()), bad_token);
            add("42 characters", text("A".repeat(42)), bad_token);
            add("44 characters", text("A".repeat(44)), bad_token);
            add("43 characters, not base64url", text("!".repeat(43)), bad_token);
            add("43 base64url characters of no session", text("A".repeat(43)), bad_token);
            add("U+0000", text(format!("{}\0", "A".repeat(42))), bad_token);
            add("100 KiB", text("A".repeat(HUGE)), bad_token);
        }
        Cursor => {
            add("empty", text(String::new()), Expect::Ok);
            add("U+0000", text("a\0".into()), bad);
            add("SQL", text("a' OR '1'='1".into()), Expect::Ok);
            add("100 KiB", text("a".repeat(HUGE)), Expect::Ok);
        }
        Limit => {
            add("0", val(Value::from(0)), bad);
            add("1", val(Value::from(1)), Expect::Ok);
            add("1000 (the maximum)", val(Value::from(1000)), Expect::Ok);
            add("1001 (clamped)", val(Value::from(1001)), Expect::Ok);
            add("2^64 - 1 (clamped)", val(Value::from(u64::MAX)), Expect::Ok);
        }
        Version => {
            let unsupported = Expect::Refused(ErrorCode::UnsupportedVersion, None);
            add("0", val(Value::from(0)), unsupported);
            add("2", val(Value::from(2)), unsupported);
            add("2^64 - 1", val(Value::from(u64::MAX)), unsupported);
        }
        ClientIp => {
            add("empty", text(String::new()), bad);
            add("not an address", text("localhost".into()), bad);
            add("an octet past 255", text("256.0.0.1".into()), bad);
            add("an address with a port", text("192.0.2.1:80".into()), bad);
            add("an address from an untrusted peer (ignored)", text("2001:db8::1".into()), Expect::Ok);
        }
        Text => {
            add("empty", text(String::new()), Expect::Ok);
            add("100 KiB", text("x".repeat(HUGE)), Expect::Ok);
        }
        Logins => {
            let many: Vec<String> = (0..1001).map(|i| format!("user{i}")).collect();
            add("1001 logins", val(Value::Array(many.into_iter().map(Value::from).collect())), bad);
            add("a bad login among good ones", val(logins(&["ann", "Bad Login"])), bad);
            add("an empty login", val(logins(&[""])), bad);
            if field.required {
                add("an empty list (changes nothing)", val(Value::Array(vec![])), Expect::Ok);
            }
        }
        Uint => {}
    }
    cases
}

/// The cases of one operation: each argument's mutations with the others valid, then its edges.
fn cases_of(operation: &Operation, max_body: usize) -> Vec<Case> {
    let valid: Vec<(&'static str, Arg)> =
        operation.fields.iter().map(|f| (f.name, Arg::Value(f.valid.clone()))).collect();
    let with = |name: &'static str, value: Option<Arg>| -> Vec<(&'static str, Arg)> {
        let mut args: Vec<(&'static str, Arg)> = valid.iter().filter(|(n, _)| *n != name).cloned().collect();
        if let Some(value) = value {
            args.push((name, value));
        }
        args
    };
    let mut cases = Vec::new();
    for field in &operation.fields {
        for (label, value, expect) in mutations(field, max_body) {
            cases.push(Case { label: format!("{}: {label}", field.name), args: with(field.name, value), expect });
        }
    }
    for case in &operation.edges {
        let (name, value) = case.args[0].clone();
        cases.push(Case { label: case.label.clone(), args: with(name, Some(value)), expect: case.expect });
    }
    cases
}

/// Encodes `{"id": id, "op": op, ...args}` by hand, so that any argument can be any bytes.
fn encode(id: u64, op: &Arg, args: &[(&str, Arg)]) -> Vec<u8> {
    let write = |out: &mut Vec<u8>, value: &Arg| match value {
        Arg::Value(value) => rmpv::encode::write_value(out, value).expect("writing to a Vec"),
        Arg::Encoded(bytes) => out.extend_from_slice(bytes),
    };
    let mut out = vec![0xde];
    out.extend_from_slice(&u16::try_from(args.len() + 2).expect("few arguments").to_be_bytes());
    write(&mut out, &Arg::Value(Value::from("id")));
    write(&mut out, &Arg::Value(Value::from(id)));
    write(&mut out, &Arg::Value(Value::from("op")));
    write(&mut out, op);
    for (name, value) in args {
        write(&mut out, &Arg::Value(Value::from(*name)));
        write(&mut out, value);
    }
    out
}

/// Sends one case, checks its answer, that the connection answers on, and that no row changed.
async fn check(
    raw: &mut RawConn,
    snapshots: &Snapshots,
    before: &str,
    id: u64,
    what: &str,
    payload: &[u8],
    expect: Expect,
) {
    let answer = answer(raw, id, payload).await;
    match (expect, &answer) {
        (Expect::Ok, Ok(_)) => {}
        (Expect::Refused(code, field), Err(err)) => {
            assert_eq!(err.code, code, "{what}: {err:?}");
            if let Some(field) = field {
                assert_eq!(err.field.as_deref(), Some(field), "{what}: the error names the argument");
            }
        }
        _ => panic!("{what}: expected {expect:?}, got {answer:?}"),
    }
    assert_answers_ping(raw, what).await;
    assert_unchanged(before, &snapshots.take().await, what);
}

/// A broker whose limits on failures and registrations stay out of the table's way, an
/// operator `boss` and the world [`operations`] describes.
async fn table_app() -> (TestApp, String) {
    let app = spawn_app_with(|s| {
        s.operators = vec!["boss".into()];
        s.login_failures = 1_000_000;
        s.idle_anonymous_ms = 600_000;
    })
    .await;
    let (boss, _e) = app.user("boss").await;
    let (ann, _e) = app.user("ann").await;
    app.user("cat").await;
    app.user("gone").await;
    boss.user_disable("gone").await.unwrap();
    boss.group_create(GROUP, &["ann".to_string()]).await.unwrap();
    for body in ["one", "two", "three"] {
        boss.publish(GROUP, body).await.unwrap();
    }
    boss.mark_read(GROUP, LAST_SEQ).await.unwrap();
    let token = ann.token().unwrap();
    (app, token)
}

async fn signed_in_as_boss(app: &TestApp) -> RawConn {
    let mut raw = app.raw().await;
    let login = joint_wire::message::Request::Login { login: "boss".into(), password: password("boss") };
    answer(&mut raw, 0, &login.encode(0)).await.expect("boss signs in");
    raw
}

#[tokio::test]
async fn every_bad_argument_of_every_operation_is_refused_exactly_and_changes_nothing() {
    let (app, ann_token) = table_app().await;
    let snapshots = Snapshots::new(&app.db).await;
    let mut signed_in = signed_in_as_boss(&app).await;
    let mut anonymous = app.raw().await;
    let before = snapshots.take().await;
    let mut id = 0;
    let mut count = 0;
    for operation in operations(&ann_token) {
        let op = Arg::Value(Value::from(operation.op.name()));
        for case in cases_of(&operation, app.settings.max_body) {
            id += 1;
            count += 1;
            let what = format!("{} {}", operation.op.name(), case.label);
            let payload = encode(id, &op, &case.args);
            if operation.op == Op::Hello {
                // hello is allowed only first: each case on a connection of its own.
                let mut fresh = app.raw().await;
                check(&mut fresh, &snapshots, &before, id, &what, &payload, case.expect).await;
            } else if operation.op.allowed_anonymous() {
                check(&mut anonymous, &snapshots, &before, id, &what, &payload, case.expect).await;
            } else {
                check(&mut signed_in, &snapshots, &before, id, &what, &payload, case.expect).await;
            }
        }
    }
    // The envelope: `op` itself.
    let envelope: Vec<(&str, Option<Arg>, Expect)> = vec![
        ("op missing", None, invalid("op")),
        ("op nil", Some(Arg::Value(Value::Nil)), invalid("op")),
        ("op an integer", Some(Arg::Value(Value::from(3))), invalid("op")),
        ("op a bin", Some(Arg::Value(Value::Binary(b"ping".to_vec()))), invalid("op")),
        ("op invalid UTF-8", Some(Arg::Encoded(bad_str(b"pi\xffng"))), invalid("op")),
        ("op empty", Some(Arg::Value(Value::from(""))), Expect::Refused(ErrorCode::UnknownOp, Some("op"))),
        ("op in upper case", Some(Arg::Value(Value::from("PING"))), Expect::Refused(ErrorCode::UnknownOp, Some("op"))),
        ("op with U+0000", Some(Arg::Value(Value::from("ping\0"))), Expect::Refused(ErrorCode::UnknownOp, Some("op"))),
        (
            "op 100 KiB",
            Some(Arg::Value(Value::from("p".repeat(HUGE)))),
            Expect::Refused(ErrorCode::UnknownOp, Some("op")),
        ),
    ];
    for (label, op, expect) in envelope {
        id += 1;
        count += 1;
        let mut payload = match &op {
            Some(op) => encode(id, op, &[]),
            None => encode(id, &Arg::Value(Value::Nil), &[]),
        };
        if op.is_none() {
            // {"id": id} alone: drop the "op": nil pair and fix the map's size.
            payload.truncate(payload.len() - 4);
            payload[2] = 1;
        }
        check(&mut anonymous, &snapshots, &before, id, label, &payload, expect).await;
        check(&mut signed_in, &snapshots, &before, id, label, &payload, expect).await;
    }
    // RELIABILITY.md states these counts: 906 operation cases and 9 envelope cases (each run
    // on two connections, 18 there). A change to the table updates both.
    assert_eq!(count, 906 + 9, "the table holds {count} cases: update RELIABILITY.md");
}

#[tokio::test]
async fn values_at_each_limit_succeed_and_change_what_they_should() {
    let (app, _token) = table_app().await;
    let db = app.db.sql().await;
    let snapshots = Snapshots::new(&app.db).await;
    let mut boss = signed_in_as_boss(&app).await;
    // A thousand accounts to name in one list, made directly in the database.
    db.batch_execute(
        "INSERT INTO users (login, name, password) SELECT 'user' || i, 'U', 'x' FROM generate_series(0, 999) i",
    )
    .await
    .unwrap();
    let thousand = Value::Array((0..1000).map(|i| Value::from(format!("user{i}"))).collect());
    let count = |sql: &'static str, param: String| {
        let db = &db;
        async move { db.query_one(sql, &[&param]).await.unwrap().get::<_, i64>(0) }
    };
    let login32 = "l".repeat(32);
    let name64 = "я".repeat(64);
    let group64 = "g".repeat(64);
    let body = "b".repeat(app.settings.max_body);
    let cid64 = "c".repeat(64);
    struct Limit {
        label: &'static str,
        anonymous: bool,
        op: Op,
        args: Vec<(&'static str, Value)>,
        probe: &'static str,
        param: String,
        after: i64,
    }
    let users_named = "SELECT count(*) FROM users WHERE login = $1";
    let limits = vec![
        Limit {
            label: "register: a 3-character login and an 8-byte password",
            anonymous: true,
            op: Op::Register,
            args: vec![("login", "abc".into()), ("name", "A".into()), ("password", "8 bytes!".into())],
            probe: users_named,
            param: "abc".into(),
            after: 1,
        },
        Limit {
            label: "register: a 32-character login, a 64-character name, a 1024-byte password",
            anonymous: true,
            op: Op::Register,
            args: vec![
                ("login", login32.as_str().into()),
                ("name", name64.as_str().into()),
                ("password", "p".repeat(1024).into()),
            ],
            probe: "SELECT count(*) FROM users WHERE name = $1",
            param: name64.clone(),
            after: 1,
        },
        Limit {
            label: "login: a 32-character login with a 1024-byte password",
            anonymous: true,
            op: Op::Login,
            args: vec![("login", login32.as_str().into()), ("password", "p".repeat(1024).into())],
            probe: "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login = $1",
            param: login32.clone(),
            after: 2,
        },
        Limit {
            label: "set_name: 64 characters",
            anonymous: false,
            op: Op::SetName,
            args: vec![("name", "ю".repeat(64).into())],
            probe: "SELECT count(*) FROM users WHERE login = 'boss' AND name = $1",
            param: "ю".repeat(64),
            after: 1,
        },
        Limit {
            label: "group_create: a 64-character name with 1000 members",
            anonymous: false,
            op: Op::GroupCreate,
            args: vec![("group", group64.as_str().into()), ("members", thousand.clone())],
            probe: "SELECT count(*) FROM memberships m JOIN groups g USING (gid) WHERE g.name = $1",
            param: group64.clone(),
            after: 1001,
        },
        Limit {
            label: "member_add: 1000 logins",
            anonymous: false,
            op: Op::MemberAdd,
            args: vec![("group", GROUP.into()), ("logins", thousand.clone())],
            probe: "SELECT count(*) FROM memberships m JOIN groups g USING (gid) WHERE g.name = $1",
            param: GROUP.into(),
            after: 1002,
        },
        Limit {
            label: "member_remove: 1000 logins",
            anonymous: false,
            op: Op::MemberRemove,
            args: vec![("group", GROUP.into()), ("logins", thousand.clone())],
            probe: "SELECT count(*) FROM memberships m JOIN groups g USING (gid) WHERE g.name = $1",
            param: GROUP.into(),
            after: 2,
        },
        Limit {
            label: "publish: a max_body body with a 64-byte cid",
            anonymous: false,
            op: Op::Publish,
            args: vec![("group", GROUP.into()), ("body", body.as_str().into()), ("cid", cid64.as_str().into())],
            probe: "SELECT count(*) FROM messages WHERE cid = $1 AND octet_length(body) = 65536 AND seq = 4",
            param: cid64.clone(),
            after: 1,
        },
        Limit {
            label: "publish: a one-byte body with a one-byte cid",
            anonymous: false,
            op: Op::Publish,
            args: vec![("group", GROUP.into()), ("body", "x".into()), ("cid", "c".into())],
            probe: "SELECT count(*) FROM messages WHERE cid = $1 AND body = 'x' AND seq = 5",
            param: "c".into(),
            after: 1,
        },
        Limit {
            label: "message_delete: seq = last_seq",
            anonymous: false,
            op: Op::MessageDelete,
            args: vec![("group", GROUP.into()), ("seq", 5.into())],
            probe: "SELECT count(*) FROM messages WHERE cid = $1 AND deleted",
            param: "c".into(),
            after: 1,
        },
        Limit {
            label: "user_create: a 32-character login",
            anonymous: false,
            op: Op::UserCreate,
            args: vec![("login", "o".repeat(32).into()), ("name", "O".into()), ("password", "8 bytes!".into())],
            probe: users_named,
            param: "o".repeat(32),
            after: 1,
        },
    ];
    assert_eq!(app.settings.max_body, 65536, "the probe of the max_body case counts 64 KiB");
    let mut anonymous = app.raw().await;
    for (n, limit) in limits.into_iter().enumerate() {
        let id = n as u64 + 1;
        let before = snapshots.take().await;
        let previous = count(limit.probe, limit.param.clone()).await;
        let args: Vec<(&str, Arg)> = limit.args.into_iter().map(|(k, v)| (k, Arg::Value(v))).collect();
        let payload = encode(id, &Arg::Value(Value::from(limit.op.name())), &args);
        let raw = if limit.anonymous { &mut anonymous } else { &mut boss };
        if let Err(err) = answer(raw, id, &payload).await {
            panic!("{}: refused at the limit: {err:?}", limit.label);
        }
        if limit.anonymous {
            // Signed in now: the next anonymous case needs a fresh connection.
            anonymous = app.raw().await;
        }
        assert_ne!(previous, limit.after, "{}: the probe must see the change", limit.label);
        assert_eq!(count(limit.probe, limit.param).await, limit.after, "{}", limit.label);
        assert_ne!(before, snapshots.take().await, "{}", limit.label);
    }
    // Request ids at both ends of their range are echoed as they came.
    for id in [0, u64::MAX] {
        let ping = joint_wire::message::Request::Ping.encode(id);
        answer(&mut boss, id, &ping).await.expect("a ping with any id is answered");
    }
}
