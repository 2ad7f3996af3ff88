//! The identity commands as an operator runs them: `user add | list | freeze | unfreeze |
//! cancel`, `audit verify` on an intact and a tampered log, the generated admin password that
//! must be changed, and settings that are refused.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use super::binary;

fn run(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env("SY_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("SY_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("writes stdin");
    child.wait_with_output().expect("finishes")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn tamper(data_dir: &Path, statement: &str) {
    let url = format!("sqlite://{}", data_dir.join("shuangyong.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&mut connection).await.expect("runs");
}

#[tokio::test]
async fn user_commands_and_audit_verify_naming_the_broken_row() {
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path();
    let unit = run(data, &["unit", "add", "310101-01", "--parent", "310101", "--name", "黄浦区某街道"], "");
    assert!(unit.status.success(), "{}", text(&unit));
    let units = run(data, &["unit", "list"], "");
    assert!(text(&units).contains("310101-01\t黄浦区某街道\tunit\t310101\t310101"), "{}", text(&units));
    assert!(text(&units).contains("310115\t浦东新区\tdistrict\t310000\t310115"), "the 16 districts are seeded");
    let add = ["user", "add", "li", "--unit", "310101-01", "--role", "district-staff", "--name", "李四"];
    let output = run(data, &add, "Initial-Pass-2026\n");
    assert!(output.status.success(), "{}", text(&output));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keys.json")).expect("key file exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the generated key file is private");
    }
    let again = run(data, &add, "Initial-Pass-2026\n");
    assert!(!again.status.success() && text(&again).contains("已存在"), "{}", text(&again));
    let weak = run(data, &["user", "add", "wu", "--unit", "310101", "--role", "district-staff"], "weak\n");
    assert!(!weak.status.success() && text(&weak).contains("密码"), "{}", text(&weak));
    let bad_unit =
        run(data, &["user", "add", "wu", "--unit", "nowhere", "--role", "district-staff"], "Initial-Pass-2026\n");
    assert!(!bad_unit.status.success() && text(&bad_unit).contains("未知的单位"), "{}", text(&bad_unit));

    let list = run(data, &["user", "list"], "");
    assert!(text(&list).contains("li\t李四\t310101-01\tstaff\tactive\tdistrict-staff"), "{}", text(&list));
    assert!(run(data, &["user", "freeze", "li"], "").status.success());
    assert!(text(&run(data, &["user", "list", "--unit", "310101-01"], "")).contains("\tfrozen\t"));
    assert!(run(data, &["user", "unfreeze", "li"], "").status.success());
    assert!(run(data, &["user", "cancel", "li"], "").status.success());
    let refused = run(data, &["user", "unfreeze", "li"], "");
    assert!(!refused.status.success() && text(&refused).contains("已注销"), "{}", text(&refused));
    assert!(!run(data, &["user", "freeze", "nobody"], "").status.success());

    let intact = run(data, &["audit", "verify"], "");
    assert!(intact.status.success(), "{}", text(&intact));
    assert!(text(&intact).contains("intact: 8 rows"), "{}", text(&intact));

    tamper(data, "UPDATE audit_log SET target = 'someone-else' WHERE seq = 2").await;
    let edited = run(data, &["audit", "verify"], "");
    assert_eq!(edited.status.code(), Some(2));
    assert!(text(&edited).contains("row 2: content does not match"), "{}", text(&edited));
    tamper(data, "UPDATE audit_log SET target = 'li' WHERE seq = 2").await;
    assert!(run(data, &["audit", "verify"], "").status.success(), "restored");

    tamper(data, "DELETE FROM audit_log WHERE seq = 5").await;
    let deleted = run(data, &["audit", "verify"], "");
    assert_eq!(deleted.status.code(), Some(2));
    assert!(text(&deleted).contains("row 5: missing"), "{}", text(&deleted));

    tamper(data, "INSERT INTO audit_log (seq, at, user_id, source_ip, action, target, result, detail, prev_mac, mac) SELECT 5, at, 'mallory', source_ip, action, target, result, detail, prev_mac, mac FROM audit_log WHERE seq = 4").await;
    let inserted = run(data, &["audit", "verify"], "");
    assert_eq!(inserted.status.code(), Some(2));
    assert!(text(&inserted).contains("row 5: content does not match"), "{}", text(&inserted));

    // Without the key there is nothing to verify against.
    std::fs::remove_file(data.join("keys.json")).expect("removed");
    let keyless = run(data, &["audit", "verify"], "");
    assert_eq!(keyless.status.code(), Some(1));
    assert!(text(&keyless).contains("key file"), "{}", text(&keyless));
}

#[test]
fn settings_below_the_minimum_are_refused() {
    let directory = tempfile::tempdir().expect("temp dir");
    let output = run(directory.path(), &["serve", "--bind", "127.0.0.1:0", "--audit-retention-days", "90"], "");
    assert!(!output.status.success());
    assert!(text(&output).contains("at least 180 days"), "{}", text(&output));
}

#[tokio::test]
async fn the_generated_admin_password_must_be_changed_at_first_login() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo"])
        .env("SY_DATA_DIR", directory.path())
        .env_remove("SY_ADMIN_PASSWORD")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut base, mut password) = (None, None);
    while base.is_none() || password.is_none() {
        assert!(Instant::now() < deadline, "serve did not announce itself");
        let line = lines.next().expect("a line").expect("utf-8");
        if let Some(rest) = line.strip_prefix("shuangyong is running at ") {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.trim().strip_prefix("First start: log in as  admin / ") {
            password = Some(rest.trim().to_string());
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (base, password) = (base.expect("address"), password.expect("password"));
    let client = reqwest::Client::new();

    let basic =
        client.get(format!("{base}/engine-rest/task")).basic_auth("admin", Some(&password)).send().await.expect("sent");
    assert_eq!(basic.status(), 403);
    assert_eq!(basic.json::<Value>().await.expect("JSON")["error"], "password-change-required");
    let login = client
        .post(format!("{base}/api/session"))
        .json(&json!({ "username": "admin", "password": password }))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().expect("text").split(';').next().expect("cookie").to_string();
    let body: Value = login.json().await.expect("JSON");
    assert_eq!(body["mustChangePassword"], true);
    assert_eq!(body["roles"], json!(["sysadmin"]));
    let changed = client
        .post(format!("{base}/api/session/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", body["csrfToken"].as_str().expect("csrf"))
        .json(&json!({ "currentPassword": password, "newPassword": "New-Pass-2026-Shanghai" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 204);
    let basic = client
        .get(format!("{base}/engine-rest/task"))
        .basic_auth("admin", Some("New-Pass-2026-Shanghai"))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// `keys rotate`: a new SM4 data key becomes current, stored values are re-encrypted with it, and
/// the old key stays in the file (so the job can be resumed).
#[tokio::test]
async fn key_rotation_re_encrypts_sealed_values() {
    use base64::Engine as _;
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path();
    let output =
        run(data, &["user", "add", "li", "--unit", "310101", "--role", "district-staff"], "Initial-Pass-2026\n");
    assert!(output.status.success(), "{}", text(&output));
    let before = crypto::KeyConfig::from_json(&std::fs::read_to_string(data.join("keys.json")).expect("key file"))
        .expect("key file parses");
    let old = crypto::SoftwareCrypto::from_config(&before).expect("keys");
    let aad = b"users.phone:li";
    let sealed = crypto::encrypt_text(&old, "13912345678", aad).expect("seals");
    tamper(data, &format!("UPDATE users SET phone_sealed = '{sealed}' WHERE id = 'li'")).await;
    // An attachment of an approval operation, sealed the same way.
    let url = format!("sqlite://{}", data.join("shuangyong.db").display());
    let pdf = b"%PDF-1.7 attachment".to_vec();
    let sealed_file = crypto::CryptoProvider::encrypt(&old, &pdf, b"file:f1").expect("seals");
    let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    sqlx::query("INSERT INTO files (id, name, content_type, size, digest, uploaded_by, uploaded_at, content) VALUES ('f1', 'a.pdf', 'application/pdf', 19, '', 'li', 0, ?)")
        .bind(&sealed_file)
        .execute(&mut connection)
        .await
        .expect("inserts");

    let rotated = run(data, &["keys", "rotate"], "");
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert!(text(&rotated).contains("data key k2 is current; 2 sealed values re-encrypted"), "{}", text(&rotated));
    let after = crypto::KeyConfig::from_json(&std::fs::read_to_string(data.join("keys.json")).expect("key file"))
        .expect("key file parses");
    assert_eq!(after.current_data_key, "k2");
    assert!(after.data_keys.contains_key("k1"), "the old key is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keys.json")).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the rewritten key file stays private");
    }

    let stored: String = sqlx::query_scalar("SELECT phone_sealed FROM users WHERE id = 'li'")
        .fetch_one(&mut connection)
        .await
        .expect("reads");
    assert_ne!(stored, sealed, "re-encrypted");
    let bytes = base64::engine::general_purpose::STANDARD.decode(&stored).expect("base64");
    assert_eq!(crypto::sealed::key_id(&bytes).expect("header"), "k2");
    let new = crypto::SoftwareCrypto::from_config(&after).expect("keys");
    assert_eq!(crypto::decrypt_text(&new, &stored, aad).expect("opens with the new file"), "13912345678");
    assert!(crypto::decrypt_text(&old, &stored, aad).is_err(), "the old file alone cannot open it");
    let stored_file: Vec<u8> = sqlx::query_scalar("SELECT content FROM files WHERE id = 'f1'")
        .fetch_one(&mut connection)
        .await
        .expect("reads");
    assert_eq!(crypto::sealed::key_id(&stored_file).expect("header"), "k2");
    assert_eq!(crypto::CryptoProvider::decrypt(&new, &stored_file, b"file:f1").expect("opens"), pdf);
}

/// `keys rotate --all` (issue 10, finding 8; `docs/security.md` T-KEYS): after a key file was
/// exposed, the index, audit and SM2 signing keys are replaced too — the audit chain verifies
/// under the new key (and no longer under the old), access records are re-signed, blind
/// indexes recomputed, and a forged record is not re-signed.
#[tokio::test]
async fn rotating_every_key_keeps_the_chain_the_signatures_and_the_indexes() {
    use crypto::CryptoProvider as _;
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path();
    for user in ["li", "wu"] {
        let output =
            run(data, &["user", "add", user, "--unit", "310101", "--role", "district-staff"], "Initial-Pass-2026\n");
        assert!(output.status.success(), "{}", text(&output));
    }
    let before = crypto::KeyConfig::from_json(&std::fs::read_to_string(data.join("keys.json")).expect("key file"))
        .expect("key file parses");
    let old = crypto::SoftwareCrypto::from_config(&before).expect("keys");
    let sealed = crypto::encrypt_text(&old, "13912345678", b"users.phone:li").expect("seals");
    let index = old.blind_index("phone", "13912345678").expect("index");
    tamper(data, &format!("UPDATE users SET phone_sealed = '{sealed}', phone_index = '{index}' WHERE id = 'li'")).await;
    // wu's roles written behind the system's back: its signature no longer matches.
    tamper(data, "INSERT INTO user_roles (user_id, role_id) VALUES ('wu', 'city-staff')").await;

    let rotated = run(data, &["keys", "rotate", "--all"], "");
    assert!(rotated.status.success(), "{}", text(&rotated));
    let report = text(&rotated);
    assert!(report.contains("1 access records re-signed, 1 phone indexes recomputed"), "{report}");
    assert!(report.contains("not re-signed") && report.contains("wu"), "{report}");
    assert!(!data.join("keys.json.new").exists(), "the staged file was moved into place");
    let after = crypto::KeyConfig::from_json(&std::fs::read_to_string(data.join("keys.json")).expect("key file"))
        .expect("key file parses");
    assert_ne!(after.audit_key, before.audit_key);
    assert_ne!(after.index_key, before.index_key);
    assert_ne!(after.sm2_private_key, before.sm2_private_key);
    let new = crypto::SoftwareCrypto::from_config(&after).expect("keys");

    let verified = run(data, &["audit", "verify"], "");
    assert!(verified.status.success(), "the chain verifies under the new key: {}", text(&verified));
    let url = format!("sqlite://{}", data.join("shuangyong.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let (stored_index, signature): (String, String) =
        sqlx::query_as("SELECT phone_index, acl_signature FROM users WHERE id = 'li'")
            .fetch_one(&mut connection)
            .await
            .expect("reads");
    assert_eq!(stored_index, new.blind_index("phone", "13912345678").expect("index"));
    let record = b"shuangyong-acl-v1\nli\n310101\nactive\ndistrict-staff";
    let signature = hex::decode(signature).expect("hex");
    assert!(new.verify(record, &signature), "re-signed with the new key");
    assert!(!old.verify(record, &signature), "not with the old one");
    // The old key file no longer verifies the chain.
    std::fs::write(data.join("old.json"), before.to_json().as_bytes()).expect("writes");
    let with_old = Command::new(binary())
        .args(["audit", "verify"])
        .env("SY_DATA_DIR", data)
        .env("SY_KEY_FILE", data.join("old.json"))
        .env_remove("DATABASE_URL")
        .output()
        .expect("runs");
    assert!(!with_old.status.success(), "{}", text(&with_old));
}

/// Starts `serve` on `data_dir` with the demo on; returns the child, its address and every line
/// it printed up to its address (the banner ends there).
fn serve_demo(data_dir: &Path) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("SY_DATA_DIR", data_dir)
        .env("SY_ADMIN_PASSWORD", "Demo-Pass-2026!")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut printed = Vec::new();
    let base = loop {
        let line = receiver.recv_timeout(Duration::from_secs(60)).expect("serve announces itself");
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("shuangyong is running at ") {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // The rest of the banner is written with the address, in one go.
    while let Ok(line) = receiver.recv_timeout(Duration::from_millis(500)) {
        printed.push(line);
    }
    (child, base, printed)
}

/// The demo (issue 12): the first start prints every demo login, without the password it was
/// given; a district reviewer signs in with it and finds the demo application in 待办 and
/// 待认领, another district's reviewer finds nothing, and a second start adds no one.
#[tokio::test]
async fn the_first_demo_start_prints_the_demo_logins_and_their_inbox_is_ready() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut child, base, printed) = serve_demo(directory.path());
    let banner = printed.join("\n");
    assert!(banner.contains("log in as  admin"), "{banner}");
    for login in
        ["applicant", "liaison", "hp-reviewer", "xh-reviewer", "city-reviewer", "process-admin", "security", "audit"]
    {
        assert!(printed.iter().any(|line| line.trim_start().starts_with(login)), "{login} in\n{banner}");
    }
    assert!(!banner.contains("Demo-Pass-2026!"), "a chosen password is not printed: {banner}");
    let client = reqwest::Client::new();
    let counts = |user: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let response = client
                .get(format!("{base}/api/inbox/counts"))
                .basic_auth(user, Some("Demo-Pass-2026!"))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 200, "{user}");
            response.json::<Value>().await.expect("JSON")
        }
    };
    // The demo applications (issue 14): 黄浦区 has the applicant's waiting in its pool; the
    // staff member who applied for institutions has the one returned to them to revise; the
    // city has one in its pool; 徐汇区 has nothing of 黄浦区's.
    // With the two venue requests (SVC-22) once the node has checked their times: 黄浦区's
    // reviewer has them in the pool too; the staff member who asked for them does not review.
    let mut hp = counts("hp-reviewer").await;
    for _ in 0..100 {
        if hp["claimable"].as_i64() == Some(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        hp = counts("hp-reviewer").await;
    }
    assert_eq!((hp["todo"].as_i64(), hp["claimable"].as_i64()), (Some(3), Some(3)), "{hp}");
    // hp-reviewer2 holds the application returned to them; of the district's pool they are
    // offered the applicant's application, not the reviews of what they asked for themselves.
    let hp2 = counts("hp-reviewer2").await;
    assert_eq!((hp2["todo"].as_i64(), hp2["claimable"].as_i64()), (Some(2), Some(1)), "{hp2}");
    let xh = counts("xh-reviewer").await;
    assert_eq!(xh["todo"].as_i64(), Some(0), "{xh}");
    let city = counts("city-reviewer").await;
    assert_eq!(city["claimable"].as_i64(), Some(1), "{city}");
    let applicant = counts("applicant").await;
    assert_eq!(applicant["started"].as_i64(), Some(1), "{applicant}");
    assert!(banner.contains("/m/login"), "the light app's sign-in is printed: {banner}");
    // The approved one is activated by the node's workers: its institution has its account.
    let mut activated = String::new();
    for _ in 0..100 {
        activated = client
            .get(format!("{base}/api/forms/provider-institution/records?q=%E6%8B%A5%E5%86%9B%E9%9D%A2%E9%A6%86"))
            .basic_auth("hp-reviewer", Some("Demo-Pass-2026!"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("body");
        if activated.contains("inst-91310101ma1fl4ct3f") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(activated.contains("inst-91310101ma1fl4ct3f") && activated.contains("\"active\""), "{activated}");
    // 场地排期 has this week's demo bookings.
    let board = client
        .get(format!("{base}/api/forms/venue-booking/records?f.status=confirmed"))
        .basic_auth("hp-reviewer", Some("Demo-Pass-2026!"))
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(board["total"], 3, "{board}");
    // The auditor and the security administrator have passwords of their own (三员分立): the
    // admin's opens neither; their own, printed once, must be changed at the first login.
    for (login, role) in [("audit", "auditor"), ("security", "secadmin")] {
        let line = printed.iter().find(|line| line.trim_start().starts_with(login)).expect("listed");
        let own = line.split(" / ").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("its password");
        assert_ne!(own, "Demo-Pass-2026!");
        let refused = client
            .post(format!("{base}/api/session"))
            .json(&json!({ "username": login, "password": "Demo-Pass-2026!" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), 401, "{login} with the admin's password");
        let session = client
            .post(format!("{base}/api/session"))
            .json(&json!({ "username": login, "password": own }))
            .send()
            .await
            .expect("sent");
        let session: Value = session.json().await.expect("JSON");
        assert_eq!((session["roles"].clone(), session["mustChangePassword"].clone()), (json!([role]), json!(true)));
    }
    let _ = child.kill();
    let _ = child.wait();

    let (mut again, _, printed) = serve_demo(directory.path());
    assert!(!printed.join("\n").contains("Demo logins"), "{printed:?}");
    let _ = again.kill();
    let _ = again.wait();
}
