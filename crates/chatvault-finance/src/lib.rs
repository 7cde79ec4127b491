//! WeCom 会话内容存档 (chat archive) through the customer's own copy of Tencent's SDK.
//!
//! The body of each archived message is decrypted only inside Tencent's closed binary
//! SDK (`libWeWorkFinanceSdk_C.so`, Linux x86-64), which the customer downloads from
//! WeCom's admin console and may not be redistributed. chatvault never ships it: [`Sdk`]
//! loads it at run time from the path the source names (`--sdk-path`), and calls the C
//! interface its header (`WeWorkFinanceSdk_C.h`) documents:
//!
//! ```c
//! WeWorkFinanceSdk_t* NewSdk();
//! int  Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret);
//! int  GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit,
//!                  const char* proxy, const char* passwd, int timeout, Slice_t* chatDatas);
//! int  DecryptData(const char* encrypt_key, const char* encrypt_msg, Slice_t* msg);
//! void DestroySdk(WeWorkFinanceSdk_t* sdk);
//! Slice_t* NewSlice();  void FreeSlice(Slice_t* slice);
//! char* GetContentFromSlice(Slice_t* slice);  int GetSliceLen(Slice_t* slice);
//! ```
//!
//! Every return code other than 0 is an error the SDK's documentation lists (10000
//! parameter error, 10001 network error, 10002 data parse error, 10003 system error,
//! 10004 key error, …): it is passed on with its number.
//!
//! The workspace's tests load `chatvault-finance-double`, a library of our own with the
//! same interface over fixture data.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CString};
use std::path::Path;

type NewSdkFn = unsafe extern "C" fn() -> *mut c_void;
type InitFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int;
type GetChatDataFn = unsafe extern "C" fn(
    *mut c_void,
    c_ulonglong,
    c_uint,
    *const c_char,
    *const c_char,
    c_int,
    *mut c_void,
) -> c_int;
type DecryptDataFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void) -> c_int;
type DestroySdkFn = unsafe extern "C" fn(*mut c_void);
type NewSliceFn = unsafe extern "C" fn() -> *mut c_void;
type FreeSliceFn = unsafe extern "C" fn(*mut c_void);
type GetContentFn = unsafe extern "C" fn(*mut c_void) -> *mut c_char;
type GetLenFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// The SDK's functions, resolved once.
struct Fns {
    get_chat_data: GetChatDataFn,
    decrypt_data: DecryptDataFn,
    destroy: DestroySdkFn,
    new_slice: NewSliceFn,
    free_slice: FreeSliceFn,
    content: GetContentFn,
    len: GetLenFn,
}

/// One initialised SDK instance. Its calls go one at a time (`&mut self`): the SDK
/// documents no thread safety.
pub struct Sdk {
    fns: Fns,
    sdk: *mut c_void,
    // Last: the library is unloaded after the instance is destroyed (see Drop).
    _lib: libloading::Library,
}

// SAFETY: the instance is only reached through `&mut Sdk`, so one thread at a time calls
// into it; the SDK keeps no thread-local state between calls that its header mentions.
#[allow(unsafe_code)]
unsafe impl Send for Sdk {}

fn c_string(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} holds a NUL byte"))
}

