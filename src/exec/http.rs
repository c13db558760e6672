//! One plain HTTP(S) GET, for `git publish doctor`'s look at the site's public URL: the status, the
//! `Location` of a redirect, and the first bytes of the body. Nothing more: it follows no redirect (a 3xx comes
//! back as it is), gives up after the timeout it is given, and never reads more of a body than its cap.
//!
//! It runs on the HTTP stack the AWS SDK already builds (hyper 1, hyper-util's client, hyper-rustls with the
//! system's root certificates and aws-lc-rs), not on the SDK's client, which signs and retries. It decides
//! nothing about what an answer means (`cmd::doctor` does).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What a URL answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The `Location` header (redirects).
    pub location: Option<String>,
    /// The body's first bytes, at most the cap.
    pub head: Vec<u8>,
}

/// GET `url` (http or https), reading at most `cap` bytes of the body, all within `timeout`. The error says
/// what failed (the URL is the caller's to name).
pub async fn get(url: &url::Url, cap: usize, timeout: Duration) -> Result<Answer, String> {
    let answer = async {
        if url.scheme() == "http" {
            // No TLS, and no root certificates to load.
            send(
                Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
                url,
                cap,
            )
            .await
        } else {
            send(
                Client::builder(TokioExecutor::new()).build(https()?),
                url,
                cap,
            )
            .await
        }
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(a) => a,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// The HTTPS connector of every client here: https only, HTTP/1, the system's root certificates, aws-lc-rs.
pub fn https() -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("loading the system's root certificates: {e}"))?
        .https_only()
        .enable_http1()
        .build())
}

async fn send<C>(
    client: Client<C, Empty<Bytes>>,
    url: &url::Url,
    cap: usize,
) -> Result<Answer, String>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let req = hyper::Request::get(url.as_str())
        .header(
            hyper::header::USER_AGENT,
            concat!("git-publish/", env!("CARGO_PKG_VERSION"), " (doctor)"),
        )
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| chain(&e))?;
    let status = resp.status().as_u16();
    let location = (resp.headers().get(hyper::header::LOCATION))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let head = read_at_most(resp.into_body(), cap).await?;
    Ok(Answer {
        status,
        location,
        head,
    })
}

/// The body's first `cap` bytes; the rest is never read (the connection is dropped with it). Also the
/// Cloudflare client's.
pub async fn read_at_most(mut body: Incoming, cap: usize) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    while head.len() < cap {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|e| format!("reading the answer: {}", chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            let take = data.len().min(cap - head.len());
            head.extend_from_slice(&data[..take]);
        }
    }
    Ok(head)
}

/// An error and its sources ("client error (Connect): tcp connect error: Connection refused").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server on 127.0.0.1 that answers `response` to the first request.
    fn serve_once(response: Vec<u8>) -> url::Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(&response);
        });
        url::Url::parse(&format!(
            "http://127.0.0.1:{port}/x/.git-publish/state.json"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn status_location_and_a_capped_body() {
        let body = vec![b'a'; 100_000];
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        let a = get(&serve_once(resp), 1000, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((a.status, a.head.len()), (200, 1000));

        let resp = b"HTTP/1.1 301 Moved\r\nlocation: https://www.example.com/\r\ncontent-length: 0\r\n\r\n";
        let a = get(&serve_once(resp.to_vec()), 1000, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(a.status, 301, "not followed");
        assert_eq!(a.location.as_deref(), Some("https://www.example.com/"));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_closed_port_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let e = get(&url, 10, Duration::from_millis(300)).await.unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        drop(listener);
        let e = get(&url, 10, Duration::from_secs(5)).await.unwrap_err();
        assert!(e.contains("onnect"), "{e}");
    }
}
