//! Writes a [`Plan`] into Joint's database in one transaction: accounts (with their old
//! passwords hashed), groups with their admins, memberships; and records what it created in
//! `legacy_users`, `legacy_chats` and `legacy_memberships` so that a second run creates
//! nothing twice.

use super::plan::{Plan, UserPlan};
use super::report::{Entry, Outcome, Tally};
use crate::password::Hasher;
use crate::store::ALL;
use anyhow::Context;
use std::collections::HashMap;
use tokio_postgres::Transaction;

/// What the transaction did (or, in a dry run, would have done before it was rolled back).
pub struct Applied {
    /// One entry per planned account.
    pub accounts: Vec<Entry>,
    /// One entry per planned group.
    pub groups: Vec<Entry>,
    /// The memberships added, already there, and refused.
    pub memberships: Tally,
}

/// Applies `plan`; commits unless `dry_run`, when it rolls back (and hashes nothing). No
/// account is created under one of the `operators`' logins: an operator's account is made
/// with `joint-broker user-create`, never from an old plain-text password.
pub async fn apply(
    client: &mut tokio_postgres::Client,
    plan: &Plan,
    hasher: &Hasher,
    operators: &[String],
    dry_run: bool,
) -> anyhow::Result<Applied> {
    let tx = client.transaction().await.context("starting the import transaction")?;
    // Two imports at once would each think the other's accounts new.
    tx.batch_execute("LOCK TABLE legacy_users, legacy_chats IN SHARE ROW EXCLUSIVE MODE")
        .await
        .context("locking the import tables")?;
    let mut accounts = Vec::new();
    let users = import_users(&tx, plan, hasher, operators, dry_run, &mut accounts).await?;
    let mut groups = Vec::new();
    let chats = import_chats(&tx, plan, &users, &mut groups).await?;
    let memberships = import_memberships(&tx, plan, &users, &chats).await?;
    if dry_run {
        tx.rollback().await.context("rolling the dry run back")?;
    } else {
        tx.commit().await.context("committing the import")?;
    }
    Ok(Applied { accounts, groups, memberships })
}

/// Creates the planned accounts; returns the live Joint id of every old login that has one
/// from this import or an earlier one.
async fn import_users(
    tx: &Transaction<'_>,
    plan: &Plan,
    hasher: &Hasher,
    operators: &[String],
    dry_run: bool,
    entries: &mut Vec<Entry>,
) -> anyhow::Result<HashMap<String, i64>> {
    let earlier = tx
        .query(
            "SELECT l.legacy_login, u.id, u.login, u.deleted_at IS NOT NULL
             FROM legacy_users l JOIN users u ON u.id = l.user_id",
            &[],
        )
        .await
        .context("reading earlier imports")?;
    let earlier: HashMap<String, (i64, String, bool)> =
        earlier.iter().map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3)))).collect();
    let mut ids = HashMap::new();
    let mut new: Vec<&UserPlan> = Vec::new();
    for user in &plan.users {
        if let Some((id, login, deleted)) = earlier.get(&user.legacy) {
            let detail = if *deleted { "imported earlier; the account was deleted since" } else { "imported earlier" };
            entries.push(Entry::new(Outcome::AlreadyImported, &user.legacy, Some(login), detail));
            if !deleted {
                ids.insert(user.legacy.clone(), *id);
            }
        } else if operators.contains(&user.login) {
            let detail = format!(
                "the Joint login {:?} is an operator's: create that account with joint-broker user-create",
                user.login
            );
            entries.push(Entry::new(Outcome::NotImported, &user.legacy, None, detail));
        } else if tx
            .query_opt("SELECT 1 FROM users WHERE login = $1", &[&user.login])
            .await
            .context("looking for a login")?
            .is_some()
        {
            let detail = format!(
                "the Joint login {:?} belongs to an account made in Joint; choose another with --map",
                user.login
            );
            entries.push(Entry::new(Outcome::NotImported, &user.legacy, None, detail));
        } else {
            new.push(user);
        }
    }
    let hashes = hash_all(hasher, &new, dry_run).await?;
    for (user, hash) in new.into_iter().zip(hashes) {
        let id: i64 = tx
            .query_one(
                "INSERT INTO users (login, name, password) VALUES ($1, $2, $3) RETURNING id",
                &[&user.login, &user.name, &hash],
            )
            .await
            .context("creating an account")?
            .get(0);
        tx.execute(
            "INSERT INTO memberships (gid, user_id, read_seq)
             SELECT gid, $1, last_seq FROM groups WHERE name = $2 AND admin_id IS NULL AND deleted_at IS NULL",
            &[&id, &ALL],
        )
        .await
        .context("adding an account to all")?;
        tx.execute("INSERT INTO legacy_users (legacy_login, user_id) VALUES ($1, $2)", &[&user.legacy, &id])
            .await
            .context("recording an imported account")?;
        let mut detail = vec![format!("named {:?}", user.name)];
        detail.extend(user.notes.iter().cloned());
        entries.push(Entry::new(Outcome::Imported, &user.legacy, Some(&user.login), detail.join("; ")));
        ids.insert(user.legacy.clone(), id);
    }
    Ok(ids)
}

