//! Decides, without touching a database, what each row of the old chat becomes in Joint:
//! which login an account gets (its own, lowercased, or one the operator chose with
//! `--map`), which display name, and which old accounts and chats cannot come over and why.

use super::source::{LegacyChat, LegacyData, LegacyUser};
use crate::names;
use std::collections::{BTreeMap, BTreeSet};

/// The old chat's global group: every Joint account is already in Joint's own `all`.
pub const LEGACY_ALL: &str = "all";

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPlan {
    /// Its login in the old chat.
    pub legacy: String,
    /// Its login in Joint.
    pub login: String,
    /// Its display name in Joint.
    pub name: String,
    /// Its old plain-text password, hashed before it is stored.
    pub password: String,
    /// What was changed on the way, for the report.
    pub notes: Vec<String>,
}

/// A group to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPlan {
    /// Its name in the old chat.
    pub legacy: String,
    /// Its name in Joint.
    pub name: String,
    /// The old login of its admin.
    pub admin: String,
    /// What was changed on the way, for the report.
    pub notes: Vec<String>,
}

/// An old account or chat that cannot be imported as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its login or name in the old chat.
    pub legacy: String,
    /// Why, in a sentence.
    pub reason: String,
    /// The `--map` or `--map-group` argument that would import it, when one can be proposed.
    pub proposal: Option<String>,
}

/// The operator's choices for names the rules refuse: old name → Joint name.
#[derive(Debug, Clone, Default)]
pub struct Renames {
    /// `--map OLD=NEW` for logins.
    pub logins: BTreeMap<String, String>,
    /// `--map-group OLD=NEW` for group names.
    pub groups: BTreeMap<String, String>,
}

/// Everything decided before the database is touched.
#[derive(Debug, Default)]
pub struct Plan {
    /// Accounts to create (unless an earlier import already did).
    pub users: Vec<UserPlan>,
    /// Accounts that cannot be imported.
    pub refused_users: Vec<Refusal>,
    /// Groups to create (unless an earlier import already did).
    pub chats: Vec<ChatPlan>,
    /// Chats that cannot be imported.
    pub refused_chats: Vec<Refusal>,
    /// Old (login, chat) memberships, the global chat left out.
    pub memberships: Vec<(String, String)>,
}

/// Plans the import of `data` with the operator's `renames`.
pub fn plan(data: &LegacyData, renames: &Renames) -> Plan {
    let mut plan = Plan::default();
    plan_users(&data.users, renames, &mut plan);
    let known: BTreeSet<&str> = data.users.iter().map(|u| u.login.as_str()).collect();
    plan_chats(&data.chats, &known, renames, &mut plan);
    plan.memberships =
        data.memberships.iter().filter(|m| m.chat != LEGACY_ALL).map(|m| (m.login.clone(), m.chat.clone())).collect();
    plan
}

/// How an account's Joint login was chosen; earlier kinds claim a login first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LoginSource {
    Mapped,
    AsIs,
    Lowercased,
}

fn plan_users(users: &[LegacyUser], renames: &Renames, plan: &mut Plan) {
    let mut candidates = Vec::new();
    for user in users {
        match login_for(&user.login, renames) {
            Ok((login, source)) => candidates.push((source, login, user)),
            Err(refusal) => plan.refused_users.push(refusal),
        }
    }
    // The operator's choices and logins valid as they are win a contested Joint login over
    // an automatic lowercasing ("alice" keeps "alice"; "Alice" must be mapped).
    candidates.sort_by(|a, b| (a.0, &a.2.login).cmp(&(b.0, &b.2.login)));
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for (source, login, user) in candidates {
        if let Some(holder) = claimed.get(&login) {
            let reason = format!("its Joint login {login:?} goes to the old account {holder:?}");
            let taken: BTreeSet<String> = claimed.keys().cloned().collect();
            let proposal = Some(map_arg("--map", &user.login, &propose_login(&user.login, &taken)));
            plan.refused_users.push(Refusal { legacy: user.login.clone(), reason, proposal });
            continue;
        }
        match account_for(user, login.clone(), source) {
            Ok(planned) => {
                claimed.insert(login, user.login.clone());
                plan.users.push(planned);
            }
            Err(reason) => plan.refused_users.push(Refusal { legacy: user.login.clone(), reason, proposal: None }),
        }
    }
    plan.users.sort_by(|a, b| a.legacy.cmp(&b.legacy));
}

