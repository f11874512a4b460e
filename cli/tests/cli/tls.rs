//! `joint --tls-ca FILE` (and `JOINT_TLS_CA`) against a broker that speaks TLS only, with a
//! CA and certificate made at test time; the wrong pairings fail with exit 3 and a reason.

use crate::helpers::Joint;
use joint_testkit::{spawn_app, spawn_app_with, TestCert};

#[tokio::test]
async fn joint_speaks_tls_with_a_ca_file_from_the_flag_or_the_environment() {
    let cert = TestCert::new();
    let app = spawn_app_with(|s| {
        s.tls_cert = Some(cert.cert.clone());
        s.tls_key = Some(cert.key.clone());
    })
    .await;
    let joint = Joint::new(&app);
    let ca = cert.ca.to_str().unwrap();
    let run = joint.run_with(&["--tls-ca", ca, "register", "ann", "--password-stdin"], "pw-of-ann\n").await;
    run.expect(0);
    let mut send = joint.std_command(&["send", "all", "over TLS"]);
    send.env("JOINT_TLS_CA", ca);
    let output = tokio::process::Command::from(send).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let run = joint.run(&["--tls-ca", ca, "history", "all", "--json"]).await;
    run.expect(0);
    assert_eq!(run.json()[0]["body"], "over TLS");

    // Without TLS the broker's reason is shown, and the exit code is the connection one.
    let run = joint.run(&["whoami"]).await;
    run.expect(3);
    assert!(run.stderr.contains("speaks TLS only"), "{}", run.stderr);
}

#[tokio::test]
async fn joint_with_tls_against_a_plaintext_broker_or_a_bad_ca_file_says_why() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let cert = TestCert::new();
    let run = joint.run(&["--tls-ca", cert.ca.to_str().unwrap(), "whoami"]).await;
    run.expect(3);
    assert!(run.stderr.contains("TLS handshake failed") && run.stderr.contains("plaintext"), "{}", run.stderr);

    let run = joint.run(&["--tls-ca", "/nonexistent/ca.pem", "whoami"]).await;
    run.expect(1);
    assert!(run.stderr.contains("cannot set up TLS") && run.stderr.contains("/nonexistent/ca.pem"), "{}", run.stderr);
}
