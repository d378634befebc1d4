//! `clap-tools serve`: the search page in headless Chromium (typed query → results → playable WAV),
//! and the JSON endpoints against bad requests: rows that are no clip, paths, oversized and
//! undecodable uploads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

/// A small indexed collection in `dir`: twelve clips, the reference checkpoint and its BERT folder,
/// built into `dir/ix` with a captions table for two of them.
fn indexed(dir: &Path) {
    for i in 0..12 {
        write_wav(&dir.join(format!("sounds/clip {i:02}.wav")), 32000, 1, 9000 + 2100 * i);
    }
    let bert = dir.join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    std::fs::copy(fixture("text/bert/config.json"), bert.join("config.json")).unwrap();
    std::fs::copy(fixture("text/tokenizer/vocab.txt"), bert.join("vocab.txt")).unwrap();
    std::fs::copy(fixture("checkpoint/reference.pth"), dir.join("model.pth")).unwrap();
    let cap = clap_tools::schema::Caption {
        audio_id: "clip 03.wav".into(),
        caption: "Birds & <b>bold</b> rain.".into(),
        caption_index: 1,
        dataset: "clotho".into(),
        ..Default::default()
    };
    clap_tools::table::write_captions(&dir.join("captions.parquet"), &[cap]).unwrap();
    ok_in(
        dir,
        &[
            "index",
            "build",
            "sounds",
            "--captions",
            "captions.parquet",
            "-o",
            "ix",
            "--checkpoint",
            "model.pth",
            "--text-encoder",
            "bert",
        ],
    );
}

/// A running `serve` and the address it printed; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["serve", "ix", "--addr", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .env("CLAP_TOOLS_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let addr = loop {
        let line = lines.next().unwrap_or_else(|| panic!("serve stopped before listening:\n{seen}")).unwrap();
        seen += &line;
        seen += "\n";
        if let Some(at) = line.find("http://") {
            let rest = &line[at + 7..];
            break rest[..rest.find('/').unwrap()].to_string();
        }
    };
    // Keep reading its stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// One HTTP/1.1 request; returns (status, content type, body).