fn login_for(legacy: &str, renames: &Renames) -> Result<(String, LoginSource), Refusal> {
    if let Some(target) = renames.logins.get(legacy) {
        return names::login("login", target).map(|login| (login, LoginSource::Mapped)).map_err(|e| Refusal {
            legacy: legacy.to_owned(),
            reason: format!("--map gives {target:?}, which Joint refuses: {}", e.msg),
            proposal: None,
        });
    }
    let refused = match names::login("login", legacy) {
        Ok(login) => return Ok((login, LoginSource::AsIs)),
        Err(e) => e,
    };
    if let Ok(login) = names::login("login", &legacy.to_lowercase()) {
        return Ok((login, LoginSource::Lowercased));
    }
    Err(Refusal {
        legacy: legacy.to_owned(),
        reason: format!("Joint refuses this login: {}", refused.msg),
        proposal: Some(map_arg("--map", legacy, &propose_login(legacy, &BTreeSet::new()))),
    })
}

fn account_for(user: &LegacyUser, login: String, source: LoginSource) -> Result<UserPlan, String> {
    let password = user.password.clone().unwrap_or_default();
    if password.is_empty() {
        return Err("it has no password".into());
    }
    if let Err(refused) = names::password("password", &password) {
        return Err(format!(
            "Joint would refuse its password at sign-in ({}): the user must register again",
            refused.msg
        ));
    }
    let mut notes = Vec::new();
    match source {
        LoginSource::Mapped => notes.push("login set by --map".to_owned()),
        LoginSource::Lowercased => notes.push("login lowercased".to_owned()),
        LoginSource::AsIs => {}
    }
    let given = user.name.clone().unwrap_or_default();
    let name = match names::display_name("name", &given) {
        Ok(name) => name,
        Err(refused) => {
            let fallback = names::display_name("name", &user.login).unwrap_or_else(|_| login.clone());
            notes.push(format!("old name {given:?} refused ({})", refused.msg));
            fallback
        }
    };
    Ok(UserPlan { legacy: user.login.clone(), login, name, password, notes })
}

fn plan_chats(chats: &[LegacyChat], known: &BTreeSet<&str>, renames: &Renames, plan: &mut Plan) {
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for chat in chats {
        if chat.name == LEGACY_ALL {
            continue;
        }
        let refuse = |reason: String, proposal: Option<String>| Refusal { legacy: chat.name.clone(), reason, proposal };
        let mut notes = Vec::new();
        let name = match renames.groups.get(&chat.name) {
            Some(target) => {
                notes.push("name set by --map-group".to_owned());
                names::group_name("name", target)
                    .map_err(|e| refuse(format!("--map-group gives {target:?}, which Joint refuses: {}", e.msg), None))
            }
            None => names::group_name("name", &chat.name).map_err(|e| {
                let proposal = Some(map_arg("--map-group", &chat.name, &propose_group_name(&chat.name)));
                refuse(format!("Joint refuses this group name: {}", e.msg), proposal)
            }),
        };
        let name = match name {
            Ok(name) if name == LEGACY_ALL => {
                plan.refused_chats.push(refuse("the name all is Joint's global group".into(), None));
                continue;
            }
            Ok(name) => name,
            Err(refusal) => {
                plan.refused_chats.push(refusal);
                continue;
            }
        };
        let admin = match &chat.admin {
            Some(admin) if known.contains(admin.as_str()) => admin.clone(),
            Some(admin) => {
                plan.refused_chats.push(refuse(format!("its admin {admin:?} is not an account of the old chat"), None));
                continue;
            }
            None => {
                plan.refused_chats.push(refuse("it has no admin".into(), None));
                continue;
            }
        };
        if let Some(holder) = claimed.get(&name) {
            let reason = format!("its Joint name {name:?} goes to the old chat {holder:?}");
            plan.refused_chats.push(refuse(reason, None));
            continue;
        }
        claimed.insert(name.clone(), chat.name.clone());
        plan.chats.push(ChatPlan { legacy: chat.name.clone(), name, admin, notes });
    }
}

/// `--map 'OLD=NEW'`, quoted for a POSIX shell.
fn map_arg(flag: &str, old: &str, new: &str) -> String {
    format!("{flag} '{}={}'", old.replace('\'', r"'\''"), new.replace('\'', r"'\''"))
}

