//! The length-prefixed binary encoding shared by the leaf and the sealed content:
//! `lp(x)` is a 4-byte big-endian length and `x`; `opt(x)` is `0x00`, or `0x01` and `lp(x)`.

/// Appends `lp(b)`.
pub fn put_lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// Appends `opt(b)`.
pub fn put_opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_lp(out, b);
        }
    }
}

/// Reads the encoding back; every error names `what` is being read.
pub struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { rest: bytes, what }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("{} is truncated", self.what));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?
            .try_into()
            .map_err(|_| format!("{} is truncated", self.what))
    }
    pub fn length(&mut self) -> Result<usize, String> {
        Ok(u32::from_be_bytes(self.arr()?) as usize)
    }
    pub fn lp(&mut self) -> Result<&'a [u8], String> {
        let n = self.length()?;
        self.take(n)
    }
    pub fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.lp()?.to_vec())
            .map_err(|_| format!("{} has a field that is not UTF-8", self.what))
    }
    pub fn opt_string(&mut self) -> Result<Option<String>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            t => Err(format!("{}: bad option tag {t}", self.what)),
        }
    }
    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} has trailing bytes", self.what))
        }
    }
}
