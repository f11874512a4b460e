//! Reads the old chat's three tables: `users (login, name, password)`, `chats (name, admin)`
//! and `users_to_chats (login, chat)`, as they are, into plain values.

use anyhow::Context;

/// An account of the old chat.
#[derive(Debug, Clone)]
pub struct LegacyUser {
    /// Its login (the old primary key, case-sensitive, up to 60 characters).
    pub login: String,
    /// Its display name, if any.
    pub name: Option<String>,
    /// Its password, which the old chat stored in plain text.
    pub password: Option<String>,
}

/// A group chat of the old chat.
#[derive(Debug, Clone)]
pub struct LegacyChat {
    /// Its name (the old primary key).
    pub name: String,
    /// Its admin's login, which the old schema did not check.
    pub admin: Option<String>,
}

/// One row of `users_to_chats`.
#[derive(Debug, Clone)]
pub struct LegacyMembership {
    /// The member's login.
    pub login: String,
    /// The chat's name.
    pub chat: String,
}

/// The whole old database.
#[derive(Debug, Clone, Default)]
pub struct LegacyData {
    /// Its accounts.
    pub users: Vec<LegacyUser>,
    /// Its chats.
    pub chats: Vec<LegacyChat>,
    /// Its memberships.
    pub memberships: Vec<LegacyMembership>,
}

/// Reads everything from the old database at `url`, in one read-only snapshot.
pub async fn read(url: &str) -> anyhow::Result<LegacyData> {
    let (mut client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.context("connecting to the old chat's database")?;
    let connection = tokio::spawn(connection);
    let tx = client
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .context("starting a read-only transaction on the old chat's database")?;
    let query = |table: &'static str, sql: &'static str| {
        let tx = &tx;
        async move {
            tx.query(sql, &[]).await.with_context(|| {
                format!("reading table {table:?} of the old chat's database (is this the old chat's database?)")
            })
        }
    };
    // ::text also turns char(n) columns into their trimmed value.
    let users = query("users", "SELECT login::text, name::text, password::text FROM users ORDER BY login")
        .await?
        .iter()
        .map(|row| LegacyUser { login: row.get(0), name: row.get(1), password: row.get(2) })
        .collect();
    let chats = query("chats", "SELECT name::text, admin::text FROM chats ORDER BY name")
        .await?
        .iter()
        .map(|row| LegacyChat { name: row.get(0), admin: row.get(1) })
        .collect();
    let memberships = query(
        "users_to_chats",
        "SELECT login::text, chat::text FROM users_to_chats WHERE login IS NOT NULL AND chat IS NOT NULL
         ORDER BY chat, login",
    )
    .await?
    .iter()
    .map(|row| LegacyMembership { login: row.get(0), chat: row.get(1) })
    .collect();
    tx.commit().await.context("ending the read of the old chat's database")?;
    drop(client);
    connection.await.ok();
    Ok(LegacyData { users, chats, memberships })
}