/// Hashes the new accounts' old passwords, as many at once as the hasher allows. A dry run
/// writes nothing that survives, so it spends no time hashing.
async fn hash_all(hasher: &Hasher, users: &[&UserPlan], dry_run: bool) -> anyhow::Result<Vec<String>> {
    if dry_run {
        return Ok(vec!["(dry run: not hashed)".to_owned(); users.len()]);
    }
    let jobs = users.iter().map(|user| hasher.hash(user.password.clone()));
    let hashes = futures::future::try_join_all(jobs).await.context("hashing the old passwords")?;
    Ok(hashes)
}

/// Creates the planned groups; returns the live gid of every old chat that has one from
/// this import or an earlier one.
async fn import_chats(
    tx: &Transaction<'_>,
    plan: &Plan,
    users: &HashMap<String, i64>,
    entries: &mut Vec<Entry>,
) -> anyhow::Result<HashMap<String, i64>> {
    let earlier = tx
        .query(
            "SELECT l.legacy_name, g.gid, g.name, g.deleted_at IS NOT NULL
             FROM legacy_chats l JOIN groups g ON g.gid = l.gid",
            &[],
        )
        .await
        .context("reading earlier imports")?;
    let earlier: HashMap<String, (i64, String, bool)> =
        earlier.iter().map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3)))).collect();
    let mut gids = HashMap::new();
    for chat in &plan.chats {
        if let Some((gid, name, deleted)) = earlier.get(&chat.legacy) {
            let detail = if *deleted { "imported earlier; the group was deleted since" } else { "imported earlier" };
            entries.push(Entry::new(Outcome::AlreadyImported, &chat.legacy, Some(name), detail));
            if !deleted {
                gids.insert(chat.legacy.clone(), *gid);
            }
            continue;
        }
        let Some(admin) = users.get(&chat.admin) else {
            let detail = format!("its admin {:?} was not imported", chat.admin);
            entries.push(Entry::new(Outcome::NotImported, &chat.legacy, None, detail));
            continue;
        };
        let created = tx
            .query_opt(
                "INSERT INTO groups (name, admin_id) VALUES ($1, $2)
                 ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING RETURNING gid",
                &[&chat.name, admin],
            )
            .await
            .context("creating a group")?;
        let Some(created) = created else {
            let detail = format!("a Joint group named {:?} exists; choose another name with --map-group", chat.name);
            entries.push(Entry::new(Outcome::NotImported, &chat.legacy, None, detail));
            continue;
        };
        let gid: i64 = created.get(0);
        tx.execute("INSERT INTO memberships (gid, user_id) VALUES ($1, $2)", &[&gid, admin])
            .await
            .context("adding a group's admin")?;
        tx.execute("INSERT INTO legacy_chats (legacy_name, gid) VALUES ($1, $2)", &[&chat.legacy, &gid])
            .await
            .context("recording an imported group")?;
        let mut detail = vec![format!("admin {:?}", chat.admin)];
        detail.extend(chat.notes.iter().cloned());
        entries.push(Entry::new(Outcome::Imported, &chat.legacy, Some(&chat.name), detail.join("; ")));
        gids.insert(chat.legacy.clone(), gid);
    }
    Ok(gids)
}

/// Adds the old memberships whose account and group both came over.
async fn import_memberships(
    tx: &Transaction<'_>,
    plan: &Plan,
    users: &HashMap<String, i64>,
    chats: &HashMap<String, i64>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for (login, chat) in &plan.memberships {
        let what = format!("{login:?} in {chat:?}");
        match (users.get(login), chats.get(chat)) {
            (Some(user), Some(gid)) => {
                // Each old membership is added once: an admin may have removed the member
                // since, and a later run must not put them back.
                let first_time = tx
                    .execute(
                        "INSERT INTO legacy_memberships (legacy_login, legacy_chat) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                        &[login, chat],
                    )
                    .await
                    .context("recording an imported membership")?
                    == 1;
                let added = first_time
                    && tx
                        .execute(
                            "INSERT INTO memberships (gid, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                            &[gid, user],
                        )
                        .await
                        .context("adding a membership")?
                        == 1;
                if added {
                    tally.added += 1;
                } else {
                    tally.present += 1;
                }
            }
            (None, _) => {
                tally.refused.push(Entry::new(Outcome::NotImported, &what, None, "the account was not imported"))
            }
            (_, None) => tally.refused.push(Entry::new(Outcome::NotImported, &what, None, "the chat was not imported")),
        }
    }
    Ok(tally)
}
