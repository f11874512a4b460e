//! Frame-level debugging: raw, encode, decode, and a session piped through `nc`; plus the
//! generated completions and man page.

use crate::helpers::Joint;
use joint_testkit::spawn_app;
use serde_json::json;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn encode_nc_decode_round_trip_against_the_broker() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let input = concat!(
        r#"{"id":1,"op":"ping"}"#,
        "\n",
        r#"{"id":2,"op":"register","login":"dan","name":"Dan","password":"password1"}"#,
        "\n",
        r#"{"id":3,"op":"publish","group":"all","body":"hi","cid":"c1"}"#,
        "\n",
        r#"{"id":4,"op":"nope"}"#,
        "\n"
    );
    let mut child = tokio::process::Command::from(joint.program("sh"))
        .arg("-c")
        .arg("joint encode | nc -N 127.0.0.1 \"$PORT\" | joint decode")
        .env("PORT", app.addr.port().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("line 4: no known operation"), "encode warns: {stderr}");
    let frames: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(frames[0], json!({ "re": 1, "ok": {} }));
    assert_eq!(frames[1]["re"], 2);
    assert_eq!(frames[1]["ok"]["user"], json!({ "login": "dan", "name": "Dan" }));
    assert_eq!(frames[1]["ok"]["token"].as_str().unwrap().len(), 43);
    let replies: Vec<_> = frames.iter().filter(|f| f.get("re").is_some()).collect();
    assert_eq!(replies.len(), 4, "{frames:?}");
    assert_eq!(replies[2]["ok"]["seq"], 1);
    assert_eq!(replies[3]["err"]["code"], "unknown_op");
}

