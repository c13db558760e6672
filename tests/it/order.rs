//! The order at the store, not only in the plan: read from the proxy's log, where every request has the tick
//! it arrived at and the tick just before its answer went back (one clock for all connections). A request
//! sent because of an answer arrives after that answer's tick; one sent before an answer came back arrives
//! before it.
//!
//! - every asset is answered before the first page is sent (a page never links to an asset not there yet);
//! - the deletes are sent after every upload and redirect object is answered;
//! - the managed function is updated and published before the invalidation is sent (an evicted URL meets
//!   the new function);
//! - the record is written after every other answer (it never names a commit whose objects are missing).

use crate::proxy::{Config, Logged, Proxy};
use crate::util::*;

fn is_state(r: &Logged) -> bool {
    r.path.contains("/.git-publish/")
}

fn is_site_put(r: &Logged) -> bool {
    r.method == "PUT" && !is_state(r) && !r.path.starts_with("/2020-05-31/")
}

fn is_redirect_object(r: &Logged) -> bool {
    (r.head.to_ascii_lowercase()).contains("x-amz-website-redirect-location:")
}

fn is_page(r: &Logged) -> bool {
    r.path.split('?').next().unwrap().ends_with(".html") && !is_redirect_object(r)
}

fn is_delete(r: &Logged) -> bool {
    r.method == "POST" && r.path.contains("?delete")
}

fn is_function(r: &Logged) -> bool {
    r.method != "GET" && r.path.starts_with("/2020-05-31/function/")
}

fn is_invalidation(r: &Logged) -> bool {
    r.method == "POST" && r.path.ends_with("/invalidation")
}

/// The latest answer and the earliest arrival of two groups of requests, with what they were.
fn before(first: &[&Logged], then: &[&Logged], what: &str) {
    assert!(
        !first.is_empty() && !then.is_empty(),
        "{what}: a group is empty"
    );
    let last = first.iter().max_by_key(|r| r.answered).unwrap();
    let next = then.iter().min_by_key(|r| r.arrived).unwrap();
    assert!(
        first.iter().all(|r| r.answered > 0),
        "{what}: a request of the first group was never answered: {first:?}"
    );
    assert!(
        last.answered < next.arrived,
        "{what}: {} {} was answered at {} after {} {} arrived at {}",
        last.method,
        last.path,
        last.answered,
        next.method,
        next.path,
        next.arrived
    );
}

#[test]
fn assets_then_pages_then_redirects_then_deletes_then_function_then_invalidation_and_record() {
    let b = bucket("order");
    let dist = distribution(&b);
    let site = Site::new();
    let config = |extra: &str| {
        format!(
            "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n\
             cdn_function = \"manage\"\nconcurrency = 8\nmax_deletes = 100\nmax_invalidation_paths = 100\n{extra}"
        )
    };
    site.config(&config(""));
    tag_for_site(&site, &dist);
    for i in 0..12 {
        site.write(&format!("public/css/c{i}.css"), format!("c{i}"))
            .write(&format!("public/img/i{i}.png"), format!("i{i}"))
            .write(
                &format!("public/posts/p{i}/index.html"),
                format!("<h1>{i}</h1>"),
            )
            .write(&format!("public/old/o{i}.html"), format!("o{i}"));
    }
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    site.run(&[]).ok();

    // Every asset and page changes, the old pages go, and a redirect in site.toml changes the function.
    for i in 0..12 {
        site.write(&format!("public/css/c{i}.css"), format!("c{i}'"))
            .write(&format!("public/img/i{i}.png"), format!("i{i}'"))
            .write(
                &format!("public/posts/p{i}/index.html"),
                format!("<h1>{i}'</h1>"),
            );
    }
    std::fs::remove_dir_all(site.path("public/old")).unwrap();
    site.config(&config(
        "[[redirects]]\nfrom = \"/old/\"\nto = \"/posts/p0/\"\n",
    ));
    site.commit("v2");
    // A little delay on every request, so that the requests of a group overlap.
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            delay: std::time::Duration::from_millis(20),
            ..Default::default()
        },
    );
    site.run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .ok();
    let log = proxy.requests();
    let of = |f: fn(&Logged) -> bool| -> Vec<&Logged> { log.iter().filter(|r| f(r)).collect() };

    let uploads = of(is_site_put);
    let assets: Vec<&Logged> = (uploads.iter().copied())
        .filter(|r| !is_page(r) && !is_redirect_object(r))
        .collect();
    let pages: Vec<&Logged> = uploads.iter().copied().filter(|r| is_page(r)).collect();
    let redirects: Vec<&Logged> = (uploads.iter().copied())
        .filter(|r| is_redirect_object(r))
        .collect();
    assert_eq!((assets.len(), pages.len()), (24, 12), "{uploads:?}");
    let overlapping = |group: &[&Logged]| {
        (group.iter()).any(|a| {
            group
                .iter()
                .any(|b| a.arrived < b.arrived && b.arrived < a.answered)
        })
    };
    assert!(
        overlapping(&assets) && overlapping(&pages),
        "the requests of a group were never in flight together: the order below would hold anyway"
    );
    before(&assets, &pages, "assets before pages");
    before(&pages, &redirects, "pages before redirect objects");
    before(&uploads, &of(is_delete), "uploads before deletes");
    let function = of(is_function);
    assert!(
        function.iter().any(|r| r.path.ends_with("/publish")),
        "the function was published: {function:?}"
    );
    before(&of(is_delete), &function, "deletes before the function");
    before(
        &function,
        &of(is_invalidation),
        "function before invalidation",
    );

    let records: Vec<&Logged> = (log.iter())
        .filter(|r| r.method == "PUT" && r.path.contains(".git-publish/state.json"))
        .collect();
    assert_eq!(records.len(), 2, "the claim and the record: {records:?}");
    let (claim, record) = (records[0], records[1]);
    let work: Vec<&Logged> = (log.iter())
        .filter(|r| r.n != claim.n && r.n != record.n && r.arrived > claim.answered)
        .collect();
    before(&[claim], &work, "claim before the work");
    // The invalidation goes out with the record (which lists it as requested, never as created): every
    // other answer comes before both.
    let site_work: Vec<&Logged> = (work.iter().copied())
        .filter(|r| !is_invalidation(r))
        .collect();
    before(
        &site_work,
        &[record],
        "every answer of the site's writes before the record",
    );
    before(
        &site_work,
        &of(is_invalidation),
        "every answer of the site's writes before the invalidation",
    );
}
