//! `joint-broker --config FILE` and `check-config`, run as the real binary: precedence
//! file < environment < flag, unknown keys and bad values refused with their names, secrets
//! redacted, and the example configuration under deploy/ accepted.

use crate::helpers::*;
use std::process::Output;

/// A configuration file holding `text`, removed when dropped.
fn config_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

fn check_config(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = broker_command();
    command.arg("check-config").args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the broker binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The line of `check-config`'s output for one setting.
fn line<'a>(report: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    report.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no line for {key} in:\n{report}"))
}

#[test]
fn the_file_is_overridden_by_the_environment_which_is_overridden_by_flags() {
    let file = config_file(
        "database-url = \"postgres://joint@db.example/joint\"\n\
         max-frame = 65536\n\
         max-body = 1000\n\
         max-inflight = 10\n\
         trusted-proxy = [\"10.0.0.1\", \"10.0.0.2\"]\n",
    );
    let path = file.path().to_str().unwrap();
    let output = check_config(
        &["--config", path, "--max-inflight", "30"],
        &[("JOINT_MAX_BODY", "2000"), ("JOINT_MAX_INFLIGHT", "20")],
    );
    let report = stdout(&output);
    assert!(output.status.success(), "{}{report}", stderr(&output));
    assert_eq!(line(&report, "max-frame"), "max-frame = 65536  # file");
    assert_eq!(line(&report, "max-body"), "max-body = 2000  # environment");
    assert_eq!(line(&report, "max-inflight"), "max-inflight = 30  # flag");
    assert_eq!(line(&report, "max-connections"), "max-connections = 10000  # default");
    assert_eq!(line(&report, "trusted-proxy"), "trusted-proxy = [\"10.0.0.1\", \"10.0.0.2\"]  # file");
    assert!(report.contains("# the configuration is valid"));

    // The same file through JOINT_CONFIG, and `--key=value` on the command line.
    let output = check_config(&["--max-frame=8192"], &[("JOINT_CONFIG", path)]);
    let report = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(line(&report, "max-frame"), "max-frame = 8192  # flag");
    assert_eq!(line(&report, "max-body"), "max-body = 1000  # file");
}

#[test]
fn the_database_password_never_shows() {
    let password = "Sup3r-secret-DB-pw";
    let file = config_file(&format!("database-url = \"postgres://joint:{password}@db.example/joint\"\n"));
    let output = check_config(&["--config", file.path().to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert_eq!(line(&report, "database-url"), "database-url = \"postgres://joint:***@db.example:5432/joint\"  # file");
    assert!(!report.contains(password) && !stderr(&output).contains(password));

    // Nor when the configuration is refused.
    let output = check_config(&["--config", file.path().to_str().unwrap(), "--max-body", "0"], &[]);
    assert!(!output.status.success());
    assert!(!stdout(&output).contains(password) && !stderr(&output).contains(password));
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let file = config_file("database-url = \"postgres://x@y/z\"\nmax_frame = 8192\n");
    let output = check_config(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("unknown setting `max_frame`") && err.contains("did you mean `max-frame`"), "{err}");

    let file = config_file("database-url = \"postgres://x@y/z\"\nlisten-address = \"0.0.0.0:1\"\n");
    let output = check_config(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown setting `listen-address`"), "{}", stderr(&output));
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    let cases = [
        ("max-frame = \"lots\"\n", "--max-frame"),
        ("max-frame = [1, 2]\n", "`max-frame`: takes one value"),
        ("insecure-plaintext = 1\n", "`insecure-plaintext`: takes true or false"),
        ("trusted-proxy = [\"not an ip\"]\n", "--trusted-proxy"),
        ("max-frame = \n", "not valid TOML"),
    ];
    for (text, expected) in cases {
        let file = config_file(&format!("database-url = \"postgres://x@y/z\"\n{text}"));
        let output = check_config(&["--config", file.path().to_str().unwrap()], &[]);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(stderr(&output).contains(expected), "{text}: {}", stderr(&output));
    }
    // Values each fine alone but not together: check-config gives the reason.
    let file = config_file("database-url = \"postgres://x@y/z\"\nmax-frame = 8192\nmax-body = 8000\n");
    let output = check_config(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("invalid configuration: --max-body must be between"), "{}", stderr(&output));
    // A missing file, and a missing required setting.
    let output = check_config(&["--config", "/nonexistent/joint.toml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read the configuration file /nonexistent/joint.toml"));
    let output = check_config(&[], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--database-url"), "{}", stderr(&output));
}

#[test]
fn check_config_applies_the_tls_rules() {
    let url = "postgres://x@y/z";
    let output = check_config(&["--database-url", url, "--listen", "0.0.0.0:7878"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("refusing to listen on 0.0.0.0:7878 without TLS"), "{}", stderr(&output));
    let output = check_config(&["--database-url", url, "--listen", "0.0.0.0:7878", "--insecure-plaintext"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = check_config(&["--database-url", url, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/x"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot use /nonexistent/c.pem as the TLS certificate"), "{}", stderr(&output));
}

#[test]
fn the_example_configuration_is_accepted() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/joint.toml");
    // The service unit points the TLS settings at systemd's copies of the files through the
    // environment; here they point at a certificate made for the test, the same way.
    let cert = TestCert::new();
    let output = check_config(
        &["--config", example],
        &[("JOINT_TLS_CERT", cert.cert.to_str().unwrap()), ("JOINT_TLS_KEY", cert.key.to_str().unwrap())],
    );
    let report = stdout(&output);
    assert!(output.status.success(), "{}{report}", stderr(&output));
    assert_eq!(line(&report, "listen"), "listen = \"0.0.0.0:7878\"  # file");
    assert!(line(&report, "tls-cert").ends_with("# environment"));
    assert_eq!(line(&report, "metrics-listen"), "metrics-listen = \"127.0.0.1:9187\"  # file");
}
