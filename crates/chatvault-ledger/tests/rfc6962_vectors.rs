//! The transparency-dev RFC 6962 vectors: every happy path verifies, every `wantErr` case
//! is rejected. The vectors are copied (Apache-2.0) into `tests/vectors/rfc6962`; when
//! `../shared/vectors/rfc6962` exists too, the test checks that both copies agree.

use std::path::{Path, PathBuf};

use base64::Engine;
use chatvault_ledger::{check_consistency, check_inclusion};
use serde_json::Value;

fn b64(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("vector base64")
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("vector dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn run(dir: &Path) -> (usize, usize) {
    let (mut ok, mut rejected) = (0, 0);
    for kind in ["inclusion", "consistency"] {
        let mut all = vec![];
        files(&dir.join(kind), &mut all);
        assert!(!all.is_empty(), "no {kind} vectors in {}", dir.display());
        for f in all {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
            let want_err = v["wantErr"].as_bool().expect("wantErr");
            let result = if kind == "inclusion" {
                check_inclusion(
                    v["leafIdx"].as_u64().expect("leafIdx"),
                    v["treeSize"].as_u64().expect("treeSize"),
                    &b64(&v["root"]),
                    &b64(&v["leafHash"]),
                    &proof(&v["proof"]),
                )
            } else {
                check_consistency(
                    v["size1"].as_u64().expect("size1"),
                    v["size2"].as_u64().expect("size2"),
                    &b64(&v["root1"]),
                    &b64(&v["root2"]),
                    &proof(&v["proof"]),
                )
            };
            match (want_err, result) {
                (false, Ok(())) => ok += 1,
                (true, Err(_)) => rejected += 1,
                (false, Err(e)) => panic!("{}: happy path rejected: {e}", f.display()),
                (true, Ok(())) => panic!("{}: wantErr case accepted", f.display()),
            }
        }
    }
    (ok, rejected)
}

#[test]
fn every_vector_behaves() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc6962");
    let (ok, rejected) = run(&here);
    assert!(ok >= 10 && rejected >= 100, "ok={ok} rejected={rejected}");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/rfc6962");
    if shared.is_dir() {
        assert_eq!(
            run(&shared),
            (ok, rejected),
            "the shared vectors differ from the project's copy"
        );
    }
}
