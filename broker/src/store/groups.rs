//! Groups and memberships. Every change locks the group's row first (`FOR NO KEY UPDATE`:
//! exclusive among changes, yet it lets foreign-key checks through), which
//! serializes membership changes and deletion of one group with each other and, later,
//! with publishes. Each change returns the events it causes; the caller sends them after
//! the reply.

use super::{db_error, Committed, Store, UserId};
use crate::error::BrokerError;
use deadpool_postgres::GenericClient;
use joint_wire::message::{Event, Group, GroupEvent, RemovedReason};
use joint_wire::ErrorCode;

/// The name of the global group every account belongs to.
pub const ALL: &str = "all";

/// An event and the users whose connections receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupChange {
    /// The users whose every connection receives the event.
    pub to: Vec<UserId>,
    /// The event.
    pub event: Event,
}

/// The outcome of a membership change: the logins it affected and the events it causes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MembershipChange {
    /// The logins that joined or left (for the reply's `added` or `removed`).
    pub logins: Vec<String>,
    /// The events the change causes.
    pub changes: Vec<GroupChange>,
}

/// The quotas of CONTRACT.md §12 that group changes enforce; 0 means no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupQuotas {
    /// Live groups one user may have created.
    pub max_groups: u32,
    /// Members one group may have, admin included (`all` is exempt: it cannot be added to).
    pub max_members: u32,
}

impl GroupQuotas {
    fn check(limit: u32, count: usize, what: &str) -> Result<(), BrokerError> {
        if limit > 0 && count > limit as usize {
            let msg = format!("the limit of {limit} {what} is reached");
            return Err(BrokerError::refused(ErrorCode::QuotaExceeded, msg));
        }
        Ok(())
    }

    /// Refuses a group beyond the creator's `max_groups`, `before` being how many they had.
    fn check_groups(&self, before: i64) -> Result<(), BrokerError> {
        Self::check(self.max_groups, usize::try_from(before).unwrap_or(0) + 1, "groups created per user")
    }

    /// Refuses a group that would have more than `max_members` members.
    fn check_members(&self, members: usize) -> Result<(), BrokerError> {
        Self::check(self.max_members, members, "members per group")
    }
}

/// A live group's row, locked or read inside a transaction.
pub(crate) struct GroupRow {
    pub gid: i64,
    pub name: String,
    pub admin_id: Option<UserId>,
    pub last_seq: i64,
}

impl GroupRow {
    fn is_all(&self) -> bool {
        self.admin_id.is_none() && self.name == ALL
    }
}

/// A member as lists show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub id: UserId,
    pub login: String,
    pub name: String,
}

const GROUP_SELECT: &str = "
    SELECT g.gid, g.name, a.login, g.last_seq, m.read_seq,
           (SELECT count(*) FROM memberships c WHERE c.gid = g.gid)
    FROM memberships m
    JOIN groups g ON g.gid = m.gid
    LEFT JOIN users a ON a.id = g.admin_id
    WHERE m.user_id = $1 AND g.deleted_at IS NULL";

fn group_from_row(row: &tokio_postgres::Row) -> Group {
    Group {
        gid: row.get::<_, i64>(0) as u64,
        name: row.get(1),
        admin: row.get(2),
        last_seq: row.get::<_, i64>(3) as u64,
        read_seq: row.get::<_, i64>(4) as u64,
        members: row.get::<_, i64>(5) as u64,
    }
}

/// The user's groups, oldest first.
pub(crate) async fn groups_of(db: &impl GenericClient, user: UserId) -> Result<Vec<Group>, BrokerError> {
    let sql = format!("{GROUP_SELECT} ORDER BY g.gid");
    let rows = db.query(&sql, &[&user]).await.map_err(db_error)?;
    Ok(rows.iter().map(group_from_row).collect())
}

