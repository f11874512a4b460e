//! What a report says about the machine it was measured on, read from `/proc`.

/// The CPU model, the cores this process may use and the memory, e.g.
/// "AMD EPYC, 2 cores, 23.5 GiB".
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{}, {cores} cores, {:.1} GiB", model.unwrap_or("unknown CPU"), kib / 1048576.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_cores_and_the_memory() {
        let text = super::describe();
        let cores = std::thread::available_parallelism().unwrap().get();
        assert!(text.contains(&format!(", {cores} cores, ")), "{text}");
        assert!(text.ends_with(" GiB") && !text.ends_with(", 0.0 GiB"), "{text}");
    }
}
