//! README's command-line walkthrough, run as it is written against a real broker.

use crate::helpers::Joint;
use joint_testkit::spawn_app;
use std::path::Path;

/// The shell block after the `<!-- cli-walkthrough -->` marker in README.md.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("<!-- cli-walkthrough -->").expect("README marks its walkthrough");
    let block = &readme[start..];
    let body = &block[block.find("```sh\n").expect("a sh block") + 6..];
    body[..body.find("```").expect("the block ends")].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let script = walkthrough().replace("127.0.0.1 7878", &format!("127.0.0.1 {}", app.addr.port()));
    assert!(!script.contains("7878"), "every address points at the test broker");
    let output = tokio::process::Command::from(joint.program("bash"))
        .arg("-c")
        .arg(format!("set -e -o pipefail\n{script}"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "Registered and logged in as kim (Kim).\n",
        "Logged in as lee (Lee).\n",
        "lee (Lee)\n",
        "Group book-club created; members: 2.\n",
        "Sent to book-club as #1.\n",
        " Lee (lee): hello from the terminal\n",
        " Lee (lee): and from a pipe\n",
        "book-club  lee    2        2     2\n",
        "\"seq\":2,\"from\":\"lee\",\"name\":\"Lee\",\"body\":\"and from a pipe\"",
        "\"re\":2,\"ok\":{\"messages\":[{\"group\":\"book-club\"",
        "{\"re\":1,\"ok\":{}}\n",
        "Logged out.\n",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
    assert_eq!(stdout.matches("#1 ").count(), 3, "history, tail and chat each show #1:\n{stdout}");
    let (kim, _events) = app.client().await;
    kim.login("kim", "kim-password").await.unwrap();
    let history = kim.history("book-club", None, None, None, None).await.unwrap();
    let bodies: Vec<_> = history.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["hello from the terminal", "and from a pipe", "hi from the chat"]);
}