/// A login Joint accepts, derived from an old one: transliterated, lowercased, every run
/// of other characters made one `_`, cut to 32 and made unique against `taken`.
pub fn propose_login(legacy: &str, taken: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for c in legacy.chars().flat_map(|c| transliterate(c).chars().collect::<Vec<_>>()) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut base: String = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).trim_end_matches('_').into();
    if base.len() < *names::LOGIN_CHARS.start() {
        base = format!("user_{base}").trim_end_matches('_').to_owned();
    }
    let max = *names::LOGIN_CHARS.end();
    base.truncate(max);
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("-{n}");
        let mut stem = base.clone();
        stem.truncate(max - suffix.len());
        candidate = format!("{stem}{suffix}");
        n += 1;
    }
    candidate
}

/// A group name Joint accepts, derived from an old one: `/` made `-`, trimmed, cut to 64
/// characters, control characters dropped.
fn propose_group_name(legacy: &str) -> String {
    let cleaned: String = legacy
        .chars()
        .filter(|c| !c.is_control() && !names::is_bidi_control(*c))
        .map(|c| if c == '/' { '-' } else { c })
        .collect();
    let trimmed: String = cleaned.trim().chars().take(names::MAX_NAME_CHARS).collect();
    let trimmed = trimmed.trim_end().to_owned();
    if trimmed.is_empty() {
        "imported group".into()
    } else {
        trimmed
    }
}

