//! README.md's curl walkthrough, pasted into bash against a real bridge and broker.

use crate::helpers::*;

/// The walkthrough's commands: the `sh` block after the `<!-- http-walkthrough -->` marker.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let (_, after) = readme.split_once("<!-- http-walkthrough -->").expect("the README's marker");
    let block = after.trim_start().strip_prefix("```sh\n").expect("a sh block after the marker");
    block.split_once("\n```").expect("the block's end").0.to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_works_when_pasted() {
    let s = stack().await;
    let script = walkthrough().replace("http://127.0.0.1:8080", &s.bridge.url);
    assert_ne!(script, walkthrough(), "the walkthrough talks to 127.0.0.1:8080, as scripts/up starts it");
    let output = tokio::process::Command::new("bash").arg("-c").arg(&script).output().await.expect("bash runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // curl ends the stream at --max-time with its exit code 28; every other step must print.
    assert_eq!(output.status.code(), Some(28), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with(r#"{"token":""#), "{stdout}");
    assert!(lines[1].contains(r#""name":"friends","admin":"ann""#), "{stdout}");
    assert!(lines[2].starts_with(r#"{"seq":1,"#), "{stdout}");
    assert!(lines[3].starts_with(r#"{"seq":2,"#), "{stdout}");
    assert!(lines[4].contains(r#""body":"hello from curl""#) && lines[4].contains(r#""body":"and from a file""#));
    let gid = lines[1].split(r#""gid":"#).nth(1).unwrap().split(',').next().unwrap();
    let stream = lines[5..].join("\n");
    for (seq, body) in [(1, "hello from curl"), (2, "and from a file")] {
        let event = format!("event: message\nid: {gid}:{seq}\ndata: ");
        assert!(stream.contains(&event), "{stream}");
        assert!(stream.contains(&format!(r#""body":"{body}""#)), "{stream}");
    }
}