fn http(addr: &str, method: &str, target: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading the whole body; a write error then is expected.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let mut body = out[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, ctype, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[test]
fn the_page_in_chromium_finds_clips_and_plays_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    indexed(dir);
    let server = start(dir, &[]);
    let query = "rain on a tin roof";
    let shot = dir.join("page.png");
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/search_page.py"))
        .args([&format!("http://{}/", server.addr), query, s(&shot)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser test needs Chromium, chromedriver and selenium (`bash scripts/setup.sh --python`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = json(&out.stdout);
    assert!(page["info"].as_str().unwrap().contains("12 clips"), "{page}");
    // The page lists what `search` prints for the same caption, in the same order.
    let cli = json(ok_in(dir, &["search", "ix", "--text", query, "--json"]).as_bytes());
    let want: Vec<&str> = cli[0]["hits"].as_array().unwrap().iter().map(|h| h["audio_id"].as_str().unwrap()).collect();
    let shown: Vec<&str> = page["hits"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(shown, want);
    assert_eq!(shown.len(), 10);
    // The first result's <audio> source is a WAV of that clip.
    let audio = page["audio"].as_array().unwrap();
    assert_eq!(audio[1], 200);
    assert_eq!(audio[2], "audio/wav");
    assert_eq!(audio[4], true, "RIFF/WAVE header: {page}");
    let n: usize = want[0][5..7].parse().unwrap();
    assert_eq!(audio[3].as_u64().unwrap() as usize, 44 + 2 * (9000 + 2100 * n), "16-bit mono of the clip's samples");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot of the page");
}

#[test]
fn endpoints_answer_bad_requests_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    indexed(dir);
    let server = start(dir, &["--max-upload-mb", "0.2", "--max-upload-seconds", "1"]);
    let a = server.addr.as_str();

    // A text search: hits with the captions table's columns; the caption comes back as data.
    let (status, ctype, body) = http(a, "GET", "/api/search?q=birds%20in%20rain&k=12", b"");
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let v = json(&body);
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 12);
    let c3 = hits.iter().find(|h| h["audio_id"] == "clip 03.wav").unwrap();
    assert_eq!(c3["captions"][0], "Birds & <b>bold</b> rain.");
    assert_eq!(c3["dataset"], "clotho");
    // k is bounded by the index.
    assert_eq!(json(&http(a, "GET", "/api/search?q=x&k=5000", b"").2)["hits"].as_array().unwrap().len(), 12);

    // An uploaded clip finds itself first.
    let clip = std::fs::read(dir.join("sounds/clip 05.wav")).unwrap();
    let (status, _, body) = http(a, "POST", "/api/search/audio?k=3&name=clip%2005.wav", &clip);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["hits"][0]["audio_id"], "clip 05.wav");
    assert!((v["hits"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-4);

    // 1.5 s of audio in 96 kB: under the size limit, over the duration limit.
    write_wav(&dir.join("long.wav"), 32000, 1, 48000);
    let long = std::fs::read(dir.join("long.wav")).unwrap();
    // Bad requests: each a status and a message.
    let cases: [(&str, &str, Vec<u8>, u16, &str); 8] = [
        (
            "POST",
            "/api/search/audio?name=long.wav",
            long,
            413,
            "long.wav: the audio is longer than this server takes (1 s)",
        ),
        ("GET", "/audio/12", vec![], 404, "no clip \"12\""),
        ("GET", "/audio/..%2F..%2Fetc%2Fpasswd", vec![], 404, "no clip"),
        ("GET", "/audio/-1", vec![], 404, "no clip"),
        ("GET", "/api/search?q=", vec![], 400, "give a caption"),
        ("POST", "/api/search/audio?name=x.wav", vec![], 400, "send an audio file"),
        ("POST", "/api/search/audio?name=x.wav", b"RIFF\x10\x00\x00\x00WAVEjunk".to_vec(), 400, "x.wav: not audio"),
        ("POST", "/api/search/audio?name=big.wav", vec![0u8; 300_000], 413, "larger than this server takes (0.2 MB)"),
    ];
    for (method, target, body, want, msg) in cases {
        let (status, _, got) = http(a, method, target, &body);
        let text = String::from_utf8_lossy(&got);
        assert_eq!(status, want, "{method} {target}: {text}");
        assert!(json(&got)["error"].as_str().unwrap().contains(msg), "{method} {target}: {text}");
    }
    // Still serving after all that.
    let (status, ctype, wav) = http(a, "GET", "/audio/0", b"");
    assert_eq!((status, ctype.as_str()), (200, "audio/wav"));
    assert_eq!(&wav[..4], b"RIFF");
    // The page itself.
    let (status, ctype, page) = http(a, "GET", "/", b"");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html") && String::from_utf8_lossy(&page).contains("clap-tools search"));
    // A busy address is an error naming it.
    let err = run_in(dir, &["serve", "ix", "--addr", a]).2;
    assert!(err.contains(a) && err.contains("cannot listen"), "{err}");
}

/// A folder holding the index, its audio and its model, moved elsewhere: the page still finds the
/// model and plays the clips (their recorded paths are found again from the index's new place).
#[test]
fn a_moved_folder_still_serves_its_clips() {
    let root = tempfile::tempdir().unwrap();
    let before = root.path().join("collection");
    std::fs::create_dir_all(&before).unwrap();
    indexed(&before);
    let after = root.path().join("elsewhere/collection");
    std::fs::create_dir_all(after.parent().unwrap()).unwrap();
    std::fs::rename(&before, &after).unwrap();
    let server = start(&after, &[]);
    let (status, ctype, wav) = http(&server.addr, "GET", "/audio/3", b"");
    assert_eq!((status, ctype.as_str()), (200, "audio/wav"), "{}", String::from_utf8_lossy(&wav));
    assert_eq!(&wav[..4], b"RIFF");
    let (status, _, body) = http(&server.addr, "GET", "/api/search?q=rain&k=2", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
