//! Deletes against S3's DeleteObjects: at most 1,000 keys a request, and per-key errors inside a 200 answer.
//! A deploy is never recorded with objects of the old tree left behind.

use crate::proxy::{Asked, Config, Proxy};
use crate::util::*;

/// Keys under this directory are refused by [`refuse_some_keys`].
const REFUSED: &str = "refused/";

/// The keys of a DeleteObjects request body, in order (test keys need no XML unescaping).
fn keys_of(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    text.split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
        .collect()
}

/// A stand-in for S3 refusing some keys of a DeleteObjects: the others are deleted (straight in moto, as the
/// server would), and the answer is a 200 whose `<Error>` entries name the refused ones (quiet mode lists
/// only errors).
fn refuse_some_keys(a: &Asked) -> Option<Vec<u8>> {
    if a.method != "POST" || !a.path.contains("?delete") {
        return None;
    }
    let b = a
        .path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap();
    let (refused, deleted): (Vec<String>, Vec<String>) = keys_of(a.body)
        .into_iter()
        .partition(|k| k.starts_with(REFUSED));
    if !deleted.is_empty() {
        let objects = (deleted.iter())
            .map(|k| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(k)
                    .build()
                    .unwrap()
            })
            .collect();
        let delete = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .build()
            .unwrap();
        rt().block_on(s3().delete_objects().bucket(b).delete(delete).send())
            .unwrap();
    }
    let errors: String = (refused.iter())
        .map(|k| format!("<Error><Key>{k}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{errors}</DeleteResult>"
    );
    Some(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// 1,001 removed files go in two DeleteObjects requests (1,000 keys, then 1); when S3 refuses a key of the
/// second, the publish fails, the record still names the old commit (with the failure), the refused object
/// is still there, and the next publish deletes it and records the new commit.
#[test]
fn per_key_delete_errors_in_the_second_batch_of_1000_fail_the_publish_and_record_nothing() {
    let site = Site::new();
    let b = bucket("deletes");
    site.config(SiteToml::s3(&b).with("max_deletes = 2000"));
    site.write("public/index.html", "<h1>Home</h1>");
    for i in 0..1000 {
        site.write(&format!("public/old/{i:04}.html"), format!("old {i}"));
    }
    // Sorted after old/: the last key, alone in the second request.
    site.write("public/refused/page.html", "refused");
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    std::fs::remove_dir_all(site.path("public/old")).unwrap();
    std::fs::remove_dir_all(site.path("public/refused")).unwrap();
    site.write("public/index.html", "<h1>Home 2</h1>");
    let c2 = site.commit("v2");

    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(refuse_some_keys),
            ..Default::default()
        },
    );
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .fails(1);
    let mut batches: Vec<Vec<String>> = (proxy.requests().iter())
        .filter(|q| q.method == "POST" && q.path.contains("?delete"))
        .map(|q| keys_of(&q.body))
        .collect();
    // A batch the SDK sent again (its answer late on a loaded machine) is the same request.
    batches.dedup();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1], "keys per DeleteObjects request");
    assert_eq!(batches[1], ["refused/page.html"]);
    assert!(
        r.stderr.contains("1 of 1 deletes failed")
            && r.stderr.contains("refused/page.html (AccessDenied)"),
        "{}",
        r.stderr
    );
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c1.as_str());
    assert_eq!(st["pending"]["commit"], c2.as_str());
    assert!(
        (st["pending"]["error"].as_str().unwrap_or("")).contains("refused/page.html"),
        "{st}"
    );
    let keys: Vec<String> = site_objects(&b).into_keys().collect();
    assert_eq!(keys, ["index.html", "refused/page.html"]);

    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("resuming"), "{}", r.stderr);
    let keys: Vec<String> = site_objects(&b).into_keys().collect();
    assert_eq!(keys, ["index.html"]);
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
}