impl Sdk {
    /// Loads the SDK at `path`, makes an instance and initialises it with the CorpID and
    /// the chat archive's Secret.
    #[allow(unsafe_code)]
    pub fn open(path: &Path, corp_id: &str, secret: &str) -> Result<Sdk, String> {
        let named = |e: libloading::Error| format!("{}: {e}", path.display());
        // SAFETY: loading runs the library's initialisers: the path is the SDK the admin
        // configured, trusted as the code it is.
        let lib = unsafe { libloading::Library::new(path) }.map_err(named)?;
        // SAFETY: each symbol is looked up with the signature the SDK's header declares.
        let (fns, sdk) = unsafe {
            let new_sdk: NewSdkFn = *lib.get::<NewSdkFn>(b"NewSdk\0").map_err(named)?;
            let init: InitFn = *lib.get::<InitFn>(b"Init\0").map_err(named)?;
            let fns = Fns {
                get_chat_data: *lib.get(b"GetChatData\0").map_err(named)?,
                decrypt_data: *lib.get(b"DecryptData\0").map_err(named)?,
                destroy: *lib.get(b"DestroySdk\0").map_err(named)?,
                new_slice: *lib.get(b"NewSlice\0").map_err(named)?,
                free_slice: *lib.get(b"FreeSlice\0").map_err(named)?,
                content: *lib.get(b"GetContentFromSlice\0").map_err(named)?,
                len: *lib.get(b"GetSliceLen\0").map_err(named)?,
            };
            let sdk = new_sdk();
            if sdk.is_null() {
                return Err("NewSdk returned no instance".into());
            }
            let (corp, secret) = (c_string("corp id", corp_id)?, c_string("secret", secret)?);
            let rc = init(sdk, corp.as_ptr(), secret.as_ptr());
            if rc != 0 {
                (fns.destroy)(sdk);
                return Err(format!(
                    "Init: error {rc} (check the CorpID and the chat archive Secret)"
                ));
            }
            (fns, sdk)
        };
        Ok(Sdk {
            fns,
            sdk,
            _lib: lib,
        })
    }

    /// Runs `call` with a fresh slice, then copies the slice's bytes out and frees it.
    #[allow(unsafe_code)]
    fn with_slice(
        &self,
        what: &str,
        call: impl FnOnce(*mut c_void) -> c_int,
    ) -> Result<Vec<u8>, String> {
        // SAFETY: NewSlice/FreeSlice pair around the call; the content pointer and its
        // length are read before the slice is freed, and the length is checked.
        unsafe {
            let slice = (self.fns.new_slice)();
            if slice.is_null() {
                return Err(format!("{what}: NewSlice returned nothing"));
            }
            let rc = call(slice);
            let out = if rc != 0 {
                Err(format!("{what}: error {rc}"))
            } else {
                let p = (self.fns.content)(slice);
                let n = (self.fns.len)(slice);
                match usize::try_from(n) {
                    Ok(n) if !p.is_null() => {
                        Ok(std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec())
                    }
                    Ok(0) => Ok(vec![]),
                    _ => Err(format!("{what}: a slice of length {n}")),
                }
            };
            (self.fns.free_slice)(slice);
            out
        }
    }

    /// `GetChatData`: up to `limit` (≤ 1000) records after `seq`, as the JSON the SDK
    /// returns (`{"errcode":0,"errmsg":"ok","chatdata":[…]}`).
    #[allow(unsafe_code)]
    pub fn chat_data(&mut self, seq: u64, limit: u32, timeout_s: i32) -> Result<Vec<u8>, String> {
        let empty = c_string("proxy", "")?;
        let (f, sdk) = (self.fns.get_chat_data, self.sdk);
        // SAFETY: the instance is live (destroyed only in Drop); the strings outlive the call.
        self.with_slice("GetChatData", |slice| unsafe {
            f(
                sdk,
                seq,
                limit.min(1000),
                empty.as_ptr(),
                empty.as_ptr(),
                timeout_s,
                slice,
            )
        })
    }

    /// `DecryptData`: a record's message, decrypted with its random key (already opened
    /// with the customer's private key).
    #[allow(unsafe_code)]
    pub fn decrypt(&mut self, random_key: &str, encrypted: &str) -> Result<Vec<u8>, String> {
        let (k, m) = (
            c_string("key", random_key)?,
            c_string("message", encrypted)?,
        );
        let f = self.fns.decrypt_data;
        // SAFETY: both strings outlive the call.
        self.with_slice("DecryptData", |slice| unsafe {
            f(k.as_ptr(), m.as_ptr(), slice)
        })
    }
}

impl Drop for Sdk {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the instance came from NewSdk and is destroyed once, before the library
        // (a later field) is unloaded.
        unsafe { (self.fns.destroy)(self.sdk) }
    }
}
