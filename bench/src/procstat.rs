//! CPU time and resident memory of processes, read from `/proc`.

use std::fs;

use anyhow::{Context, Result};

/// The kernel's clock ticks per second, the unit of `/proc/PID/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The fields of `/proc/PID/stat` after the command name, which may hold spaces.
fn stat_fields(pid: u32) -> Result<Vec<u64>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    let after_name = text.rsplit_once(')').map(|(_, rest)| rest).context("a malformed /proc stat line")?;
    // Field 3 (state) is a letter: keep it as 0 so the indices stay the kernel's minus 3.
    Ok(after_name.split_whitespace().map(|field| field.parse().unwrap_or(0)).collect())
}

/// Seconds of CPU a process used so far (user + system); with `children`, also that of its
/// exited and waited-for children (how PostgreSQL backends that ended still count).
pub fn cpu_seconds(pid: u32, children: bool) -> Result<f64> {
    let fields = stat_fields(pid)?;
    // utime, stime, cutime, cstime are the kernel's fields 14..17, so 11..14 here.
    let own = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    let waited = if children { fields.get(13).copied().unwrap_or(0) + fields.get(14).copied().unwrap_or(0) } else { 0 };
    Ok((own + waited) as f64 / ticks_per_second())
}

/// Seconds of CPU of a process and of all its live descendants, plus the exited children
/// it waited for: a whole PostgreSQL cluster from its postmaster's pid.
pub fn tree_cpu_seconds(root: u32) -> Result<f64> {
    let mut total = cpu_seconds(root, true)?;
    let mut parents = vec![root];
    let mut all: Vec<(u32, u32)> = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        // A process may exit while we look: skip it.
        if let Ok(fields) = stat_fields(pid) {
            // ppid is the kernel's field 4, so 1 here.
            all.push((pid, u32::try_from(fields.get(1).copied().unwrap_or(0)).unwrap_or(0)));
        }
    }
    while let Some(parent) = parents.pop() {
        for &(pid, _) in all.iter().filter(|(_, ppid)| *ppid == parent) {
            total += cpu_seconds(pid, false).unwrap_or(0.0);
            parents.push(pid);
        }
    }
    Ok(total)
}

/// A process's resident memory (`VmRSS`) in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let text =
        fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = text.lines().find(|line| line.starts_with("VmRSS:")).context("no VmRSS line")?;
    let kib: u64 = line.split_whitespace().nth(1).context("an empty VmRSS line")?.parse()?;
    Ok(kib * 1024)
}

/// How many file descriptors a process has open (the entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> Result<u64> {
    let entries = fs::read_dir(format!("/proc/{pid}/fd")).with_context(|| format!("reading /proc/{pid}/fd"))?;
    Ok(entries.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let pid = std::process::id();
        let before = cpu_seconds(pid, false).unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 200 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_seconds(pid, false).unwrap() > before, "200 ms of spinning shows as CPU time");
        assert!(rss_bytes(pid).unwrap() > 1024 * 1024);
        // Own time first: read after it, the tree's total cannot be smaller.
        let own = cpu_seconds(pid, false).unwrap();
        assert!(tree_cpu_seconds(pid).unwrap() >= own);
    }

    #[test]
    fn an_opened_file_shows_as_one_more_descriptor() {
        let pid = std::process::id();
        let before = open_fds(pid).unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(open_fds(pid).unwrap(), before + 1);
        drop(file);
        assert_eq!(open_fds(pid).unwrap(), before);
    }

    #[test]
    fn a_missing_process_is_an_error() {
        assert!(cpu_seconds(u32::MAX, false).is_err());
    }
}
