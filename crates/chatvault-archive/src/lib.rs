//! chatvault-archive
