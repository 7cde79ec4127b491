//! chatvault-store
