//! The naming rules of CONTRACT.md §5 through the real broker: at and one past each limit.

use crate::helpers::*;
use joint_wire::ErrorCode;

#[tokio::test]
async fn logins_at_and_past_the_limits() {
    let app = spawn_app().await;
    let (client, _e) = app.client().await;
    assert_eq!(code(client.register("ab", "N", "password-1").await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.register(&"a".repeat(33), "N", "password-1").await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.register("-abc", "N", "password-1").await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.register("Abc", "N", "password-1").await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.register("abç", "N", "password-1").await), ErrorCode::InvalidArgument);
    client.register(&"a".repeat(32), "N", "password-1").await.unwrap();
    let (other, _e) = app.client().await;
    other.register("a.b", "N", "password-1").await.unwrap();
}

#[tokio::test]
async fn display_names_at_and_past_the_limits() {
    let app = spawn_app().await;
    let (client, _e) = app.user("ann").await;
    let field = |r: Result<joint_wire::message::UserInfo, joint_wire::ClientError>| match r {
        Err(joint_wire::ClientError::Broker(b)) => (b.code, b.field),
        other => panic!("{other:?}"),
    };
    assert_eq!(client.set_name(&"я".repeat(64)).await.unwrap().name.chars().count(), 64);
    assert_eq!(field(client.set_name(&"я".repeat(65)).await), (ErrorCode::InvalidArgument, Some("name".into())));
    assert_eq!(field(client.set_name("").await).0, ErrorCode::InvalidArgument);
    // 65 scalars before NFC, 64 after: accepted, stored composed.
    let decomposed = format!("{}e\u{301}", "x".repeat(63));
    let stored = client.set_name(&decomposed).await.unwrap().name;
    assert_eq!(stored, format!("{}\u{e9}", "x".repeat(63)));
    for bad in ["tab\there", "bell\u{7}", "rlo\u{202E}x", "iso\u{2066}x", " lead", "trail ", "nbsp\u{a0}"] {
        assert_eq!(field(client.set_name(bad).await).0, ErrorCode::InvalidArgument, "{bad:?}");
    }
    for good in ["王小明", "Ζωή", "مرحبا", "שלום", "😀 smile", "a b"] {
        assert_eq!(client.set_name(good).await.unwrap().name, good);
    }
}

#[tokio::test]
async fn group_names_and_passwords() {
    let app = spawn_app().await;
    let (client, _e) = app.user("ann").await;
    client.group_create(&"g".repeat(64), &[]).await.unwrap();
    assert_eq!(code(client.group_create(&"g".repeat(65), &[]).await), ErrorCode::InvalidArgument);
    assert_eq!(code(client.group_create("a/b", &[]).await), ErrorCode::InvalidArgument);
    // Group names compare after NFC: the decomposed form names the same group.
    client.group_create("Caf\u{e9}", &[]).await.unwrap();
    assert_eq!(code(client.group_create("Cafe\u{301}", &[]).await), ErrorCode::GroupExists);
    client.members("Cafe\u{301}", None, None).await.unwrap();

    let (fresh, _e) = app.client().await;
    assert_eq!(code(fresh.register("bob", "Bob", "7bytes!").await), ErrorCode::InvalidArgument);
    assert_eq!(code(fresh.register("bob", "Bob", &"p".repeat(1025)).await), ErrorCode::InvalidArgument);
    fresh.register("bob", "Bob", &"p".repeat(1024)).await.unwrap();
    let (again, _e) = app.client().await;
    again.login("bob", &"p".repeat(1024)).await.unwrap();
    let (third, _e) = app.client().await;
    third.register("cat", "Cat", "8 bytes!").await.unwrap();
}

#[tokio::test]
async fn logins_lists_are_limited_to_1000() {
    let app = spawn_app().await;
    let (client, _e) = app.user("ann").await;
    let too_many: Vec<String> = (0..1001).map(|i| format!("user{i}")).collect();
    assert_eq!(code(client.group_create("Huge", &too_many).await), ErrorCode::InvalidArgument);
    let unknown: Vec<String> = (0..1000).map(|i| format!("user{i}")).collect();
    assert_eq!(code(client.group_create("Huge", &unknown).await), ErrorCode::UnknownUser);
}
