//! The import's report: what came over, what an earlier run already brought, and every
//! account, group and membership that could not come over, with the reason.

use super::plan::Refusal;
use std::fmt;

/// What happened to one old account, chat or membership (ordered as the report lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Created by this run (or, in a dry run, would be).
    Imported,
    /// Created by an earlier run; left as it is.
    AlreadyImported,
    /// Not imported; the entry says why.
    NotImported,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What happened.
    pub outcome: Outcome,
    /// The old login, chat name, or membership.
    pub legacy: String,
    /// Its login or name in Joint, when it has one.
    pub joint: Option<String>,
    /// Details: what was changed, or why it was not imported.
    pub detail: String,
}

impl Entry {
    /// An entry.
    pub fn new(outcome: Outcome, legacy: &str, joint: Option<&str>, detail: impl Into<String>) -> Entry {
        Entry { outcome, legacy: legacy.to_owned(), joint: joint.map(str::to_owned), detail: detail.into() }
    }

    /// A refusal decided before the database was touched, with its proposed remedy.
    pub fn refused(refusal: &Refusal) -> Entry {
        let detail = match &refusal.proposal {
            Some(proposal) => format!("{}; to import it, add {proposal}", refusal.reason),
            None => refusal.reason.clone(),
        };
        Entry::new(Outcome::NotImported, &refusal.legacy, None, detail)
    }
}

/// Memberships: counted when they come over, listed when they do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Memberships added.
    pub added: usize,
    /// Memberships an earlier run imported (even if the member left or was removed since),
    /// or that were there already.
    pub present: usize,
    /// Memberships not added, with the reason.
    pub refused: Vec<Entry>,
}

/// The whole report, printed by `joint-broker import-legacy`.
#[derive(Debug, Clone)]
pub struct Report {
    /// The old database, without its password.
    pub source: String,
    /// Whether the run was rolled back.
    pub dry_run: bool,
    /// The old accounts.
    pub accounts: Vec<Entry>,
    /// The old chats.
    pub groups: Vec<Entry>,
    /// The old memberships (the global chat's left to Joint's `all`).
    pub memberships: Tally,
}

impl Report {
    /// How many entries of `entries` had `outcome`.
    fn count(entries: &[Entry], outcome: Outcome) -> usize {
        entries.iter().filter(|e| e.outcome == outcome).count()
    }

    /// Whether this run created anything.
    pub fn imported_anything(&self) -> bool {
        Report::count(&self.accounts, Outcome::Imported) + Report::count(&self.groups, Outcome::Imported) > 0
            || self.memberships.added > 0
    }
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, entries: &[Entry], verb: &str) -> fmt::Result {
    writeln!(
        f,
        "{title}: {} {verb}, {} already imported, {} not imported",
        Report::count(entries, Outcome::Imported),
        Report::count(entries, Outcome::AlreadyImported),
        Report::count(entries, Outcome::NotImported),
    )?;
    for entry in entries {
        let mark = match entry.outcome {
            Outcome::Imported => "+",
            Outcome::AlreadyImported => "=",
            Outcome::NotImported => "!",
        };
        let target = match &entry.joint {
            Some(joint) => format!(" -> {joint:?}"),
            None => String::new(),
        };
        writeln!(f, "  {mark} {:?}{target}: {}", entry.legacy, entry.detail)?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, mode) =
            if self.dry_run { ("would be imported", " (dry run: nothing was written)") } else { ("imported", "") };
        writeln!(f, "Import from the old chat at {}{mode}", self.source)?;
        section(f, "Accounts", &self.accounts, verb)?;
        section(f, "Groups", &self.groups, verb)?;
        let m = &self.memberships;
        writeln!(
            f,
            "Memberships: {} {verb}, {} already present, {} not imported",
            m.added,
            m.present,
            m.refused.len()
        )?;
        for entry in &m.refused {
            writeln!(f, "  ! {}: {}", entry.legacy, entry.detail)?;
        }
        if !self.imported_anything() {
            writeln!(f, "Nothing new to import.")?;
        }
        Ok(())
    }
}
