//! Every endpoint's success path, checked through what another endpoint or the broker sees.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_and_openapi_are_served() {
    let s = stack().await;
    let (status, json) = send(s.req(Method::GET, "/healthz", None)).await;
    assert_eq!((status, json), (StatusCode::OK, json!({"status": "ok"})));

    let (status, doc) = send(s.req(Method::GET, "/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/v1/register",
        "/v1/login",
        "/v1/logout",
        "/v1/me",
        "/v1/me/password",
        "/v1/users",
        "/v1/users/{login}",
        "/v1/groups",
        "/v1/groups/{group}",
        "/v1/groups/{group}/admin",
        "/v1/groups/{group}/members",
        "/v1/groups/{group}/members/{login}",
        "/v1/groups/{group}/leave",
        "/v1/groups/{group}/messages",
        "/v1/groups/{group}/read",
        "/v1/groups/{group}/stream",
        "/v1/groups/{group}/messages/{seq}",
        "/v1/admin/users",
        "/v1/admin/users/{login}/disable",
        "/v1/admin/users/{login}/enable",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    assert_eq!(doc["paths"]["/v1/me"].as_object().unwrap().len(), 3, "get, patch, delete");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let s = stack().await;
    expect_error(s.req(Method::GET, "/v1/nothing", None), 404, "not_found").await;
    expect_error(s.req(Method::PUT, "/v1/login", None), 405, "method_not_allowed").await;
}

#[tokio::test]
async fn accounts_register_login_rename_change_password_logout_and_delete() {
    let s = stack().await;
    let token = s.register("ann").await;
    let (status, me) = send(s.req(Method::GET, "/v1/me", Some(&token))).await;
    assert_eq!((status, me), (StatusCode::OK, json!({"login": "ann", "name": "ANN"})));

    let (status, session) =
        send(s.req(Method::POST, "/v1/login", None).json(&json!({"login": "ann", "password": password("ann")}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = session["token"].as_str().unwrap().to_owned();
    assert_ne!(second, token);
    assert_eq!(session["user"], json!({"login": "ann", "name": "ANN"}));
    assert_eq!(session["groups"][0]["name"], "all");

    let (status, me) = send(s.req(Method::PATCH, "/v1/me", Some(&second)).json(&json!({"name": "Ann B"}))).await;
    assert_eq!((status, me), (StatusCode::OK, json!({"login": "ann", "name": "Ann B"})));

    // A password change ends the other session and keeps this one.
    let change = json!({"old": password("ann"), "new": "a new password"});
    let (status, body) = send(s.req(Method::POST, "/v1/me/password", Some(&second)).json(&change)).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    expect_error(s.req(Method::GET, "/v1/me", Some(&token)), 401, "bad_token").await;
    assert_eq!(send(s.req(Method::GET, "/v1/me", Some(&second))).await.0, StatusCode::OK);

    let (status, _) = send(s.req(Method::POST, "/v1/logout", Some(&second))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_error(s.req(Method::GET, "/v1/me", Some(&second)), 401, "bad_token").await;

    let (_, session) =
        send(s.req(Method::POST, "/v1/login", None).json(&json!({"login": "ann", "password": "a new password"}))).await;
    let third = session["token"].as_str().unwrap().to_owned();
    let (status, _) =
        send(s.req(Method::DELETE, "/v1/me", Some(&third)).json(&json!({"password": "a new password"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_error(s.req(Method::GET, "/v1/me", Some(&third)), 401, "bad_token").await;
    let again = json!({"login": "ann", "name": "Ann", "password": password("ann")});
    expect_error(s.req(Method::POST, "/v1/register", None).json(&again), 409, "login_taken").await;
}

#[tokio::test]
async fn users_are_listed_with_paging_links_and_shown_one_by_one() {
    let s = stack().await;
    let ann = s.register("ann").await;
    s.register("bob").await;
    s.register("cat").await;
    let (status, page) = send(s.req(Method::GET, "/v1/users?limit=2", Some(&ann))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["more"], true);
    let logins: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["ann", "bob"]);
    assert_eq!(page["users"][0], json!({"login": "ann", "name": "ANN", "online": true}));

    let response = s.req(Method::GET, "/v1/users?limit=2", Some(&ann)).send().await.unwrap();
    assert_eq!(response.headers()["link"], "</v1/users?after=bob&limit=2>; rel=\"next\"");
    let (_, page) = send(s.req(Method::GET, "/v1/users?after=bob&limit=2", Some(&ann))).await;
    assert_eq!((page["users"][0]["login"].as_str(), &page["more"]), (Some("cat"), &json!(false)));
    let response = s.req(Method::GET, "/v1/users?after=bob&limit=2", Some(&ann)).send().await.unwrap();
    assert!(response.headers().get("link").is_none());

    let (status, bob) = send(s.req(Method::GET, "/v1/users/bob", Some(&ann))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bob["login"], "bob");
    assert_eq!(bob["groups"], json!(["all"]));
}

#[tokio::test]
async fn groups_are_created_administered_joined_left_and_deleted() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    s.register("cat").await;
    let (status, group) =
        send(s.req(Method::POST, "/v1/groups", Some(&ann)).json(&json!({"name": "Tea Room", "members": ["bob"]})))
            .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (group["name"].as_str(), group["admin"].as_str(), group["members"].as_u64()),
        (Some("Tea Room"), Some("ann"), Some(2))
    );

    let (_, groups) = send(s.req(Method::GET, "/v1/groups", Some(&bob))).await;
    let names: Vec<&str> = groups.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Tea Room") && names.contains(&"all"), "{names:?}");

    // A name with a space goes percent-encoded in the path.
    let members = "/v1/groups/Tea%20Room/members";
    let (status, added) = send(s.req(Method::POST, members, Some(&ann)).json(&json!({"logins": ["cat", "bob"]}))).await;
    assert_eq!((status, added), (StatusCode::OK, json!({"added": ["cat"]})));
    let response = s.req(Method::GET, &format!("{members}?limit=1"), Some(&bob)).send().await.unwrap();
    assert_eq!(response.headers()["link"], "</v1/groups/Tea%20Room/members?after=ann&limit=1>; rel=\"next\"");
    let (status, page) = json_of(response).await;
    assert_eq!((status, &page["users"][0]["login"], &page["more"]), (StatusCode::OK, &json!("ann"), &json!(true)));

    let (status, removed) = send(s.req(Method::DELETE, &format!("{members}/cat"), Some(&ann))).await;
    assert_eq!((status, removed), (StatusCode::OK, json!({"removed": ["cat"]})));

    let (status, group) =
        send(s.req(Method::PUT, "/v1/groups/Tea%20Room/admin", Some(&ann)).json(&json!({"login": "bob"}))).await;
    assert_eq!((status, &group["admin"]), (StatusCode::OK, &json!("bob")));

    let (status, _) = send(s.req(Method::POST, "/v1/groups/Tea%20Room/leave", Some(&ann))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = send(s.req(Method::GET, members, Some(&bob))).await;
    assert_eq!(page["users"].as_array().unwrap().len(), 1);

    let (status, _) = send(s.req(Method::DELETE, "/v1/groups/Tea%20Room", Some(&bob))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_error(s.req(Method::GET, members, Some(&bob)), 404, "no_such_group").await;
}

#[tokio::test]
async fn messages_are_published_as_json_or_text_read_in_pages_and_marked_read() {
    let s = stack().await;
    let ann = s.register("ann").await;
    s.group(&ann, "tea", &[]).await;
    let path = "/v1/groups/tea/messages";

    let (status, first) = send(s.req(Method::POST, path, Some(&ann)).json(&json!({"body": "one", "cid": "c1"}))).await;
    assert_eq!((status, &first["seq"]), (StatusCode::CREATED, &json!(1)));
    // The same cid again is stored once: same seq and at.
    let (_, again) = send(s.req(Method::POST, path, Some(&ann)).json(&json!({"body": "other", "cid": "c1"}))).await;
    assert_eq!(again, first);
    // What `curl --data-binary @file` sends: the body verbatim, whatever the content type.
    let text = "two\nlines\t\u{1F600}";
    let req = s.req(Method::POST, path, Some(&ann)).header("content-type", "application/x-www-form-urlencoded");
    let (status, second) = send(req.body(text)).await;
    assert_eq!((status, &second["seq"]), (StatusCode::CREATED, &json!(2)));
    // An Idempotency-Key is the cid.
    let keyed =
        || s.req(Method::POST, path, Some(&ann)).header("content-type", "text/plain").header("Idempotency-Key", "k-3");
    let (_, third) = send(keyed().body("three")).await;
    let (_, third_again) = send(keyed().body("three")).await;
    assert_eq!((&third["seq"], &third_again), (&json!(3), &third));
    s.publish(&ann, "tea", "four").await;

    let response = s.req(Method::GET, &format!("{path}?before=4&limit=2"), Some(&ann)).send().await.unwrap();
    assert_eq!(
        response.headers()["link"],
        "</v1/groups/tea/messages?before=2&limit=2>; rel=\"prev\", </v1/groups/tea/messages?after=3&limit=2>; rel=\"next\""
    );
    let (status, page) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&page["more"], &page["last_seq"]), (&json!(true), &json!(4)));
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["body"], text);
    assert_eq!(messages[1]["body"], "three");
    assert_eq!(
        (&messages[0]["from"], &messages[0]["name"], &messages[0]["group"]),
        (&json!("ann"), &json!("ANN"), &json!("tea"))
    );
    assert!(messages[0]["at"].as_u64().unwrap() > 1_600_000_000_000);

    let (_, newest) = send(s.req(Method::GET, path, Some(&ann))).await;
    let bodies: Vec<&str> =
        newest["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["one", text, "three", "four"]);

    let (status, read) = send(s.req(Method::POST, "/v1/groups/tea/read", Some(&ann)).json(&json!({"seq": 3}))).await;
    assert_eq!((status, read), (StatusCode::OK, json!({"read_seq": 3})));
    let (_, groups) = send(s.req(Method::GET, "/v1/groups", Some(&ann))).await;
    let tea = groups.as_array().unwrap().iter().find(|g| g["name"] == "tea").unwrap().clone();
    assert_eq!((&tea["read_seq"], &tea["last_seq"]), (&json!(3), &json!(4)));
}
