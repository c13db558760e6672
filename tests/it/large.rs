//! Large and many: multipart streaming with bounded memory, and many files. Peak RSS is measured with
//! wait4(2) on the git-publish process itself. CI runs the reduced forms; `bench/reliability.sh` runs the
//! full ones (`--ignored`): a 200 MB file and a 20,000-file first publish.

use std::process::{Command, Stdio};

use crate::util::*;

/// Run git-publish and return (exit code, peak RSS in MiB, stderr). The peak is the process's own VmHWM,
/// sampled every 10 ms until it exits. (wait4's ru_maxrss is no good here: a forked child starts with the
/// high-water mark of the test process that forked it.)
fn run_measured(site: &Site, args: &[&str]) -> (i32, f64, String) {
    let err_path = site.tmp.path().join("stderr.txt");
    let mut cmd = Command::new(crate::util::bin());
    site.env(&mut cmd);
    let mut child = cmd
        .args(args)
        .current_dir(&site.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(v) = text.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    (
        status.code().unwrap_or(-1),
        peak_kib as f64 / 1024.0,
        std::fs::read_to_string(err_path).unwrap_or_default(),
    )
}

fn large_file(mib: usize) {
    let site = Site::new();
    let b = bucket("large");
    let body = noise(mib * 1024 * 1024 + 12345, 7);
    site.write("public/video/big.bin", &body)
        .write("public/index.html", "<a href=video/big.bin>big</a>");
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.p]\nurl = \"s3://{b}\"\n"
    ));
    site.commit("big");
    let (code, rss, stderr) = run_measured(&site, &[]);
    assert_eq!(code, 0, "{stderr}");
    let got = rt().block_on(async {
        let o = s3()
            .get_object()
            .bucket(&b)
            .key("video/big.bin")
            .send()
            .await
            .unwrap();
        o.body.collect().await.unwrap().into_bytes()
    });
    assert!(
        got.len() == body.len() && got[..] == body[..],
        "bytes differ"
    );
    let multipart = moto()
        .requests(&b)
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("partNumber="))
        .count();
    assert_eq!(
        multipart,
        body.len().div_ceil(8 * 1024 * 1024),
        "uploaded in 8 MiB parts"
    );
    eprintln!("large file: {mib} MiB in {multipart} parts, peak RSS {rss:.1} MiB");
    assert!(rss < 100.0, "peak RSS {rss:.1} MiB");
}

fn many_files(n: usize) {
    let site = Site::new();
    let b = bucket("many");
    for i in 0..n {
        site.write(
            &format!("public/posts/{:04}/p{i}/index.html", i / 100),
            format!("<p>{i}</p>{}", "x".repeat(i % 3000)),
        );
    }
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.p]\nurl = \"s3://{b}\"\nconcurrency = 32\n"
    ));
    site.commit("many");
    let start = std::time::Instant::now();
    let (code, rss, stderr) = run_measured(&site, &[]);
    assert_eq!(code, 0, "{stderr}");
    let secs = start.elapsed().as_secs_f64();
    let puts = moto()
        .requests(&b)
        .iter()
        .filter(|r| r.method == "PUT" && !r.path.contains(".git-publish/probe"))
        .count();
    assert_eq!(
        puts,
        n + 3,
        "CreateBucket + one PUT per file + claim + state"
    );
    eprintln!("many files: {n} files first publish in {secs:.1}s, peak RSS {rss:.1} MiB");
    assert!(rss < 100.0, "peak RSS {rss:.1} MiB");
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the peak memory is read from /proc"
)]
fn a_40_mib_file_is_streamed_in_parts_with_bounded_memory() {
    large_file(40);
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the peak memory is read from /proc"
)]
fn a_thousand_files_first_publish_with_bounded_memory() {
    many_files(1_000);
}

#[test]
#[ignore = "long: run by bench/reliability.sh"]
fn a_200_mb_file_is_streamed_in_parts_with_bounded_memory() {
    large_file(200);
}

#[test]
#[ignore = "long: run by bench/reliability.sh"]
fn twenty_thousand_files_first_publish_with_bounded_memory() {
    many_files(20_000);
}
