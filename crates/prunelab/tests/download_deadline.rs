//! Downloads have an overall deadline per file: a server on 127.0.0.1 that sends its headers and then one
//! byte every 200 ms (never slow enough for the per-read timeout) is given up on once the deadline passes,
//! with an error that names the file, the bytes received and the deadline. Nothing here touches the
//! internet.
#![cfg(feature = "download")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prunelab::data::{MnistSource, RemoteFile};
use prunelab::Error;

/// A server that answers every request with a 200 announcing 1,000 bytes, then trickles them one every
/// 200 ms; returns its base URL.
fn trickling_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // The request, up to its blank line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                            Content-Length: 1000\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..1000 {
                    std::thread::sleep(Duration::from_millis(200));
                    // The client hung up: stop.
                    if stream
                        .write_all(&[0x1f])
                        .and_then(|()| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    base
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "prunelab-deadline-test-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn source(dir: &PathBuf, mirrors: &[String]) -> MnistSource {
    let mut s = MnistSource::new()
        .dir(dir)
        .mirrors(mirrors.to_vec())
        .progress(false)
        .timeout(Duration::from_secs(10));
    let hash = "0".repeat(64);
    s.files = [
        RemoteFile::new("train-images-idx3-ubyte", hash.clone()),
        RemoteFile::new("train-labels-idx1-ubyte", hash.clone()),
        RemoteFile::new("t10k-images-idx3-ubyte", hash.clone()),
        RemoteFile::new("t10k-labels-idx1-ubyte", hash),
    ];
    s
}

#[test]
fn a_trickling_server_is_given_up_on_at_the_deadline() {
    let server = trickling_server();
    let dir = temp_dir("trickle");
    let start = Instant::now();
    let err = source(&dir, &[server])
        .deadline(Duration::from_secs(1))
        .fetch()
        .unwrap_err();
    let took = start.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    // One byte every 200 ms would take 200 s; the 1 s deadline ends it after one more read at most.
    assert!(took < Duration::from_secs(5), "took {took:?}: {msg}");
    assert!(
        msg.contains("train-images-idx3-ubyte")
            && msg.contains("deadline of 1.0 s")
            && msg.contains("of 1000 bytes received"),
        "{msg}"
    );
    // It gave up after receiving a few bytes, not before.
    let received: u64 = msg
        .split(" of 1000 bytes received")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {msg}"));
    assert!((1..20).contains(&received), "{received}: {msg}");
    // Nothing partial is left in the cache.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_default_deadline_is_generous_and_a_zero_one_is_refused() {
    let s = MnistSource::new();
    assert_eq!(s.deadline, None);
    assert_eq!(
        s.clone().deadline(Duration::from_secs(5)).deadline,
        Some(Duration::from_secs(5))
    );
    let dir = temp_dir("zero");
    let err = source(&dir, &[])
        .deadline(Duration::ZERO)
        .fetch()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParam {
                name: "deadline",
                ..
            }
        ),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