/// Latin letters for a Cyrillic one (Russian and Ukrainian, as in passports); other
/// characters unchanged.
fn transliterate(c: char) -> String {
    let lower = c.to_lowercase().next().unwrap_or(c);
    let latin = match lower {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ґ' => "g",
        'д' => "d",
        'е' => "e",
        'є' => "ie",
        'ё' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'і' => "i",
        'ї' => "i",
        'й' => "i",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' => "ie",
        'ы' => "y",
        'ь' => "",
        'э' => "e",
        'ю' => "iu",
        'я' => "ia",
        _ => return c.to_string(),
    };
    latin.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::source::LegacyMembership;

    fn user(login: &str, name: &str, password: &str) -> LegacyUser {
        LegacyUser { login: login.into(), name: Some(name.into()), password: Some(password.into()) }
    }

    fn chat(name: &str, admin: Option<&str>) -> LegacyChat {
        LegacyChat { name: name.into(), admin: admin.map(Into::into) }
    }

    fn data(users: Vec<LegacyUser>, chats: Vec<LegacyChat>) -> LegacyData {
        LegacyData { users, chats, memberships: vec![] }
    }

    #[test]
    fn valid_logins_come_as_they_are_and_uppercase_ones_lowercased() {
        let plan = plan(
            &data(vec![user("ann", "Ann", "password1"), user("BOB", "Bob", "password2")], vec![]),
            &Renames::default(),
        );
        let logins: Vec<_> = plan.users.iter().map(|u| (u.legacy.as_str(), u.login.as_str())).collect();
        assert_eq!(logins, [("BOB", "bob"), ("ann", "ann")]);
        assert_eq!(plan.users[0].notes, ["login lowercased"]);
        assert!(plan.refused_users.is_empty());
    }

    #[test]
    fn a_login_joint_refuses_gets_a_reason_and_a_proposed_map() {
        let long = "a".repeat(60);
        let plan = plan(
            &data(vec![user("Иван Петров", "Иван", "password1"), user(&long, "Long", "password1")], vec![]),
            &Renames::default(),
        );
        assert!(plan.users.is_empty());
        let ivan = plan.refused_users.iter().find(|r| r.legacy == "Иван Петров").unwrap();
        assert!(ivan.reason.contains("may hold only"), "{}", ivan.reason);
        assert_eq!(ivan.proposal.as_deref(), Some("--map 'Иван Петров=ivan_petrov'"));
        let long_one = plan.refused_users.iter().find(|r| r.legacy == long).unwrap();
        assert!(long_one.reason.contains("3 to 32"), "{}", long_one.reason);
        assert_eq!(long_one.proposal, Some(format!("--map '{long}={}'", "a".repeat(32))));
    }

    #[test]
    fn a_map_imports_a_refused_login_and_a_bad_map_is_refused() {
        let renames = Renames {
            logins: [("Иван".to_string(), "ivan".to_string()), ("Пётр".to_string(), "Bad Login".to_string())].into(),
            ..Renames::default()
        };
        let plan =
            plan(&data(vec![user("Иван", "Иван", "password1"), user("Пётр", "Пётр", "password1")], vec![]), &renames);
        assert_eq!(plan.users.len(), 1);
        assert_eq!(
            (plan.users[0].login.as_str(), plan.users[0].notes.as_slice()),
            ("ivan", &["login set by --map".to_string()][..])
        );
        assert!(
            plan.refused_users[0].reason.starts_with("--map gives \"Bad Login\""),
            "{}",
            plan.refused_users[0].reason
        );
    }

    #[test]
    fn an_exact_login_wins_over_a_lowercased_twin() {
        let plan = plan(
            &data(vec![user("Alice", "A1", "password1"), user("alice", "A2", "password2")], vec![]),
            &Renames::default(),
        );
        assert_eq!(plan.users.len(), 1);
        assert_eq!((plan.users[0].legacy.as_str(), plan.users[0].login.as_str()), ("alice", "alice"));
        let refused = &plan.refused_users[0];
        assert_eq!(refused.legacy, "Alice");
        assert!(refused.reason.contains("goes to the old account \"alice\""), "{}", refused.reason);
        assert_eq!(refused.proposal.as_deref(), Some("--map 'Alice=alice-2'"));
    }

    #[test]
    fn passwords_joint_cannot_accept_refuse_the_account() {
        let mut nameless = user("carol", "", "password1");
        nameless.name = None;
        let plan = plan(
            &data(vec![user("short", "S", "1234567"), user("empty", "E", ""), nameless], vec![]),
            &Renames::default(),
        );
        let reasons: BTreeMap<_, _> =
            plan.refused_users.iter().map(|r| (r.legacy.as_str(), r.reason.as_str())).collect();
        assert!(reasons["short"].contains("password must be 8 to 1024 bytes long"), "{}", reasons["short"]);
        assert_eq!(reasons["empty"], "it has no password");
        // A missing name is replaced by the login, and said so.
        assert_eq!(plan.users[0].name, "carol");
        assert!(plan.users[0].notes[0].starts_with("old name \"\" refused"), "{:?}", plan.users[0].notes);
    }

    #[test]
    fn chats_need_an_existing_admin_and_a_name_joint_accepts() {
        let users = vec![user("ann", "Ann", "password1")];
        let chats = vec![
            chat("all", None),
            chat("Друзья", Some("ann")),
            chat("orphans", Some("ghost")),
            chat("nobody", None),
            chat("a/b", Some("ann")),
        ];
        let plan = plan(&data(users, chats), &Renames::default());
        assert_eq!(plan.chats.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Друзья"]);
        let reasons: BTreeMap<_, _> = plan
            .refused_chats
            .iter()
            .map(|r| (r.legacy.as_str(), (r.reason.as_str(), r.proposal.as_deref())))
            .collect();
        assert_eq!(reasons["orphans"].0, "its admin \"ghost\" is not an account of the old chat");
        assert_eq!(reasons["nobody"].0, "it has no admin");
        assert_eq!(reasons["a/b"].1, Some("--map-group 'a/b=a-b'"));
        assert!(!reasons.contains_key("all"), "the old global chat is Joint's all, not a refusal");
    }

    #[test]
    fn memberships_of_the_old_global_chat_are_left_to_joints_all() {
        let mut d = data(vec![user("ann", "Ann", "password1")], vec![chat("team", Some("ann"))]);
        d.memberships = vec![
            LegacyMembership { login: "ann".into(), chat: "all".into() },
            LegacyMembership { login: "ann".into(), chat: "team".into() },
        ];
        assert_eq!(plan(&d, &Renames::default()).memberships, [("ann".to_string(), "team".to_string())]);
    }

    #[test]
    fn proposals_are_valid_logins_and_unique() {
        let taken: BTreeSet<String> = ["ivan".to_string(), "ivan-2".to_string()].into();
        assert_eq!(propose_login("Ivan", &taken), "ivan-3");
        assert_eq!(propose_login("__Ёж__", &BTreeSet::new()), "ezh");
        assert_eq!(propose_login("Я", &BTreeSet::new()), "user_ia");
        assert_eq!(propose_login("!!!", &BTreeSet::new()), "user");
        for odd in ["Иван Петров", "x", "", "ÉÀ", "Ünïcödé-Name_With.Dots", &"Щ".repeat(40)] {
            let proposed = propose_login(odd, &BTreeSet::new());
            assert!(names::login("login", &proposed).is_ok(), "{odd:?} → {proposed:?}");
        }
    }
}
