//! A stand-in for Tencent's `libWeWorkFinanceSdk_C.so`, with the same C interface
//! (`WeWorkFinanceSdk_C.h`), over fixture data, for chatvault's tests. Never a real
//! SDK: its `DecryptData` opens only what [`seal`] sealed.
//!
//! - `Init` accepts the secret in `WEWORK_DOUBLE_SECRET` (default `double-secret`), else
//!   answers 41001, as the service answers a wrong secret.
//! - `GetChatData(seq, limit)` reads the JSON array of records in the file named by
//!   `WEWORK_DOUBLE_DATA` (re-read at every call, so a test can append) and answers
//!   `{"errcode":0,"errmsg":"ok","chatdata":[…]}` with up to `limit` records whose `seq`
//!   is above `seq`, in order.
//! - `DecryptData(key, msg)` opens what [`seal`] sealed under `key`, and answers 10004
//!   (a key error) for any other key: a record whose random key was not opened with the
//!   right private key does not decrypt. `WEWORK_DOUBLE_DELAY_MS` slows each call, so a
//!   test can kill a process in the middle of a batch.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};

use base64::Engine;
use sha2::{Digest, Sha256};

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn keystream(key: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut counter = 0u64;
    while out.len() < n {
        let mut h = Sha256::new();
        h.update(key.as_bytes());
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(n);
    out
}

fn tag(key: &str) -> [u8; 8] {
    let h = Sha256::digest([b"double-tag\0", key.as_bytes()].concat());
    let mut t = [0u8; 8];
    t.copy_from_slice(&h[..8]);
    t
}

/// The double's own sealing (not Tencent's, which is closed): a tag of the key, then the
/// plaintext under a SHA-256 keystream, base64.
pub fn seal(key: &str, plaintext: &[u8]) -> String {
    let ks = keystream(key, plaintext.len());
    let body: Vec<u8> = plaintext.iter().zip(ks).map(|(p, k)| p ^ k).collect();
    b64().encode([tag(key).as_slice(), &body].concat())
}

fn open(key: &str, sealed: &str) -> Option<Vec<u8>> {
    let raw = b64().decode(sealed).ok()?;
    if raw.len() < 8 || raw[..8] != tag(key) {
        return None;
    }
    let ks = keystream(key, raw.len() - 8);
    Some(raw[8..].iter().zip(ks).map(|(c, k)| c ^ k).collect())
}

/// `Slice_t` as the header declares it.
#[repr(C)]
pub struct Slice {
    buf: *mut c_char,
    len: c_int,
}

struct Sdk {
    ready: bool,
}

fn delay() {
    let ms = std::env::var("WEWORK_DOUBLE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u64);
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// # Safety
/// `s` is null or a pointer from `NewSlice`.
unsafe fn fill(s: *mut Slice, bytes: Vec<u8>) -> c_int {
    if s.is_null() {
        return 10000;
    }
    let len = bytes.len() as c_int;
    let Ok(c) = CString::new(bytes) else {
        return 10002;
    };
    if !(*s).buf.is_null() {
        drop(CString::from_raw((*s).buf));
    }
    (*s).buf = c.into_raw();
    (*s).len = len;
    0
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

#[no_mangle]
pub extern "C" fn NewSdk() -> *mut c_void {
    Box::into_raw(Box::new(Sdk { ready: false })).cast()
}

/// # Safety
/// `sdk` comes from `NewSdk`; the strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn Init(
    sdk: *mut c_void,
    corpid: *const c_char,
    secret: *const c_char,
) -> c_int {
    let want = std::env::var("WEWORK_DOUBLE_SECRET").unwrap_or_else(|_| "double-secret".into());
    let (Some(_), Some(secret)) = (text(corpid), text(secret)) else {
        return 10000;
    };
    if sdk.is_null() || secret != want {
        return 41001;
    }
    (*sdk.cast::<Sdk>()).ready = true;
    0
}

/// # Safety
/// `sdk` comes from `NewSdk`, `out` from `NewSlice`.
#[no_mangle]
pub unsafe extern "C" fn GetChatData(
    sdk: *mut c_void,
    seq: c_ulonglong,
    limit: c_uint,
    _proxy: *const c_char,
    _passwd: *const c_char,
    _timeout: c_int,
    out: *mut Slice,
) -> c_int {
    if sdk.is_null() || !(*sdk.cast::<Sdk>()).ready {
        return 10000;
    }
    delay();
    let Some(path) = std::env::var_os("WEWORK_DOUBLE_DATA") else {
        return 10001;
    };
    let Ok(bytes) = std::fs::read(path) else {
        return 10001;
    };
    let Ok(serde_json::Value::Array(all)) = serde_json::from_slice(&bytes) else {
        return 10002;
    };
    let due: Vec<serde_json::Value> = all
        .into_iter()
        .filter(|r| r["seq"].as_u64().is_some_and(|s| s > seq))
        .take(limit.min(1000) as usize)
        .collect();
    let body = serde_json::json!({"errcode": 0, "errmsg": "ok", "chatdata": due});
    fill(out, body.to_string().into_bytes())
}

/// # Safety
/// The strings are NUL-terminated; `out` comes from `NewSlice`.
#[no_mangle]
pub unsafe extern "C" fn DecryptData(
    key: *const c_char,
    msg: *const c_char,
    out: *mut Slice,
) -> c_int {
    delay();
    let (Some(key), Some(msg)) = (text(key), text(msg)) else {
        return 10000;
    };
    match open(&key, &msg) {
        Some(plain) => fill(out, plain),
        None => 10004,
    }
}

/// # Safety
/// `sdk` comes from `NewSdk` and is destroyed once.
#[no_mangle]
pub unsafe extern "C" fn DestroySdk(sdk: *mut c_void) {
    if !sdk.is_null() {
        drop(Box::from_raw(sdk.cast::<Sdk>()));
    }
}

#[no_mangle]
pub extern "C" fn NewSlice() -> *mut Slice {
    Box::into_raw(Box::new(Slice {
        buf: std::ptr::null_mut(),
        len: 0,
    }))
}

/// # Safety
/// `s` comes from `NewSlice` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn FreeSlice(s: *mut Slice) {
    if s.is_null() {
        return;
    }
    let s = Box::from_raw(s);
    if !s.buf.is_null() {
        drop(CString::from_raw(s.buf));
    }
}

/// # Safety
/// `s` comes from `NewSlice`.
#[no_mangle]
pub unsafe extern "C" fn GetContentFromSlice(s: *mut Slice) -> *mut c_char {
    if s.is_null() {
        std::ptr::null_mut()
    } else {
        (*s).buf
    }
}

/// # Safety
/// `s` comes from `NewSlice`.
#[no_mangle]
pub unsafe extern "C" fn GetSliceLen(s: *mut Slice) -> c_int {
    if s.is_null() {
        0
    } else {
        (*s).len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_sealed_opens_with_its_key_only() {
        let s = seal("k1", "你好".as_bytes());
        assert_eq!(open("k1", &s).as_deref(), Some("你好".as_bytes()));
        assert_eq!(open("k2", &s), None);
        assert_eq!(open("k1", "not base64!"), None);
    }
}