/// One group as `user` sees it.
async fn group_for(db: &impl GenericClient, gid: i64, user: UserId) -> Result<Group, BrokerError> {
    let sql = format!("{GROUP_SELECT} AND g.gid = $2");
    let row = db.query_one(&sql, &[&user, &gid]).await.map_err(db_error)?;
    Ok(group_from_row(&row))
}

/// `group_updated` (or `group_added`) for every member, each with their own `read_seq`.
async fn group_event_for_members(
    db: &impl GenericClient,
    gid: i64,
    users: &[UserId],
    make: fn(GroupEvent) -> Event,
) -> Result<Vec<GroupChange>, BrokerError> {
    // One query for all of them: a group may have thousands of members.
    let rows = db
        .query(
            "WITH c AS (SELECT count(*) AS n FROM memberships WHERE gid = $1)
             SELECT g.gid, g.name, a.login, g.last_seq, m.read_seq, c.n, m.user_id
             FROM memberships m
             JOIN groups g ON g.gid = m.gid
             LEFT JOIN users a ON a.id = g.admin_id
             CROSS JOIN c
             WHERE g.gid = $1 AND m.user_id = ANY($2)
             ORDER BY m.user_id",
            &[&gid, &users],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|row| GroupChange { to: vec![row.get(6)], event: make(group_from_row(row).into()) }).collect())
}

/// Finds a live group and locks its row: `FOR NO KEY UPDATE` for changes, `FOR SHARE` for reads
/// that must not see a change half-way.
async fn find_group(db: &impl GenericClient, name: &str, lock: Lock) -> Result<GroupRow, BrokerError> {
    let sql = match lock {
        Lock::Update => {
            "SELECT gid, name, admin_id, last_seq FROM groups WHERE name = $1 AND deleted_at IS NULL FOR NO KEY UPDATE"
        }
        Lock::Share => {
            "SELECT gid, name, admin_id, last_seq FROM groups WHERE name = $1 AND deleted_at IS NULL FOR SHARE"
        }
    };
    let row = db
        .query_opt(sql, &[&name])
        .await
        .map_err(db_error)?
        .ok_or_else(|| BrokerError::refused(ErrorCode::NoSuchGroup, format!("there is no group {name:?}")))?;
    Ok(GroupRow { gid: row.get(0), name: row.get(1), admin_id: row.get(2), last_seq: row.get(3) })
}

/// How [`find_group`] locks the row.
#[derive(Clone, Copy)]
enum Lock {
    Update,
    Share,
}

/// Finds a live group for a read that must not see a change half-way.
pub(crate) async fn find_group_shared(db: &impl GenericClient, name: &str) -> Result<GroupRow, BrokerError> {
    find_group(db, name, Lock::Share).await
}

/// Finds a live group and locks it for a change (`no_such_group` when there is none).
pub(crate) async fn lock_group(db: &impl GenericClient, name: &str) -> Result<GroupRow, BrokerError> {
    find_group(db, name, Lock::Update).await
}