#[tokio::test]
async fn raw_sends_json_lines_and_prints_every_frame() {
    let app = spawn_app().await;
    let (_ann, _events) = app.user("ann").await;
    let joint = Joint::new(&app);
    let input = concat!(
        r#"{"op":"login","login":"ann","password":"pw-of-ann"}"#,
        "\n",
        r#"{"op":"subscribe","group":"all","after":0}"#,
        "\n",
        r#"{"id":10,"op":"publish","group":"all","body":"from raw","cid":"x","colour":"red"}"#,
        "\n",
        "not json\n",
        r#"{"op":"history","group":"all"}"#,
        "\n"
    );
    let run = joint.run_with(&["raw"], input).await;
    run.expect(1);
    assert!(run.stderr.contains("warning: line 3: the operation does not know the keys colour"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4 is not valid JSON"), "{}", run.stderr);
    let frames = run.json();
    let re: Vec<u64> = frames.iter().filter_map(|f| f["re"].as_u64()).collect();
    assert_eq!(re, [1, 2, 10, 11], "ids are filled in from 1 and continue after an explicit one");
    let ok = |re: u64| frames.iter().find(|f| f["re"] == re).unwrap()["ok"].clone();
    assert_eq!(ok(1)["user"]["login"], "ann");
    assert_eq!(ok(2), json!({ "gid": 1, "last_seq": 0 }));
    assert_eq!(ok(10)["seq"], 1);
    assert_eq!(ok(11)["messages"][0]["body"], "from raw");
    let echo = frames.iter().find(|f| f["ev"] == "message").expect("the subscription's echo");
    assert_eq!(echo["seq"], 1);
    assert_eq!(echo["from"], "ann");
}

#[tokio::test]
async fn decode_reports_truncated_and_oversized_frames_with_their_offset() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let ping = |id: u8| -> Vec<u8> {
        let mut payload = vec![0x82, 0xa2, b'i', b'd', id, 0xa2, b'o', b'p', 0xa4, b'p', b'i', b'n', b'g'];
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.append(&mut payload);
        frame
    };
    let decode = |bytes: Vec<u8>, args: Vec<&'static str>| {
        let joint = &joint;
        async move {
            let mut child = joint.command(&args).spawn().unwrap();
            child.stdin.take().unwrap().write_all(&bytes).await.unwrap();
            let out = child.wait_with_output().await.unwrap();
            (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
        }
    };
    let whole: Vec<u8> = [ping(1), ping(2)].concat();
    let (code, stdout, _) = decode(whole.clone(), vec!["decode"]).await;
    assert_eq!(code, 0);
    assert_eq!(stdout, "{\"id\":1,\"op\":\"ping\"}\n{\"id\":2,\"op\":\"ping\"}\n");

    let (code, stdout, stderr) = decode(whole[..whole.len() - 3].to_vec(), vec!["decode"]).await;
    assert_eq!(code, 1);
    assert_eq!(stdout, "{\"id\":1,\"op\":\"ping\"}\n");
    assert_eq!(stderr, "joint: usage: the frame at byte offset 17 is truncated: 13 bytes announced, 10 present\n");

    let (code, _, stderr) = decode(whole[..19].to_vec(), vec!["--lang", "ru", "decode"]).await;
    assert_eq!(code, 1);
    assert_eq!(stderr, "joint: usage: ввод обрывается внутри префикса длины по смещению 17\n");

    let mut oversized = ping(1);
    oversized.extend_from_slice(&[0x00, 0x20, 0x00, 0x00, 0x80]);
    let (code, _, stderr) = decode(oversized, vec!["decode", "--max-frame", "1048576"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "joint: usage: the frame at byte offset 17 announces 2097152 bytes, more than the limit of 1048576\n"
    );

    let mut garbage = vec![0, 0, 0, 1, 0x91];
    garbage.extend(ping(3));
    let (code, stdout, stderr) = decode(garbage, vec!["decode"]).await;
    assert_eq!(code, 1);
    assert_eq!(stdout, "{\"id\":3,\"op\":\"ping\"}\n", "framing stays intact after a bad payload");
    assert!(stderr.starts_with("joint: the frame at byte offset 0 does not hold one valid map"), "{stderr}");
}

#[tokio::test]
async fn completions_and_man_page_come_from_the_command_definition() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    for shell in ["bash", "zsh", "fish"] {
        let run = joint.run(&["completions", shell]).await;
        run.expect(0);
        for word in ["register", "history", "tail", "password-stdin", "member"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    joint.run(&["completions", "powershell"]).await.expect(1);
    let run = joint.run(&["man"]).await;
    run.expect(0);
    assert!(run.stdout.starts_with(".ie"), "roff: {}", &run.stdout[..40]);
    assert!(run.stdout.contains("\n.TH joint 1 "), "the man page header: {}", run.stdout);
    let subcommands = run.stdout.find("\n.SH SUBCOMMANDS\n").expect("a SUBCOMMANDS section");
    assert!(run.stdout[subcommands..].contains("joint\\-register(1)"), "{}", run.stdout);
    assert!(run.stdout.contains("Exit codes: 0 success"));
}

#[tokio::test]
async fn completions_and_man_end_quietly_when_stdout_is_closed() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    // fd 3 is a pipe whose reader has already exited, so every write fails with EPIPE.
    for command in ["completions bash", "completions zsh", "completions fish", "man"] {
        let script = format!("exec 3> >(exec true); wait $!; joint {command} >&3; echo \"exit $?\"");
        let output = tokio::process::Command::from(joint.program("bash")).arg("-c").arg(script).output().await.unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stdout, "exit 0\n", "{command}: {stderr}");
        assert_eq!(stderr, "", "{command}: no panic, nothing said");
    }
}

#[tokio::test]
async fn raw_exits_3_when_the_broker_closes_with_requests_unanswered() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let padding = "x".repeat(1_100_000);
    let input = format!("{{\"op\":\"ping\"}}\n{{\"op\":\"ping\",\"padding\":\"{padding}\"}}\n{{\"op\":\"ping\"}}\n");
    let run = joint.run_with(&["raw"], &input).await;
    run.expect(3);
    let frames = run.json();
    assert_eq!(frames[0], json!({ "re": 1, "ok": {} }));
    assert_eq!(frames[1]["err"]["code"], "frame_too_large", "the broker's connection error is shown");
    assert_eq!(frames.len(), 2);
    assert_eq!(run.stderr.lines().last(), Some("joint: connection_lost: the connection to the broker was lost"));
}

#[tokio::test]
async fn raw_shows_an_undecodable_frame_in_the_users_language() {
    use tokio::io::AsyncReadExt;
    let app = spawn_app().await;
    let mut joint = Joint::new(&app);
    // A "broker" that answers the first bytes it gets with a cut MessagePack array.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    joint.broker = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf).await;
        stream.write_all(&[0, 0, 0, 2, 0x92, 0x01]).await.unwrap();
    });
    let run = joint.run_with(&["--lang", "ru", "raw"], "{\"op\":\"ping\"}\n").await;
    run.expect(3);
    let line: serde_json::Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert!(line.as_str().unwrap().starts_with("кадр не декодируется: "), "{line}");
}