pub(crate) async fn member_ids(db: &impl GenericClient, gid: i64) -> Result<Vec<UserId>, BrokerError> {
    let rows = db.query("SELECT user_id FROM memberships WHERE gid = $1", &[&gid]).await.map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(crate) async fn require_member(db: &impl GenericClient, group: &GroupRow, user: UserId) -> Result<(), BrokerError> {
    let found = db
        .query_opt("SELECT 1 FROM memberships WHERE gid = $1 AND user_id = $2", &[&group.gid, &user])
        .await
        .map_err(db_error)?;
    match found {
        Some(_) => Ok(()),
        None => Err(BrokerError::refused(ErrorCode::NotMember, format!("you are not a member of {:?}", group.name))),
    }
}

fn refuse_all(group: &GroupRow) -> Result<(), BrokerError> {
    if group.is_all() {
        return Err(BrokerError::refused(ErrorCode::NotAllowed, "the group all cannot be changed"));
    }
    Ok(())
}

fn require_admin(group: &GroupRow, user: UserId) -> Result<(), BrokerError> {
    if group.admin_id != Some(user) {
        return Err(BrokerError::refused(
            ErrorCode::NotAdmin,
            format!("only the admin of {:?} may do that", group.name),
        ));
    }
    Ok(())
}

/// Locks a group for a change only its admin may make, checking in the contract's order:
/// `no_such_group` → `not_member` → `not_allowed` (for `all`) → `not_admin`.
async fn lock_as_admin(db: &impl GenericClient, name: &str, caller: UserId) -> Result<GroupRow, BrokerError> {
    let group = lock_group(db, name).await?;
    require_member(db, &group, caller).await?;
    refuse_all(&group)?;
    require_admin(&group, caller)?;
    Ok(group)
}

/// Looks logins up among live accounts and keeps them from being deleted until the
/// transaction ends; any unknown one refuses the whole call.
pub(crate) async fn resolve_logins(
    db: &impl GenericClient,
    logins: &[String],
) -> Result<Vec<(UserId, String)>, BrokerError> {
    let rows = db
        // FOR KEY SHARE waits for an account deletion in progress and then sees the account
        // gone, so a deleted account never gains a membership.
        .query("SELECT id, login FROM users WHERE login = ANY($1) AND deleted_at IS NULL FOR KEY SHARE", &[&logins])
        .await
        .map_err(db_error)?;
    let found: Vec<(UserId, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let unknown: Vec<String> = logins.iter().filter(|l| !found.iter().any(|(_, f)| f == *l)).cloned().collect();
    if !unknown.is_empty() {
        return Err(joint_wire::ErrorBody::new(ErrorCode::UnknownUser, "no such user").with_logins(unknown).into());
    }
    // Keep the caller's order.
    Ok(logins.iter().filter_map(|l| found.iter().find(|(_, f)| f == l).cloned()).collect())
}

/// Adds members with the given `read_seq`, in one statement after the group's lock was
/// taken: they share one `joined_at` (so the next admin among them is chosen by login), and
/// it orders them after every member added before.
async fn add_members(db: &impl GenericClient, gid: i64, users: &[UserId], read_seq: i64) -> Result<(), BrokerError> {
    db.execute(
        "INSERT INTO memberships (gid, user_id, read_seq, joined_at)
         SELECT $1, user_id, $3, statement_timestamp() FROM unnest($2::bigint[]) AS user_id",
        &[&gid, &users, &read_seq],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Deletes a group's memberships and marks it deleted; returns `group_deleted` for its members.
pub(crate) async fn delete_group(db: &impl GenericClient, group: &GroupRow) -> Result<GroupChange, BrokerError> {
    let members = member_ids(db, group.gid).await?;
    db.execute("DELETE FROM memberships WHERE gid = $1", &[&group.gid]).await.map_err(db_error)?;
    db.execute("UPDATE groups SET deleted_at = now(), admin_id = NULL WHERE gid = $1", &[&group.gid])
        .await
        .map_err(db_error)?;
    Ok(GroupChange {
        to: members,
        event: Event::GroupDeleted {
            group: group.name.clone(),
            gid: group.gid as u64,
            last_seq: group.last_seq as u64,
        },
    })
}

/// Ends `user`'s membership in every group but `all`, passing on or deleting the groups they
/// administered (account deletion, CONTRACT.md §6).
/// Returns the events and the gids of the groups it locked.
pub(crate) async fn leave_everything(
    db: &impl GenericClient,
    user: UserId,
    login: &str,
) -> Result<(Vec<GroupChange>, Vec<i64>), BrokerError> {
    let rows = db
        .query(
            "SELECT g.gid, g.name, g.admin_id, g.last_seq FROM groups g JOIN memberships m ON m.gid = g.gid
             WHERE m.user_id = $1 AND g.deleted_at IS NULL ORDER BY g.gid FOR NO KEY UPDATE OF g",
            &[&user],
        )
        .await
        .map_err(db_error)?;
    let mut changes = Vec::new();
    let gids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    for row in rows {
        let group = GroupRow { gid: row.get(0), name: row.get(1), admin_id: row.get(2), last_seq: row.get(3) };
        let deleted = db
            .execute("DELETE FROM memberships WHERE gid = $1 AND user_id = $2", &[&group.gid, &user])
            .await
            .map_err(db_error)?;
        // A leave or removal that committed while this waited for the group's lock already
        // ended the membership and told the members.
        if deleted == 0 || group.is_all() {
            continue;
        }
        let remaining = member_ids(db, group.gid).await?;
        if group.admin_id == Some(user) {
            let successor = db
                .query_opt(
                    "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.gid = $1 ORDER BY m.joined_at, u.login LIMIT 1",
                    &[&group.gid],
                )
                .await
                .map_err(db_error)?;
            let Some(successor) = successor else {
                changes.push(delete_group(db, &group).await?);
                continue;
            };
            let successor: UserId = successor.get(0);
            db.execute("UPDATE groups SET admin_id = $2 WHERE gid = $1", &[&group.gid, &successor])
                .await
                .map_err(db_error)?;
            changes.push(GroupChange {
                to: remaining.clone(),
                event: Event::MemberLeft { group: group.name.clone(), gid: group.gid as u64, login: login.to_owned() },
            });
            changes.extend(group_event_for_members(db, group.gid, &remaining, Event::GroupUpdated).await?);
        } else {
            changes.push(GroupChange {
                to: remaining,
                event: Event::MemberLeft { group: group.name.clone(), gid: group.gid as u64, login: login.to_owned() },
            });
        }
    }
    Ok((changes, gids))
}

impl Store {
    /// The user's groups.
    pub async fn groups(&self, user: UserId) -> Result<Vec<Group>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            groups_of(&client, user).await
        })
        .await
    }

    /// The gids of the user's groups other than `all`: whom their presence concerns.
    pub async fn shared_group_ids(&self, user: UserId) -> Result<Vec<i64>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT g.gid FROM memberships m JOIN groups g ON g.gid = m.gid
                     WHERE m.user_id = $1 AND g.deleted_at IS NULL AND g.name <> $2",
                    &[&user, &ALL],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    /// Creates a group administered by `caller` with the given other members, within the
    /// quotas (`quota_exceeded`, ranked with the op's own outcomes after `group_exists` and
    /// `unknown_user`): `caller` may have created at most `max_groups` live groups, a group
    /// may have at most `max_members` members; 0 means no limit.
    pub async fn group_create(
        &self,
        caller: UserId,
        name: &str,
        members: &[String],
        quotas: GroupQuotas,
    ) -> Result<Committed<(Group, Vec<GroupChange>)>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            if name == ALL {
                return Err(BrokerError::refused(ErrorCode::GroupExists, "the name all is reserved"));
            }
            // The creator's account must outlive the transaction (see `resolve_logins`); the
            // lock also serializes the creator's group_creates, so the quota count is exact.
            tx.query_opt("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE", &[&caller])
                .await
                .map_err(db_error)?
                .ok_or_else(|| BrokerError::refused(ErrorCode::Unauthenticated, "this account was deleted"))?;
            let created = tx
                .query_opt(
                    "INSERT INTO groups (name, admin_id, created_by) VALUES ($1, $2, $2)
                     ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING RETURNING gid",
                    &[&name, &caller],
                )
                .await
                .map_err(db_error)?
                .ok_or_else(|| {
                    BrokerError::refused(ErrorCode::GroupExists, format!("a group named {name:?} exists"))
                })?;
            let gid: i64 = created.get(0);
            let others = resolve_logins(&tx, members).await?;
            let mut ids: Vec<UserId> = vec![caller];
            ids.extend(others.iter().map(|(id, _)| *id).filter(|id| *id != caller));
            let created: i64 = tx
                .query_one("SELECT count(*) FROM groups WHERE created_by = $1 AND deleted_at IS NULL", &[&caller])
                .await
                .map_err(db_error)?
                .get(0);
            // `created` counts the new group too.
            quotas.check_groups(created - 1)?;
            quotas.check_members(ids.len())?;
            add_members(&tx, gid, &ids, 0).await?;
            let group = group_for(&tx, gid, caller).await?;
            let changes = group_event_for_members(&tx, gid, &ids, Event::GroupAdded).await?;
            self.commit(tx, [gid], (group, changes)).await
        })
        .await
    }

    /// Deletes a group (admin only).
    pub async fn group_delete(&self, caller: UserId, name: &str) -> Result<Committed<GroupChange>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_as_admin(&tx, name, caller).await?;
            let change = delete_group(&tx, &group).await?;
            self.commit(tx, [group.gid], change).await
        })
        .await
    }

    /// Hands administration of a group to another member.
    pub async fn group_admin(
        &self,
        caller: UserId,
        name: &str,
        login: &str,
    ) -> Result<Committed<(Group, Vec<GroupChange>)>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_group(&tx, name).await?;
            require_member(&tx, &group, caller).await?;
            require_admin(&group, caller)?;
            let target = resolve_logins(&tx, &[login.to_owned()])
                .await?
                .into_iter()
                .next()
                .map(|(id, _)| id)
                .ok_or_else(|| BrokerError::Internal(anyhow::anyhow!("a resolved login went missing")))?;
            let members = member_ids(&tx, group.gid).await?;
            if !members.contains(&target) {
                return Err(joint_wire::ErrorBody::new(ErrorCode::NotMember, format!("{login} is not a member"))
                    .with_logins(vec![login.to_owned()])
                    .into());
            }
            let mut changes = Vec::new();
            if target != caller {
                tx.execute("UPDATE groups SET admin_id = $2 WHERE gid = $1", &[&group.gid, &target])
                    .await
                    .map_err(db_error)?;
                changes = group_event_for_members(&tx, group.gid, &members, Event::GroupUpdated).await?;
            }
            let updated = group_for(&tx, group.gid, caller).await?;
            self.commit(tx, [group.gid], (updated, changes)).await
        })
        .await
    }

    /// One page of a group's members after `after`, in login byte order, and whether more follow.
    pub async fn members(
        &self,
        caller: UserId,
        name: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<MemberRow>, bool), BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = find_group_shared(&tx, name).await?;
            require_member(&tx, &group, caller).await?;
            let rows = tx
                .query(
                    "SELECT u.id, u.login, u.name FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.gid = $1 AND ($2::text IS NULL OR u.login > $2) ORDER BY u.login LIMIT $3",
                    &[&group.gid, &after, &(limit + 1)],
                )
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            let mut members: Vec<MemberRow> =
                rows.iter().map(|r| MemberRow { id: r.get(0), login: r.get(1), name: r.get(2) }).collect();
            let more = members.len() as i64 > limit;
            members.truncate(limit as usize);
            Ok((members, more))
        })
        .await
    }

    /// Adds members (admin only); existing members and duplicates are skipped. Beyond
    /// `quotas.max_members` the whole call is refused with `quota_exceeded`.
    pub async fn member_add(
        &self,
        caller: UserId,
        name: &str,
        logins: &[String],
        quotas: GroupQuotas,
    ) -> Result<Committed<MembershipChange>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_as_admin(&tx, name, caller).await?;
            let users = resolve_logins(&tx, logins).await?;
            let existing = member_ids(&tx, group.gid).await?;
            let new: Vec<(UserId, String)> = users.into_iter().filter(|(id, _)| !existing.contains(id)).collect();
            let new_ids: Vec<UserId> = new.iter().map(|(id, _)| *id).collect();
            quotas.check_members(existing.len() + new_ids.len())?;
            add_members(&tx, group.gid, &new_ids, group.last_seq).await?;
            let mut changes: Vec<GroupChange> = new
                .iter()
                .map(|(_, login)| GroupChange {
                    to: existing.clone(),
                    event: Event::MemberJoined {
                        group: group.name.clone(),
                        gid: group.gid as u64,
                        login: login.clone(),
                    },
                })
                .collect();
            changes.extend(group_event_for_members(&tx, group.gid, &new_ids, Event::GroupAdded).await?);
            let change = MembershipChange { logins: new.into_iter().map(|(_, l)| l).collect(), changes };
            self.commit(tx, [group.gid], change).await
        })
        .await
    }

    /// Removes members (admin only); logins that are not members are skipped.
    pub async fn member_remove(
        &self,
        caller: UserId,
        name: &str,
        logins: &[String],
    ) -> Result<Committed<MembershipChange>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_as_admin(&tx, name, caller).await?;
            let caller_login: String =
                tx.query_one("SELECT login FROM users WHERE id = $1", &[&caller]).await.map_err(db_error)?.get(0);
            // admin_cannot_leave ranks before the op's own outcome (unknown_user).
            if logins.contains(&caller_login) {
                return Err(BrokerError::refused(
                    ErrorCode::AdminCannotLeave,
                    "the admin cannot be removed; hand over administration first",
                ));
            }
            let users = resolve_logins(&tx, logins).await?;
            let existing = member_ids(&tx, group.gid).await?;
            let gone: Vec<(UserId, String)> = users.into_iter().filter(|(id, _)| existing.contains(id)).collect();
            let gone_ids: Vec<UserId> = gone.iter().map(|(id, _)| *id).collect();
            tx.execute("DELETE FROM memberships WHERE gid = $1 AND user_id = ANY($2)", &[&group.gid, &gone_ids])
                .await
                .map_err(db_error)?;
            let remaining: Vec<UserId> = existing.into_iter().filter(|id| !gone_ids.contains(id)).collect();
            let mut changes = Vec::new();
            for (id, login) in &gone {
                changes.push(GroupChange {
                    to: vec![*id],
                    event: Event::GroupRemoved {
                        group: group.name.clone(),
                        gid: group.gid as u64,
                        reason: RemovedReason::Removed,
                    },
                });
                changes.push(GroupChange {
                    to: remaining.clone(),
                    event: Event::MemberLeft { group: group.name.clone(), gid: group.gid as u64, login: login.clone() },
                });
            }
            let change = MembershipChange { logins: gone.into_iter().map(|(_, l)| l).collect(), changes };
            self.commit(tx, [group.gid], change).await
        })
        .await
    }

    /// Leaves a group (not its admin, not `all`).
    pub async fn leave(
        &self,
        caller: UserId,
        login: &str,
        name: &str,
    ) -> Result<Committed<Vec<GroupChange>>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = lock_group(&tx, name).await?;
            require_member(&tx, &group, caller).await?;
            refuse_all(&group)?;
            if group.admin_id == Some(caller) {
                return Err(BrokerError::refused(
                    ErrorCode::AdminCannotLeave,
                    "the admin cannot leave; hand over administration or delete the group",
                ));
            }
            tx.execute("DELETE FROM memberships WHERE gid = $1 AND user_id = $2", &[&group.gid, &caller])
                .await
                .map_err(db_error)?;
            let remaining = member_ids(&tx, group.gid).await?;
            let gid = group.gid;
            let changes = vec![
                GroupChange {
                    to: vec![caller],
                    event: Event::GroupRemoved {
                        group: group.name.clone(),
                        gid: group.gid as u64,
                        reason: RemovedReason::Left,
                    },
                },
                GroupChange {
                    to: remaining,
                    event: Event::MemberLeft { group: group.name, gid: group.gid as u64, login: login.to_owned() },
                },
            ];
            self.commit(tx, [gid], changes).await
        })
        .await
    }
}
